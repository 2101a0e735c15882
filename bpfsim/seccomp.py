"""Seccomp evaluation of a thread's filters: actions, precedence, verdicts, and what the thread sees.

Mirrors kernel/seccomp.c: ``seccomp_run_filters`` (every filter, newest first, the lowest signed
action wins, first seen among equals), ``__seccomp_filter`` (what each action does to the
calling thread), ``seccomp_attach_filter`` (the per-thread instruction budget), the flag checks
of ``seccomp_set_mode_filter``, and strict mode (``__secure_computing_strict``). Instruction
semantics are the interpreter's; nothing here executes BPF itself.
"""

from __future__ import annotations

import enum
import errno as errnos
from collections.abc import Iterable, Sequence
from dataclasses import FrozenInstanceError, dataclass

from . import abi
from .data import SeccompData
from .errors import InstallRefused, SeccompError
from .profiles import Kernel
from .insn import Instruction
from .opcodes import BPF_MAXINSNS
from .program import Program
from .target import Target
from .verifier import VerifiedProgram, verified


class Action(enum.IntEnum):
    """The kernel's actions (include/uapi/linux/seccomp.h), most severe first."""

    KILL_PROCESS = abi.SECCOMP_RET_KILL_PROCESS
    KILL_THREAD = abi.SECCOMP_RET_KILL_THREAD
    TRAP = abi.SECCOMP_RET_TRAP
    ERRNO = abi.SECCOMP_RET_ERRNO
    USER_NOTIF = abi.SECCOMP_RET_USER_NOTIF
    TRACE = abi.SECCOMP_RET_TRACE
    LOG = abi.SECCOMP_RET_LOG
    ALLOW = abi.SECCOMP_RET_ALLOW

    @classmethod
    def of(cls, ret: int, kernel: "Kernel | str | None" = None) -> "Action":
        """The action ``kernel`` (default: the newest) takes for a filter result ``ret``.

        ``__seccomp_filter`` switches on ``ret & SECCOMP_RET_ACTION_FULL``; a value that kernel
        does not know hits ``default:``, which kills the whole process like KILL_PROCESS since
        5.10 (4d671d922d51) and before that ended the thread like KILL_THREAD.
        """
        action = ret & abi.SECCOMP_RET_ACTION_FULL
        profile = Kernel.of(kernel)
        known = _known_actions(profile).get(action)
        if known is not None:
            return known
        return cls.KILL_PROCESS if profile.unknown_action_kills_process else cls.KILL_THREAD

    def __str__(self) -> str:
        return self.name


_KNOWN_ACTIONS: dict[tuple, dict[int, Action]] = {}


def _known_actions(profile: Kernel) -> dict[int, Action]:
    """The actions ``profile`` knows, by ``SECCOMP_RET_ACTION_FULL`` value: worked out once per
    kernel version, since every verdict asks (and ``Action(value)`` alone is slow)."""
    try:
        return _KNOWN_ACTIONS[profile.version]
    except KeyError:
        known = {a.value: a for a in Action if profile.knows_action(a.value)}
        _KNOWN_ACTIONS[profile.version] = known
        return known


_ERRNO = Action.ERRNO
_ACTION_FULL, _RET_DATA, _MAX_ERRNO = abi.SECCOMP_RET_ACTION_FULL, abi.SECCOMP_RET_DATA, abi.MAX_ERRNO


def precedence(ret: int) -> int:
    """kernel/seccomp.c ``ACTION_ONLY``: ``(s32)(ret & SECCOMP_RET_ACTION_FULL)``; lower wins."""
    action = ret & abi.SECCOMP_RET_ACTION_FULL
    return action - (1 << 32) if action & 0x80000000 else action


_ALLOW_RANK = precedence(abi.SECCOMP_RET_ALLOW)


def is_known_action(ret: int) -> bool:
    return ret & abi.SECCOMP_RET_ACTION_FULL in abi.ACTION_NAMES


