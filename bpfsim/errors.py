"""bpfsim's exceptions, all of them: one base class and its kinds, each carrying structured fields.

Foreign errors (struct.error, UnicodeDecodeError, pyelftools' ELFError, OSError) are translated
into these at the one boundary of each input format, so callers catch ``BpfsimError`` only.
The modules that raise them re-export the names users import from there (``abi.UnknownArchError``,
``seccomp.InstallRefused``, ``kernel.KernelError``, ...).
"""

from __future__ import annotations


# Said by every reader that finds several filters in one file: how each front end names one.
NAMING_ONE_FILTER = "FILE:SYMBOL or --symbol NAME on the command line, symbol= from Python"


class BpfsimError(Exception):
    """Base class of every error bpfsim raises on purpose."""


class FormatError(BpfsimError, ValueError):
    """Input that is not a filter in the format it claims to be.

    ``source`` names the file (or ``"<bytes>"``/``"<string>"``), ``line`` is a 1-based line
    number for text formats or ``None``, and ``offset`` a byte offset for binary formats.
    """

    def __init__(self, source: str | None, line: int | None, message: str, *, offset: int | None = None):
        self.source = source
        self.line = line
        self.offset = offset
        self.message = message
        super().__init__(self._render())

    def _where(self) -> str:
        where = self.source or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        if self.offset is not None:
            where += f" (offset {self.offset})"
        return where

    def _render(self) -> str:
        return f"{self._where()}: {self.message}"


class AsmError(FormatError):
    """Assembler text that does not parse; adds a 1-based ``column`` when it is known."""

    def __init__(self, source: str | None, line: int | None, message: str, *, column: int | None = None):
        self.column = column
        super().__init__(source, line, message)

    def _where(self) -> str:
        where = super()._where()
        if self.column is not None:
            where += f":{self.column}"
        return where


def _errno_name(number: int) -> str:
    """seccomp(2)'s own errnos (EINVAL, ENOMEM, EFAULT, ...) are numbered alike on every arch, so
    the generic header's first name for the number is theirs. Read from the generated table
    itself: abi, which names errnos per arch, imports this module."""
    from ._errnos import ERRNOS
    return next((name for name, value in ERRNOS["generic"].items() if value == number), str(number))


class VerifyError(BpfsimError):
    """A program that seccomp(SECCOMP_SET_MODE_FILTER) refuses at load time.

    ``errno`` is what the kernel returns, ``pc`` the offending instruction (``None`` for
    whole-program checks such as the length), ``insn`` that instruction when there is one.
    """

    def __init__(self, errno: int, pc: int | None, message: str, *, insn=None, check: str | None = None):
        self.errno = errno
        self.pc = pc
        self.insn = insn
        self.check = check
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = "" if self.pc is None else f"pc {self.pc}: "
        shown = "" if self.insn is None else f" [{self.insn}]"
        return f"{_errno_name(self.errno)}: {where}{self.message}{shown}"


class SeccompError(BpfsimError):
    """seccomp(2) refusing an operation on a thread (attach, mode change), with its errno."""

    def __init__(self, errno: int, message: str):
        self.errno = errno
        self.message = message
        super().__init__(f"{_errno_name(errno)}: {message}")


class UnknownArchError(BpfsimError, ValueError):
    """An architecture name or number bpfsim does not know."""


class UnknownSyscallError(BpfsimError, LookupError):
    """A syscall name that the arch's table does not have; ``suggestions`` are close names."""

    def __init__(self, name: str, arch: str, suggestions: tuple[str, ...] = ()):
        self.name = name
        self.arch = arch
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no syscall named {name!r} on {arch}{hint}")


class UnknownKernelError(BpfsimError, ValueError):
    """A kernel version that does not parse, or that bpfsim does not model."""


class InstallRefused(SeccompError):
    """The seccomp() or prctl() call that would attach a filter (or enter strict mode) was
    itself answered by the filters already attached, as every call of the thread is.

    ``verdict`` is their verdict on that call; ``errno`` is what the call returned, or ``None``
    when it did not return (the thread was killed or got SIGSYS).
    """

    def __init__(self, verdict, call: str):
        self.verdict = verdict
        self.errno = verdict.outcome.errno
        decider = "no filter" if verdict.filter is None else f"filter {verdict.filter}"
        self.message = f"the {call} call itself is answered by {decider}: {verdict.outcome}"
        BpfsimError.__init__(self, self.message)  # the errno, if any, is named in the outcome


class ThreadSyncFailed(SeccompError):
    """seccomp(SECCOMP_FILTER_FLAG_TSYNC) returned ``tid``, a positive thread id: that sibling
    has filters that are not an ancestor of the caller's, or is in strict mode
    (kernel/seccomp.c:seccomp_can_sync_threads). Nothing was attached anywhere."""

    def __init__(self, tid: int):
        self.tid = tid
        self.errno = None
        self.message = f"TSYNC failed: thread {tid} cannot be synchronized (the call returns {tid})"
        BpfsimError.__init__(self, self.message)


class KernelError(BpfsimError):
    """The oracle could not ask the kernel: no such thread, no privilege, helper failure, timeout,
    or a lab guest that is not fetched or did not boot."""

    def __init__(self, errno: int, message: str):
        self.errno = errno
        self.message = message
        super().__init__(f"{_errno_name(errno)}: {message}")


class KernelInstallError(SeccompError):
    """seccomp(2) refused filter ``index`` (install order) of a stack with ``errno``.

    ``suspended``: the stack was installed under PTRACE_O_SUSPEND_SECCOMP, so the errno is the
    kernel's verdict on that filter; otherwise an earlier filter may have answered the seccomp()
    call itself, and ``blocked`` names the signal when an earlier filter killed the installing
    thread (``errno`` is then 0). ``guarded``: the oracle's guard filter was underneath, which
    takes 9 from the per-thread instruction budget (ENOMEM).
    """

    def __init__(self, errno: int, index: int, *, guarded: bool = False, blocked: int | None = None,
                 suspended: bool = True):
        self.index = index
        self.guarded = guarded
        self.blocked = blocked
        self.suspended = suspended
        what = f"killed by signal {blocked}" if blocked else "refused"
        notes = [] if suspended else ["installed in order, an earlier filter may have answered"]
        if guarded:
            notes.append("guard underneath")
        super().__init__(errno, f"filter {index} {what}" + (f" ({'; '.join(notes)})" if notes else ""))


class DebuggerError(BpfsimError, ValueError):
    """A debugger request that does not make sense (unknown pc, unparsable condition)."""


class OutputError(BpfsimError):
    """An output file that could not be written, or that may not be: ``path`` names it.

    Whatever the cause, the file that was there before is left as it was.
    """

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")
