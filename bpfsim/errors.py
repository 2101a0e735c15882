"""bpfsim's exceptions: one base class and four kinds, each carrying structured fields.

Foreign errors (struct.error, UnicodeDecodeError, pyelftools' ELFError, OSError) are translated
into these at the one boundary of each input format, so callers catch ``BpfsimError`` only.
"""

from __future__ import annotations


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
    """seccomp(2)'s own errnos (EINVAL, ENOMEM, EFAULT, ...) are numbered alike on every arch."""
    from .abi import errno_name  # abi imports this module
    return errno_name(number)


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