@dataclass(frozen=True, slots=True)
class SigInfo:
    """The SIGSYS siginfo a TRAP delivers (kernel/signal.c ``force_sig_seccomp``)."""

    si_signo: int
    si_code: int
    si_errno: int
    si_syscall: int
    si_arch: int
    si_call_addr: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the calling thread observes (``__seccomp_filter``, kernel/seccomp.c).

    ``runs``: the system call executes (``None`` when a tracer or supervisor decides).
    ``retval``/``errno``: what the call returns when it does not run (``retval`` in the kernel's
    convention, ``-errno`` or a value). ``signal``/``killed``/``core_dump``: a fatal signal and
    whether it takes the ``"thread"`` or the ``"process"``. ``siginfo`` for TRAP,
    ``trace_message`` for a TRACE stop, ``listener`` the filter whose listener is notified.
    """

    runs: bool | None
    retval: int | None = None
    errno: int | None = None
    signal: int | None = None
    killed: str | None = None
    core_dump: bool = False
    siginfo: SigInfo | None = None
    trace_message: int | None = None
    listener: int | None = None
    description: str = ""

    def __str__(self) -> str:
        return self.description


_new = object.__new__
_set = object.__setattr__


def _field(index: int) -> property:
    """A read-only attribute kept at ``index`` of a Verdict's field tuple."""
    return property(lambda self: self._fields[index])


class Verdict:
    """The result of one system call against a thread's filters.

    ``ret`` is the chosen 32-bit value as its filter returned it, ``data`` its low 16 bits,
    ``filter`` the install-order index of that filter (``None`` when no filter decided: the
    call bypassed the filters, or strict mode decided). ``errno`` is set for ERRNO only.
    ``arch`` is the call's AUDIT_ARCH value, which names its errno (89 is ENOSYS on mips).
    ``returns`` holds every filter's value in install order. ``outcome`` (what the thread sees)
    and ``reason`` (why) are worked out when first read: a test suite or a fuzzer asks for
    verdicts far more often than it reads them. Immutable; equal when action, data, ret, errno
    and filter are.
    """

    # One tuple holds the fields, set once: an object is built per evaluate() call, and each
    # attribute set on an immutable object costs a call.
    __slots__ = ("_fields", "_outcome", "_reason")

    def __init__(self, action: Action, data: int, ret: int, errno: int | None, filter: int | None,
                 outcome: Outcome, returns: tuple[int, ...] = (), reason: str = "", arch: int | None = None):
        _set(self, "_fields", (action, data, ret, errno, filter, returns, arch, None))
        _set(self, "_outcome", outcome)
        _set(self, "_reason", reason)

    @classmethod
    def _judged(cls, ret: int, index: int | None, returns: tuple[int, ...], call: tuple) -> "Verdict":
        """The verdict of ``evaluate``: only what equality needs is computed now. ``call`` is
        ``(data, kernel, tracer, listener, threads, after_trace, bypass)`` for the outcome and the reason."""
        self = _new(cls)
        action = _known_actions(call[1]).get(ret & _ACTION_FULL)
        if action is None:  # an unknown action: the kernel version decides
            action = Action.of(ret, call[1])
        value = ret & _RET_DATA
        errno = (value if value < _MAX_ERRNO else _MAX_ERRNO) if action is _ERRNO else None
        _set(self, "_fields", (action, value, ret, errno, index, returns, call[0].arch, call))
        return self

    action: Action = _field(0)  # type: ignore[assignment]
    data: int = _field(1)  # type: ignore[assignment]
    ret: int = _field(2)  # type: ignore[assignment]
    errno: int | None = _field(3)  # type: ignore[assignment]
    filter: int | None = _field(4)  # type: ignore[assignment]
    returns: tuple[int, ...] = _field(5)  # type: ignore[assignment]
    arch: int | None = _field(6)  # type: ignore[assignment]

    @property
    def outcome(self) -> Outcome:
        try:
            return self._outcome
        except AttributeError:
            data, _, tracer, listener, threads, after_trace, _ = self._fields[7]
            outcome = _outcome(self.action, self.ret, self.filter, data, tracer=tracer, listener=listener,
                               threads=threads, after_trace=after_trace)
            _set(self, "_outcome", outcome)
            return outcome

    @property
    def reason(self) -> str:
        try:
            return self._reason
        except AttributeError:
            bypass, kernel = self._fields[7][6], self._fields[7][1]
            if bypass:
                reason = f"{bypass} bypasses every filter (Linux {kernel})"
            elif self.filter is None:
                reason = "every filter allowed the call"
            else:
                reason = (f"filter {self.filter} returned {abi.describe_return(self.ret)}, the most severe "
                          "action (newest filter first, ties go to the newest)")
            _set(self, "_reason", reason)
            return reason

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other) -> bool:
        if other.__class__ is not Verdict:
            return NotImplemented
        return self._fields[:5] == other._fields[:5]

    def __hash__(self) -> int:
        return hash(self._fields[:5])

    def __reduce__(self):
        return (Verdict, (self.action, self.data, self.ret, self.errno, self.filter, self.outcome, self.returns,
                          self.reason, self.arch))

    @property
    def known_action(self) -> bool:
        return is_known_action(self.ret)

    def as_dict(self) -> dict:
        return {"action": self.action.name, "data": self.data, "errno": self.errno, "ret": self.ret,
                "filter": self.filter}

    def __str__(self) -> str:
        if self.filter is None:
            source = "no filter ran" if not self.returns else "every filter allowed it"
            return f"{abi.describe_return(self.ret)} ({source}), ret {self.ret:#010x}"
        return f"{abi.describe_return(self.ret)} from filter {self.filter}, ret {self.ret:#010x}"

    def __repr__(self) -> str:
        parts = [self.action.name]
        if self.errno is not None:
            parts.append(f"errno={self.errno} {abi.errno_name(self.errno, self.arch)}" if self.errno
                         else "errno=0 (returns 0)")
        elif self.action in (Action.TRAP, Action.TRACE) or (self.data and self.known_action):
            parts.append(f"data={self.data}")
        if not self.known_action:
            parts.append(f"unknown ret={self.ret:#010x}")
        parts.append(f"filter={self.filter}")
        return "Verdict(" + ", ".join(parts) + ")"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _kernel_enosys(data: SeccompData) -> int:
    """The kernel's own ENOSYS, which is its arch's (tools/gen_errnos.py): 89 on mips."""
    return abi.errno_number("ENOSYS", data.arch)


_X86_ARCHES = frozenset({abi.arch_info("x86_64").value, abi.arch_info("i386").value})


def _after_trap_handler(data: SeccompData) -> str:
    """What a SIGSYS handler that returns finds: the registers rolled back as at entry by the
    arch's ``syscall_rollback``, which on x86 leaves the syscall number in the return register
    (arch/x86/include/asm/syscall.h: ``regs->ax = regs->orig_ax``)."""
    if data.arch in _X86_ARCHES:
        return "a returning handler sees the call return its own number"
    return "a returning handler finds the registers rolled back as at entry (the arch's syscall_rollback)"


def _outcome(action: Action, ret: int, filter_index: int | None, data: SeccompData, *, tracer: bool,
             listener: int | None, threads: int, after_trace: bool) -> Outcome:
    """kernel/seccomp.c:__seccomp_filter, one case per action."""
    value = ret & abi.SECCOMP_RET_DATA
    if action == Action.ERRNO:
        err = min(value, abi.MAX_ERRNO)  # "Set low-order bits as an errno, capped at MAX_ERRNO."
        text = (f"fails with errno {err} ({abi.errno_name(err, data.arch)})" if err
                else "returns 0 without running (ERRNO with data 0)")
        return Outcome(False, -err, err, description=text)
    if action == Action.TRAP:
        info = SigInfo(abi.SIGSYS, abi.SYS_SECCOMP, value, data.nr, data.arch, data.instruction_pointer)
        return Outcome(False, signal=abi.SIGSYS, siginfo=info,
                       description=f"SIGSYS (si_code SYS_SECCOMP, si_errno {value}) to the thread; "
                                   f"{_after_trap_handler(data)}")
    if action == Action.TRACE:
        if after_trace:  # "We've been put in this state by the ptracer already."
            return Outcome(True, description="runs: on the recheck after a TRACE stop, TRACE lets the call run")
        if not tracer:
            enosys = _kernel_enosys(data)
            return Outcome(False, -enosys, enosys,
                           description="fails with ENOSYS: no tracer asked for PTRACE_EVENT_SECCOMP")
        return Outcome(None, trace_message=value,
                       description=f"PTRACE_EVENT_SECCOMP stop, event message {value}; when the tracer "
                                   "resumes the call, the filters judge it again (evaluate with after_trace)")
    if action == Action.USER_NOTIF:
        if listener is None or listener != filter_index:
            enosys = _kernel_enosys(data)
            return Outcome(False, -enosys, enosys,
                           description="fails with ENOSYS: the deciding filter has no listener")
        return Outcome(None, listener=listener,
                       description=f"notification to the listener of filter {listener}; the supervisor decides")
    if action in (Action.ALLOW, Action.LOG):
        return Outcome(True, description="runs" + (" and is logged" if action == Action.LOG else ""))
    # KILL_THREAD, KILL_PROCESS and unknown actions.
    # KILL_THREAD, and before 5.10 an unknown action too, ends only the calling thread.
    name = ("KILL_THREAD" if ret & abi.SECCOMP_RET_ACTION_FULL == 0 else
            "KILL_PROCESS" if action == Action.KILL_PROCESS and is_known_action(ret) else f"unknown action {ret:#010x}")
    if action == Action.KILL_THREAD and threads > 1:
        return Outcome(False, signal=abi.SIGSYS, killed="thread",
                       description=f"{name}: the thread exits (do_exit(SIGSYS)); the other threads go on")
    if action == Action.KILL_THREAD:
        name += " in the last thread"
    return Outcome(False, signal=abi.SIGSYS, killed="process", core_dump=True,
                   description=f"{name}: the process dies of SIGSYS with a core dump")


def evaluate(filters: Sequence, data: SeccompData, *, kernel: Kernel | str | None = None, tracer: bool = False,
             listener: int | None = None, threads: int = 1, after_trace: bool = False) -> Verdict:
    """The verdict for ``data`` of ``filters`` attached in this order (oldest first), on ``kernel``
    (a ``Kernel`` or a version string; default: the newest bpfsim models).

    ``tracer``: a ptracer set PTRACE_O_TRACESECCOMP. ``listener``: install-order index of the
    filter holding a user-notification listener. ``threads``: live threads in the process
    (KILL_THREAD kills the whole process when the caller is the last one). ``after_trace``:
    this is the kernel's recheck when a tracer resumes a call stopped by TRACE, with ``data``
    the call as the tracer left it (it may have changed the number and the arguments); TRACE
    then lets it run. A tracer that set a negative number skipped the call: nothing is rechecked.
    """
    programs = [verified(f) for f in filters]
    if not programs:
        raise SeccompError(errnos.EINVAL, "no filter is attached; a thread without filters is not filtered")
    return _judge(programs, data, Kernel.of(kernel), tracer, listener, threads, after_trace)


def _judge(programs: list[VerifiedProgram], data: SeccompData, profile: Kernel, tracer: bool, listener: int | None,
           threads: int, after_trace: bool) -> Verdict:
    """``evaluate`` on verified programs: the path every verdict takes, kept short."""
    if after_trace and data.nr < 0:
        raise ValueError(f"nr {data.nr} after a TRACE stop: the tracer skipped the call, and the filters "
                         "do not run again (kernel/seccomp.c:__seccomp_filter)")
    bypass = profile.unfiltered_calls(data.target).get(data.nr)  # kernel/seccomp.c:seccomp_uprobe_exception
    if bypass:
        return Verdict._judged(abi.SECCOMP_RET_ALLOW, None, (), (data, profile, tracer, listener, threads, after_trace,
                                                                 bypass))
    # kernel/seccomp.c:seccomp_run_filters: "All filters in the list are evaluated and the
    # lowest BPF return value always takes priority (ignoring the DATA)."
    words = data.words()
    result, match, best = abi.SECCOMP_RET_ALLOW, None, _ALLOW_RANK
    returns = [0] * len(programs)
    for index in range(len(programs) - 1, -1, -1):
        current = returns[index] = programs[index].function(words)
        rank = precedence(current)
        if rank < best:
            result, match, best = current, index, rank
    return Verdict._judged(result, match, tuple(returns), (data, profile, tracer, listener, threads, after_trace, None))


_FLAG_TSYNC = abi.SECCOMP_FILTER_FLAG_TSYNC
_FLAG_LISTENER = abi.SECCOMP_FILTER_FLAG_NEW_LISTENER
_INSTALL_CALLS = ("seccomp", "prctl")
_PRCTL_MODES = {abi.SECCOMP_SET_MODE_FILTER: abi.SECCOMP_MODE_FILTER,
                abi.SECCOMP_SET_MODE_STRICT: abi.SECCOMP_MODE_STRICT}


class FilterChain:
    """The filters attached to one thread, with seccomp(2)'s rules for attaching more.

    ``kernel``: the kernel version modelled (a ``Kernel`` or a version string; default: the
    newest), which decides the known flags and the verdicts. ``arch``: the thread's architecture. When it is given, each attach (or strict-mode switch) is
    first made as a system call, seccomp(2) or prctl(2), through the filters already attached,
    and fails as the kernel's entry code would make it fail (``InstallRefused``). Without it the
    install calls are not judged, which suits stacks of filters for another machine.
    ``no_new_privs``/``cap_sys_admin``: seccomp_prepare_filter needs one of them (else EACCES).
    """

    def __init__(self, filters: Iterable = (), *, threads: int = 1, arch: str | int | None = None,
                 kernel: Kernel | str | None = None, no_new_privs: bool = True, cap_sys_admin: bool = False):
        self._filters: list[Program] = []
        self._checked: list[VerifiedProgram] = []  # the same filters, as evaluate runs them
        self._flags: list[int] = []
        self._listener: int | None = None
        self._path_length = 0
        self.strict = False
        self.threads = threads
        self.kernel = Kernel.of(kernel)
        self.arch = None if arch is None else Target.of(arch)  # an unknown arch fails here, not at the second attach
        self.no_new_privs = no_new_privs
        self.cap_sys_admin = cap_sys_admin
        for prog in filters:
            self.attach(prog)

    def __len__(self) -> int:
        return len(self._filters)

    def __iter__(self):
        return iter(self._filters)

    def __getitem__(self, index: int) -> Program:
        return self._filters[index]

    @property
    def flags(self) -> tuple[int, ...]:
        return tuple(self._flags)

    @property
    def listener(self) -> int | None:
        """Index of the filter that got a listener (SECCOMP_FILTER_FLAG_NEW_LISTENER)."""
        return self._listener

    def path_length(self) -> int:
        """What ``seccomp_attach_filter`` adds up: converted lengths plus 4 per filter."""
        return self._path_length

    def attach(self, prog, flags: int = 0, *, via: str = "seccomp") -> int | None:
        """Attach ``prog`` as seccomp(SECCOMP_SET_MODE_FILTER, flags) would, or with ``via="prctl"``
        as prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) would (it has no flags); return the new
        listener's filter index with NEW_LISTENER, else ``None``.

        Checks in the order of ``seccomp_set_mode_filter`` (kernel/seccomp.c), after the call
        itself has passed the attached filters (see ``arch``); the program's own checks raise
        ``VerifyError``. Not modelled: TSYNC's other threads.
        """
        if via == "prctl" and flags:
            raise ValueError("prctl(PR_SET_SECCOMP) has no flags; attach with via='seccomp'")
        prog = prog.program if isinstance(prog, VerifiedProgram) else Program.of(prog)
        self._judge_install_call(via, abi.SECCOMP_SET_MODE_FILTER, flags)
        if flags & ~self.kernel.filter_flags:
            unknown = flags & ~self.kernel.filter_flags
            names = "|".join(n for bit, n in abi.FILTER_FLAG_NAMES.items() if unknown & bit)
            raise SeccompError(errnos.EINVAL, f"unknown filter flags {unknown:#x}"
                                              + (f" ({names} is newer than Linux {self.kernel})" if names else ""))
        if flags & _FLAG_TSYNC and flags & _FLAG_LISTENER and not flags & abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
            raise SeccompError(errnos.EINVAL, "TSYNC with NEW_LISTENER needs TSYNC_ESRCH")
        if flags & abi.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and not flags & _FLAG_LISTENER:
            raise SeccompError(errnos.EINVAL, "WAIT_KILLABLE_RECV needs NEW_LISTENER")
        if not (self.no_new_privs or self.cap_sys_admin) and 0 < len(prog) <= BPF_MAXINSNS:
            # seccomp_prepare_filter: after its length test, before the program is checked.
            raise SeccompError(errnos.EACCES, "installing a filter needs no_new_privs or CAP_SYS_ADMIN")
        checked = verified(prog)  # seccomp_prepare_user_filter → seccomp_prepare_filter
        if self.strict:
            raise SeccompError(errnos.EINVAL, "the thread is in strict mode (seccomp_may_assign_mode); "
                                              "an unsuspended strict thread is killed by the call itself")
        if flags & _FLAG_LISTENER and self.listener is not None:
            raise SeccompError(errnos.EBUSY, f"filter {self.listener} already has a listener (has_duplicate_listener)")
        length = checked.converted_length
        total = length + self._path_length
        if total > self.kernel.max_insns_per_path:
            raise SeccompError(errnos.ENOMEM, f"{total} instructions on the path would exceed "
                                              f"MAX_INSNS_PER_PATH ({self.kernel.max_insns_per_path}) (seccomp_attach_filter)")
        self._filters.append(prog)
        self._checked.append(checked)
        self._flags.append(flags)
        self._path_length += length + self.kernel.filter_path_penalty
        if flags & _FLAG_LISTENER:
            self._listener = len(self._filters) - 1
        return self._listener if flags & _FLAG_LISTENER else None

    def set_mode_strict(self, *, via: str = "seccomp") -> None:
        """seccomp(SECCOMP_SET_MODE_STRICT) or prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT): refused
        with EINVAL once filters are attached (after the call itself passed them)."""
        self._judge_install_call(via, abi.SECCOMP_SET_MODE_STRICT, 0)
        if self._filters:
            raise SeccompError(errnos.EINVAL, "the thread is in filter mode; strict mode cannot be entered")
        self.strict = True

    def _judge_install_call(self, via: str, operation: int, flags: int) -> None:
        """The syscall entry's check of the install call by the filters already attached (or
        strict mode). The sock_fprog pointer the filters would see is shown to them as 0; a
        tracer or supervisor that the call is handed to is taken to let it run."""
        if via not in _INSTALL_CALLS:
            raise ValueError(f"via must be one of {', '.join(_INSTALL_CALLS)}, not {via!r}")
        if self.arch is None or not (self._filters or self.strict):
            return
        if via == "seccomp":
            call = SeccompData("seccomp", self.arch, 0, (operation, flags, 0))
            shown = f"seccomp({'SECCOMP_SET_MODE_FILTER' if operation else 'SECCOMP_SET_MODE_STRICT'}, {flags:#x})"
        else:
            mode = _PRCTL_MODES[operation]
            call = SeccompData("prctl", self.arch, 0, (abi.PR_SET_SECCOMP, mode, 0))
            shown = f"prctl(PR_SET_SECCOMP, {'SECCOMP_MODE_FILTER' if operation else 'SECCOMP_MODE_STRICT'})"
        verdict = self.evaluate(call)
        if verdict.outcome.runs is False:
            raise InstallRefused(verdict, shown)

    def evaluate(self, data: SeccompData, *, tracer: bool = False, after_trace: bool = False) -> Verdict:
        if self.strict:
            return strict_verdict(data, kernel=self.kernel)
        if not self._checked:
            return evaluate(self._filters, data)  # refused as evaluate refuses an empty stack
        return _judge(self._checked, data, self.kernel, tracer, self._listener, self.threads, after_trace)

    def __repr__(self) -> str:
        if self.strict:
            return "<FilterChain strict mode>"
        lines = [f"<FilterChain {len(self)} filters, path length {self.path_length()}/{self.kernel.max_insns_per_path}>"]
        for i, (prog, flags) in enumerate(zip(self._filters, self._flags)):
            names = "|".join(n for bit, n in abi.FILTER_FLAG_NAMES.items() if flags & bit)
            origin = f" from {prog.name}" if prog.name else ""
            lines.append(f"  filter {i}: {len(prog)} instructions{origin}" + (f" [{names}]" if names else ""))
        return "\n".join(lines)


def strict_syscalls(arch, kernel: Kernel | str | None = None) -> frozenset[int]:
    """The calls strict mode allows (``mode1_syscalls``, kernel/seccomp.c, with the arch's
    asm/seccomp.h): read, write, exit and the sigreturn; on x86_64 the uretprobe and uprobe
    calls where ``kernel`` lets them bypass the filters; i386 (the x86 compat table) uses
    sigreturn where the others use rt_sigreturn."""
    from .syscalls import syscall_number
    target = Target.of(arch)
    sigreturn = "sigreturn" if target.arch.name == "i386" else "rt_sigreturn"
    numbers = {syscall_number(name, target.arch) for name in ("read", "write", "exit", sigreturn)}
    return frozenset(numbers | set(Kernel.of(kernel).unfiltered_calls(Target(target.arch))))


def strict_verdict(data: SeccompData, *, kernel: Kernel | str | None = None) -> Verdict:
    """kernel/seccomp.c:__secure_computing_strict: anything else ends the thread with SIGKILL.

    It compares the number alone, so an x32 call (number with the x32 bit) is never allowed.
    """
    if data.nr in strict_syscalls(data.arch, kernel):
        outcome = Outcome(True, description="runs (allowed in strict mode)")
        return Verdict(Action.ALLOW, 0, abi.SECCOMP_RET_ALLOW, None, None, outcome, (), "strict mode allows it")
    outcome = Outcome(False, signal=abi.SIGKILL, killed="thread",
                      description="strict mode: do_exit(SIGKILL), logged as KILL_THREAD")
    return Verdict(Action.KILL_THREAD, 0, abi.SECCOMP_RET_KILL_THREAD, None, None, outcome, (),
                   "strict mode forbids it")
