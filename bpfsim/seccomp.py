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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from . import abi
from .data import SeccompData
from .errors import BpfsimError, InstallRefused, SeccompError, ThreadSyncFailed, VerifyError
from .profiles import DEFAULT as _DEFAULT_KERNEL, MAYBE_UNFILTERED as _MAYBE_UNFILTERED, Kernel
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


_DEFAULT_ACTIONS = _known_actions(_DEFAULT_KERNEL)
_ERRNO = Action.ERRNO
_ACTION_FULL, _RET_DATA, _MAX_ERRNO = abi.SECCOMP_RET_ACTION_FULL, abi.SECCOMP_RET_DATA, abi.MAX_ERRNO
_RET_ALLOW = abi.SECCOMP_RET_ALLOW


def precedence(ret: int) -> int:
    """kernel/seccomp.c ``ACTION_ONLY``: ``(s32)(ret & SECCOMP_RET_ACTION_FULL)``; lower wins."""
    action = ret & abi.SECCOMP_RET_ACTION_FULL
    return action - (1 << 32) if action & 0x80000000 else action


# precedence(ret) < precedence(other) exactly when the action bits, sign bit flipped, compare so
# unsigned: the key _judge ranks by without a branch.
_SIGN = 0x80000000
_ALLOW_KEY = abi.SECCOMP_RET_ALLOW ^ _SIGN


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


def _field(index: int) -> property:
    """A read-only attribute kept at ``index`` of a Verdict's field tuple."""
    return property(lambda self: self._fields[index])


def _capped_errno(ret: int) -> int:
    """The errno an ERRNO value makes the call fail with (__seccomp_filter): "Set low-order bits
    as an errno, capped at MAX_ERRNO." """
    value = ret & _RET_DATA
    return value if value < _MAX_ERRNO else _MAX_ERRNO


class Verdict:
    """The result of one system call against a thread's filters.

    ``ret`` is the chosen 32-bit value as its filter returned it, ``data`` its low 16 bits,
    ``filter`` the install-order index of that filter (``None`` when no filter decided: the
    call bypassed the filters, or strict mode decided). ``errno`` is set for ERRNO only.
    ``arch`` is the call's AUDIT_ARCH value, which names its errno (89 is ENOSYS on mips).
    ``returns`` holds every filter's value in install order. ``outcome`` (what the thread sees)
    and ``reason`` (why) are worked out when first read: a test suite or a fuzzer asks for
    verdicts far more often than it reads them. Immutable (its fields are read-only
    properties); equal when action, ret and filter are (data and errno follow from them).
    """

    # ``_fields`` is one tuple, set once: (action, ret, filter, returns, arch) and, for a
    # verdict of evaluate(), what its outcome and reason are worked out from: (data, kernel,
    # tracer, listener, threads, after_trace, bypass). No __setattr__ guards it (read-only
    # properties do): evaluate() builds a verdict per call, and a guarded object can only be
    # filled in through object.__setattr__, a call per attribute.
    __slots__ = ("_fields", "_outcome", "_reason")

    def __init__(self, action: Action, ret: int, filter: int | None, outcome: Outcome, reason: str,
                 returns: tuple[int, ...] = (), arch: int | None = None):
        self._fields: tuple = (action, ret, filter, returns, arch)
        self._outcome = outcome
        self._reason = reason

    action: Action = _field(0)  # type: ignore[assignment]
    ret: int = _field(1)  # type: ignore[assignment]
    filter: int | None = _field(2)  # type: ignore[assignment]
    returns: tuple[int, ...] = _field(3)  # type: ignore[assignment]
    arch: int | None = _field(4)  # type: ignore[assignment]

    @property
    def data(self) -> int:
        return self._fields[1] & _RET_DATA

    @property
    def errno(self) -> int | None:
        return _capped_errno(self._fields[1]) if self._fields[0] is _ERRNO else None

    @property
    def outcome(self) -> Outcome:
        try:
            return self._outcome
        except AttributeError:
            data, _, tracer, listener, threads, after_trace, _ = self._fields[5:]
            self._outcome = _outcome(self.action, self.ret, self.filter, data, tracer=tracer, listener=listener,
                                     threads=threads, after_trace=after_trace)
            return self._outcome

    @property
    def reason(self) -> str:
        try:
            return self._reason
        except AttributeError:
            kernel, bypass = self._fields[6], self._fields[11]
            if bypass:
                self._reason = f"{bypass} bypasses every filter (Linux {kernel})"
            elif self.filter is None:
                self._reason = "every filter allowed the call"
            else:
                self._reason = (f"filter {self.filter} returned {abi.describe_return(self.ret)}, the most severe "
                                "action (newest filter first, ties go to the newest)")
            return self._reason

    def __eq__(self, other) -> bool:
        if other.__class__ is not Verdict:
            return NotImplemented
        return self._fields[:3] == other._fields[:3]

    def __hash__(self) -> int:
        return hash(self._fields[:3])

    def __reduce__(self):
        return (Verdict, (self.action, self.ret, self.filter, self.outcome, self.reason, self.returns, self.arch))

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


_S390_ARCHES = frozenset({abi.arch_info("s390x").value, abi.arch_info("s390").value})


def _after_trap_handler(data: SeccompData) -> str:
    """What a SIGSYS handler that returns finds in the return register (``trap_return_value``)."""
    if data.arch in _X86_ARCHES:
        return "a returning handler sees the call return its own number"
    if data.arch in _S390_ARCHES:
        return "a returning handler sees the call fail with ENOSYS"
    return "a returning handler sees the call return its first argument (the registers rolled back as at entry)"


def trap_return_value(data: SeccompData, register: int) -> int:
    """The return register after TRAP, as a SIGSYS handler that returns leaves it. The arch's
    ``syscall_rollback`` restores the register the call returns in as it was at entry: x86's
    held the number (arch/x86/include/asm/syscall.h: ``ax = orig_ax``; ``register`` is the whole
    number register), arm64's and the other arches' the first argument (``regs[0] = orig_x0``);
    s390's ``__do_syscall`` then sets gpr2 to -ENOSYS because the entry work skipped the call
    (arch/s390/kernel/syscall.c). Kernel-checked on x86_64, aarch64 and s390x lab guests."""
    if data.arch in _X86_ARCHES:
        return register
    if data.arch in _S390_ARCHES:
        return -_kernel_enosys(data)
    first = data.args[0]
    return first - (1 << 64) if first >> 63 else first


def _outcome(action: Action, ret: int, filter_index: int | None, data: SeccompData, *, tracer: bool,
             listener: int | None, threads: int, after_trace: bool) -> Outcome:
    """kernel/seccomp.c:__seccomp_filter, one case per action."""
    value = ret & abi.SECCOMP_RET_DATA
    if action == Action.ERRNO:
        err = _capped_errno(ret)
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
    No filters is an unfiltered thread: every call runs (``seccomp_run_filters`` starts from ALLOW).
    """
    functions = []
    for f in filters:
        try:  # a Program keeps its verified form (verifier.verified): read it, without a call
            checked = f._verified
        except AttributeError:
            checked = None
        if checked is None:
            checked = verified(f)
        functions.append(checked._function or checked.function)
    if kernel is None:
        return _judge(functions, data, _DEFAULT_KERNEL, _DEFAULT_ACTIONS, tracer, listener, threads, after_trace)
    profile = Kernel.of(kernel)
    return _judge(functions, data, profile, _known_actions(profile), tracer, listener, threads, after_trace)


def _judge(functions: Sequence[Callable[[Sequence[int]], int]], data: SeccompData, profile: Kernel,
           actions: dict[int, Action], tracer: bool, listener: int | None, threads: int, after_trace: bool) -> Verdict:
    """``evaluate`` on the filters' compiled functions, in install order, with ``actions`` the
    profile's ``_known_actions``: the path every verdict takes, kept to one call. Only what
    equality needs is computed here; the call is kept for the outcome and the reason."""
    nr = data.nr
    if after_trace and nr < 0:
        # __seccomp_filter: "Allow the BPF to provide the event message ... skip" when the
        # tracer set a negative number: the filters do not run again.
        outcome = Outcome(False, description="skipped by the tracer (nr < 0): the call returns what the tracer "
                                             "left in the return register (-ENOSYS unless it wrote one)")
        return Verdict(Action.TRACE, abi.SECCOMP_RET_TRACE, None, outcome, "the tracer skipped the call",
                       arch=data.arch)
    returns: Sequence[int]
    bypass = profile.unfiltered_calls(data.target).get(nr) if nr in _MAYBE_UNFILTERED else None
    if bypass:  # kernel/seccomp.c:seccomp_uprobe_exception
        result, match, returns = _RET_ALLOW, None, ()
    elif len(functions) == 1:
        # The common case, one filter, without the loop below. ALLOW ranks last (its ACTION_ONLY
        # is the largest s32 an action can be), so the starting ALLOW stays exactly when the
        # filter's action is ALLOW.
        result = functions[0](data.words())
        returns = (result,)
        if result & _ACTION_FULL == _RET_ALLOW:
            result, match = _RET_ALLOW, None
        else:
            match = 0
    else:
        # kernel/seccomp.c:seccomp_run_filters: "All filters in the list are evaluated and the
        # lowest BPF return value always takes priority (ignoring the DATA)."
        words = data.words()
        result, match, best = _RET_ALLOW, None, _ALLOW_KEY
        index = len(functions)
        returns = [0] * index
        while index:  # newest first (a while loop: range() costs more than one filter's run)
            index -= 1
            current = returns[index] = functions[index](words)
            key = (current & _ACTION_FULL) ^ _SIGN  # precedence(current) as an unsigned key, inline
            if key < best:
                result, match, best = current, index, key
        returns = tuple(returns)
    action = actions.get(result & _ACTION_FULL)
    if action is None:  # an unknown action: the kernel version decides
        action = Action.of(result, profile)
    verdict = _new(Verdict)
    verdict._fields = (action, result, match, returns, data.arch,
                       data, profile, tracer, listener, threads, after_trace, bypass)
    return verdict


_FLAG_TSYNC = abi.SECCOMP_FILTER_FLAG_TSYNC
_FLAG_LISTENER = abi.SECCOMP_FILTER_FLAG_NEW_LISTENER
_INSTALL_CALLS = ("seccomp", "prctl")
_U32 = 0xFFFFFFFF
_U64 = (1 << 64) - 1

# include/uapi/linux/prctl.h
PR_GET_SECCOMP = 21
PR_SET_SYSCALL_USER_DISPATCH = 59
PR_SYS_DISPATCH_OFF, PR_SYS_DISPATCH_EXCLUSIVE_ON, PR_SYS_DISPATCH_INCLUSIVE_ON = 0, 1, 2
SYSCALL_DISPATCH_FILTER_ALLOW, SYSCALL_DISPATCH_FILTER_BLOCK = 0, 1
SYS_USER_DISPATCH = 2  # si_code of a user-dispatch SIGSYS (include/uapi/asm-generic/siginfo.h)

# What a caller is assumed to pass when it does not say: values the real call can have. A
# sock_fprog pointer the kernel accepts is never NULL, an instruction pointer never 0 (these
# are where a non-PIE x86_64 program's data and text usually lie).
ASSUMED_INSTRUCTION_POINTER = 0x401000
ASSUMED_POINTER = 0x404000

# kernel/seccomp.c:seccomp_get_notif_sizes: sizeof(struct seccomp_notif), (..._resp),
# (struct seccomp_data) in include/uapi/linux/seccomp.h, unchanged since Linux 5.0.
NOTIF_SIZES = (80, 24, 64)


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one system call of a thread came to.

    ``data``: what the filters saw. ``verdict``: theirs, or ``None`` when seccomp did not judge
    the call (the thread has no filters and is not strict, or user dispatch took the call first).
    ``retval``: the register value the call returns (``-errno`` on failure); ``None`` when it did
    not return, or when the call ran and is not one bpfsim performs, or a supervisor decides.
    ``killed``/``signal``: a death (``"thread"`` or ``"process"``); ``siginfo``: a SIGSYS the
    thread got and survived (TRAP, user dispatch). ``trace_message``: a TRACE stop's data, after
    which the tracer resumed the call. ``notified``: a listener got the call. ``listener``: the
    filter index that got a new listener (``retval`` is then a new file descriptor, ``None``).
    ``error``: bpfsim's explanation of a failing call it performed. ``child``: a new thread or process.
    """

    data: SeccompData
    verdict: Verdict | None
    retval: int | None
    killed: str | None = None
    signal: int | None = None
    siginfo: SigInfo | None = None
    trace_message: int | None = None
    notified: bool = False
    listener: int | None = None
    error: BpfsimError | None = field(default=None, compare=False)
    child: object = field(default=None, compare=False)
    description: str = field(default="", compare=False)

    @property
    def ran(self) -> bool:
        """The call reached its implementation (not decided by a supervisor, not refused)."""
        return (self.killed is None and self.siginfo is None and not self.notified
                and (self.verdict is None or self.verdict.outcome.runs is not False
                     or self.trace_message is not None))

    def __str__(self) -> str:
        return self.description

    def __repr__(self) -> str:
        shown = "" if self.retval is None else f" retval={self.retval}"
        return f"<CallResult{shown}: {self.description}>"


class _Attached:
    """One filter in the kernel's tree of filters: threads share it by identity (``prev`` links
    in kernel/seccomp.c), with the flags it was attached with."""

    __slots__ = ("checked", "flags")

    def __init__(self, checked: VerifiedProgram, flags: int):
        self.checked, self.flags = checked, flags

    @property
    def program(self) -> Program:
        return self.checked.program


class FilterChain:
    """One thread's seccomp state: its filters, its mode, its user dispatch, and every call form
    of seccomp(2) and prctl(2) that changes or reads them, each itself judged by the filters.

    ``kernel``: the kernel version modelled (a ``Kernel`` or a version string; default: the
    newest), which decides the known flags, actions, operations and the verdicts.
    ``arch``: the thread's architecture (default the native x86_64), whose numbers make the
    install calls. ``no_new_privs``/``cap_sys_admin``: seccomp_prepare_filter needs one of them
    (else EACCES). ``tracer``: a ptracer set PTRACE_O_TRACESECCOMP; it resumes every TRACE stop.
    ``instruction_pointer`` and ``pointer``: the address after the syscall instruction and the
    address of the sock_fprog (or other buffer) that install calls show the filters; the
    defaults are assumed (``ASSUMED_INSTRUCTION_POINTER``, ``ASSUMED_POINTER``).
    ``judge_installs=False`` builds a stack as given (a dump, a stack installed under
    PTRACE_O_SUSPEND_SECCOMP): the install calls then skip the filters already attached.
    ``threads``: live threads of the process (KILL_THREAD in the last one kills the process);
    this one-thread view assumes its siblings share its filters, so TSYNC succeeds (see
    ``bpfsim.process`` for several threads).
    """

    def __init__(self, filters: Iterable = (), *, threads: int = 1, arch: str | int | Target | None = None,
                 kernel: Kernel | str | None = None, no_new_privs: bool = True, cap_sys_admin: bool = False,
                 tracer: bool = False,
                 instruction_pointer: int = ASSUMED_INSTRUCTION_POINTER, pointer: int = ASSUMED_POINTER,
                 judge_installs: bool = True):
        self._stack: tuple[_Attached, ...] = ()
        # (stack, kernel, the stack's compiled functions, its listener, the kernel's actions)
        self._judging: tuple = (None, None, (), None, {})
        self.judge_installs = judge_installs
        self.strict = False
        self.threads = threads
        self.kernel = Kernel.of(kernel)
        self.arch = Target.of(arch if arch is not None else abi.NATIVE_ARCH.value)
        self.no_new_privs = no_new_privs
        self.cap_sys_admin = cap_sys_admin
        self.tracer = tracer
        self.instruction_pointer = instruction_pointer
        self.pointer = pointer
        self.dispatch: tuple[int, int, bool] | None = None  # (offset, len, has selector)
        self.selector = SYSCALL_DISPATCH_FILTER_ALLOW
        self.last_call: CallResult | None = None
        for prog in filters:
            self.attach(prog)

    # -- the filter stack
    def __len__(self) -> int:
        return len(self._stack)

    def __iter__(self) -> Iterator[Program]:
        return (f.program for f in self._stack)

    def __getitem__(self, index: int) -> Program:
        return self._stack[index].program

    @property
    def flags(self) -> tuple[int, ...]:
        return tuple(f.flags for f in self._stack)

    @property
    def mode(self) -> int:
        """SECCOMP_MODE_DISABLED, _STRICT or _FILTER (what prctl(PR_GET_SECCOMP) returns)."""
        if self.strict:
            return abi.SECCOMP_MODE_STRICT
        return abi.SECCOMP_MODE_FILTER if self._stack else abi.SECCOMP_MODE_DISABLED

    @property
    def listener(self) -> int | None:
        """Index of the filter that got a listener (SECCOMP_FILTER_FLAG_NEW_LISTENER)."""
        return next((i for i, f in enumerate(self._stack) if f.flags & _FLAG_LISTENER), None)

    def path_length(self) -> int:
        """What ``seccomp_attach_filter`` adds up: converted lengths plus 4 per filter."""
        return sum(f.checked.converted_length + self.kernel.filter_path_penalty for f in self._stack)

    def _live_threads(self) -> int:
        return self.threads

    def _siblings(self) -> list["FilterChain"]:
        """The other live threads TSYNC looks at; a lone chain's siblings share its filters."""
        return []

    @property
    def tid(self) -> int:
        return 0

    # -- evaluation
    def evaluate(self, data: SeccompData, *, tracer: bool | None = None, after_trace: bool = False) -> Verdict:
        if self.strict:
            return strict_verdict(data, kernel=self.kernel)
        stack, kernel, functions, listener, actions = self._judging
        if stack is not self._stack or kernel is not self.kernel:  # worked out again only when they changed
            stack, kernel = self._stack, self.kernel
            functions = tuple(f.checked.function for f in stack)
            listener, actions = self.listener, _known_actions(kernel)
            self._judging = (stack, kernel, functions, listener, actions)
        return _judge(functions, data, kernel, actions, self.tracer if tracer is None else tracer, listener,
                      self._live_threads(), after_trace)

    # -- the system call entry
    def call(self, nr: int | str, args: Sequence[int] = (), *, instruction_pointer: int | None = None,
             perform=None) -> CallResult:
        """The thread makes system call ``nr`` (a name, or the whole number register, of which
        the filters see ``Target.nr_mask``'s bits: the low 32 of orig_rax on x86_64,
        kernel/seccomp.c:populate_seccomp_data, the low 16 of gpr 1 on s390x).

        Mirrors kernel/entry/common.c:syscall_trace_enter: user dispatch first, then seccomp;
        the seccomp(2) and prctl(2) forms bpfsim knows are then performed (``seccomp``/``prctl``).
        """
        if isinstance(nr, str):
            from .syscalls import syscall_number
            nr = syscall_number(nr, self.arch)
        if not -(1 << 63) <= nr <= _U64:
            raise ValueError(f"nr {nr} does not fit in a 64-bit register")
        register = nr & _U64
        ip = self.instruction_pointer if instruction_pointer is None else instruction_pointer
        data = SeccompData(nr & self.arch.nr_mask, self.arch, ip, tuple(args))
        if perform is None:
            perform = self._implementation(data, register)
        dispatched = self._user_dispatch(data, register)
        if dispatched is not None:
            self.last_call = dispatched
            return dispatched
        if self.mode == abi.SECCOMP_MODE_DISABLED or not self.judge_installs and self._installs(data):
            result = self._run(data, None, perform)
        else:
            result = self._judged(data, register, perform)
        self.last_call = result
        return result

    def _judged(self, data: SeccompData, register: int, perform) -> CallResult:
        verdict = self.evaluate(data)
        outcome = verdict.outcome
        if outcome.trace_message is not None:
            # The tracer resumes the call: __seccomp_filter runs the filters again (recheck).
            again = self.evaluate(data, after_trace=True)
            if again.outcome.runs:
                return replace(self._run(data, verdict, perform), trace_message=outcome.trace_message)
            return replace(self._not_run(data, again, register), trace_message=outcome.trace_message)
        if outcome.listener is not None:
            return CallResult(data, verdict, None, notified=True, description=outcome.description)
        if outcome.runs:
            return self._run(data, verdict, perform)
        return self._not_run(data, verdict, register)

    @staticmethod
    def _not_run(data: SeccompData, verdict: Verdict, register: int) -> CallResult:
        outcome = verdict.outcome
        if outcome.siginfo is not None:  # TRAP: what syscall_rollback leaves in the return register
            return CallResult(data, verdict, trap_return_value(data, register), signal=outcome.signal,
                              siginfo=outcome.siginfo,
                              description=outcome.description)
        if outcome.killed:
            return CallResult(data, verdict, None, killed=outcome.killed, signal=outcome.signal,
                              description=outcome.description)
        return CallResult(data, verdict, outcome.retval, description=outcome.description)

    @staticmethod
    def _run(data: SeccompData, verdict: Verdict | None, perform) -> CallResult:
        retval, extra = perform()
        return CallResult(data, verdict, retval, **extra)

    def _user_dispatch(self, data: SeccompData, register: int) -> CallResult | None:
        """kernel/entry/syscall_user_dispatch.c:syscall_user_dispatch. A call from outside the
        region [offset, offset + len) (compared as ``ip - offset < len`` on the address after
        the syscall instruction) is dispatched unless the selector byte says ALLOW."""
        if self.dispatch is None:
            return None
        offset, length, has_selector = self.dispatch
        if (data.instruction_pointer - offset) & _U64 < length:
            return None
        if has_selector:
            if self.selector == SYSCALL_DISPATCH_FILTER_ALLOW:
                return None
            if self.selector != SYSCALL_DISPATCH_FILTER_BLOCK:
                return CallResult(data, None, None, killed="process", signal=abi.SIGSYS,
                                  description=f"selector byte {self.selector} is neither ALLOW nor BLOCK: "
                                              "force_exit_sig(SIGSYS)")
        info = SigInfo(abi.SIGSYS, SYS_USER_DISPATCH, 0, data.nr, data.arch, data.instruction_pointer)
        # syscall_user_dispatch rolls the registers back as a TRAP does (syscall_rollback).
        return CallResult(data, None, trap_return_value(data, register), signal=abi.SIGSYS, siginfo=info,
                          description="dispatched: SIGSYS (si_code SYS_USER_DISPATCH) before seccomp sees "
                                      f"the call; {_after_trap_handler(data)}")

    @staticmethod
    def _installs(data: SeccompData) -> bool:
        from .syscalls import syscall_number
        return data.nr in (syscall_number("seccomp", data.arch), syscall_number("prctl", data.arch))

    def _implementation(self, data: SeccompData, register: int):
        """What running ``data``'s call does, for the calls bpfsim performs."""
        from .syscalls import syscall_number
        if (register > _U32 and data.target.shares_audit_arch and self.mode == abi.SECCOMP_MODE_DISABLED
                and not self.kernel.has("x86_64_int_syscall_numbers")):
            enosys = -abi.errno_number("ENOSYS", data.arch)
            return lambda: (enosys, {"description": f"fails with ENOSYS: Linux {self.kernel} looks the whole "
                                                    f"register {register:#x} up in the syscall table"})
        if data.nr == syscall_number("seccomp", data.arch):
            op, flags, arg = data.args[0], data.args[1], data.args[2]
            return lambda: self._outcome_of(self._do_seccomp, op & _U32, flags & _U32, arg, None)
        if data.nr == syscall_number("prctl", data.arch):
            return lambda: self._outcome_of(self._do_prctl, *data.args[:5], None)
        return lambda: (None, {"description": "runs"})

    @staticmethod
    def _outcome_of(operation, *args) -> tuple[int | None, dict]:
        try:
            retval, extra = operation(*args)
        except ThreadSyncFailed as failed:
            return failed.tid, {"error": failed, "description": str(failed)}
        except (SeccompError, VerifyError) as error:
            return -error.errno, {"error": error, "description": f"fails: {error}"}
        return retval, extra

    # -- the operations (kernel/seccomp.c:do_seccomp and prctl_set_seccomp, kernel/sys.c)
    def _do_seccomp(self, op: int, flags: int, arg: int, content):
        """kernel/seccomp.c:do_seccomp; ``op`` and ``flags`` are the syscall's unsigned ints,
        ``content`` what ``arg`` points to (a Program, an action value, or None: unknown)."""
        if op == abi.SECCOMP_SET_MODE_STRICT:
            if flags or arg:
                raise SeccompError(errnos.EINVAL, "SECCOMP_SET_MODE_STRICT takes no flags and a NULL argument")
            return self._set_mode_strict()
        if op == abi.SECCOMP_SET_MODE_FILTER:
            return self._set_mode_filter(flags, arg, content)
        if op == abi.SECCOMP_GET_ACTION_AVAIL and self.kernel.has("op_get_action_avail"):
            if flags:
                raise SeccompError(errnos.EINVAL, "SECCOMP_GET_ACTION_AVAIL takes no flags")
            if not arg or content is None:
                raise SeccompError(errnos.EFAULT, "the action pointer is NULL" if not arg
                                   else f"no action at {arg:#x}")
            if not self.kernel.knows_action(content):  # seccomp_get_action_avail: exact values only
                raise SeccompError(errnos.EOPNOTSUPP, f"{content:#010x} is not an action Linux {self.kernel} knows")
            return 0, {"description": "returns 0: the action is available"}
        if op == abi.SECCOMP_GET_NOTIF_SIZES and self.kernel.has("op_get_notif_sizes"):
            if flags:
                raise SeccompError(errnos.EINVAL, "SECCOMP_GET_NOTIF_SIZES takes no flags")
            if not arg:
                raise SeccompError(errnos.EFAULT, "the sizes pointer is NULL")
            return 0, {"description": "returns 0 and writes struct seccomp_notif_sizes {%d, %d, %d}" % NOTIF_SIZES}
        raise SeccompError(errnos.EINVAL, f"unknown seccomp operation {op}")

    def _do_prctl(self, option: int, arg2: int, arg3: int, arg4: int, arg5: int, program: Program | None):
        """kernel/sys.c:prctl for the options about seccomp and user dispatch."""
        if option == abi.PR_SET_SECCOMP:  # kernel/seccomp.c:prctl_set_seccomp
            if arg2 == abi.SECCOMP_MODE_STRICT:
                return self._do_seccomp(abi.SECCOMP_SET_MODE_STRICT, 0, 0, None)
            if arg2 == abi.SECCOMP_MODE_FILTER:
                return self._do_seccomp(abi.SECCOMP_SET_MODE_FILTER, 0, arg3, program)
            raise SeccompError(errnos.EINVAL, f"prctl(PR_SET_SECCOMP) mode {arg2} is neither strict (1) nor filter (2)")
        if option == PR_GET_SECCOMP:
            return self.mode, {"description": f"returns the mode, {self.mode}"}
        if option == PR_SET_SYSCALL_USER_DISPATCH:
            if not self.kernel.has("prctl_syscall_user_dispatch", self.arch):
                raise SeccompError(errnos.EINVAL, f"Linux {self.kernel} has no PR_SET_SYSCALL_USER_DISPATCH on "
                                                  f"{self.arch}")
            return self._set_user_dispatch(arg2, arg3, arg4, arg5)
        return None, {"description": "runs (an option bpfsim does not model)"}

    def _set_user_dispatch(self, mode: int, offset: int, length: int, selector: int):
        """kernel/entry/syscall_user_dispatch.c:task_set_syscall_user_dispatch."""
        if mode == PR_SYS_DISPATCH_OFF:
            if offset or length or selector:
                raise SeccompError(errnos.EINVAL, "PR_SYS_DISPATCH_OFF takes no offset, length or selector")
            self.dispatch = None
            return 0, {"description": "returns 0: user dispatch is off"}
        if mode == PR_SYS_DISPATCH_EXCLUSIVE_ON:
            if offset and offset + length > _U64 or offset and length == 0:
                raise SeccompError(errnos.EINVAL, "the region wraps around")
        elif mode == PR_SYS_DISPATCH_INCLUSIVE_ON and self.kernel.has("dispatch_inclusive_on"):
            if length == 0 or offset + length > _U64:
                raise SeccompError(errnos.EINVAL, "the region is empty or wraps around")
            offset, length = (offset + length) & _U64, -length & _U64  # the kernel inverts the range
        else:
            raise SeccompError(errnos.EINVAL, f"Linux {self.kernel} has no user dispatch mode {mode}")
        self.dispatch = (offset, length, bool(selector))
        return 0, {"description": "returns 0: user dispatch is on"}

    def _set_mode_strict(self):
        """kernel/seccomp.c:seccomp_set_mode_strict (seccomp_may_assign_mode)."""
        if self._stack:
            raise SeccompError(errnos.EINVAL, "the thread is in filter mode; strict mode cannot be entered")
        self.strict = True
        return 0, {"description": "returns 0: the thread is in strict mode"}

    def _set_mode_filter(self, flags: int, arg: int, prog: Program | None):
        """kernel/seccomp.c:seccomp_set_mode_filter, checks in its order; the program's own
        checks raise ``VerifyError``."""
        if flags & ~self.kernel.filter_flags:
            unknown = flags & ~self.kernel.filter_flags
            names = "|".join(n for bit, n in abi.FILTER_FLAG_NAMES.items() if unknown & bit)
            raise SeccompError(errnos.EINVAL, f"unknown filter flags {unknown:#x}"
                                              + (f" ({names} is newer than Linux {self.kernel})" if names else ""))
        if flags & _FLAG_TSYNC and flags & _FLAG_LISTENER and not flags & abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
            raise SeccompError(errnos.EINVAL, "TSYNC with NEW_LISTENER needs TSYNC_ESRCH")
        if flags & abi.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and not flags & _FLAG_LISTENER:
            raise SeccompError(errnos.EINVAL, "WAIT_KILLABLE_RECV needs NEW_LISTENER")
        if not arg or prog is None:  # seccomp_prepare_user_filter: copy_from_user
            raise SeccompError(errnos.EFAULT, "the sock_fprog pointer is NULL" if not arg
                               else f"no program at {arg:#x}")
        if not (self.no_new_privs or self.cap_sys_admin) and 0 < len(prog) <= BPF_MAXINSNS:
            # seccomp_prepare_filter: after its length test, before the program is checked.
            raise SeccompError(errnos.EACCES, "installing a filter needs no_new_privs or CAP_SYS_ADMIN")
        checked = verified(prog)  # seccomp_prepare_user_filter → seccomp_prepare_filter
        if self.strict:
            raise SeccompError(errnos.EINVAL, "the thread is in strict mode (seccomp_may_assign_mode)")
        if flags & _FLAG_LISTENER and self.listener is not None:
            raise SeccompError(errnos.EBUSY, f"filter {self.listener} already has a listener (has_duplicate_listener)")
        # seccomp_attach_filter
        total = checked.converted_length + self.path_length()
        if total > self.kernel.max_insns_per_path:
            raise SeccompError(errnos.ENOMEM, f"{total} instructions on the path would exceed MAX_INSNS_PER_PATH "
                                              f"({self.kernel.max_insns_per_path}) (seccomp_attach_filter)")
        siblings = self._siblings() if flags & _FLAG_TSYNC else []
        for sibling in siblings:  # seccomp_can_sync_threads, in thread-list order
            if sibling.mode == abi.SECCOMP_MODE_DISABLED or (
                    sibling.mode == abi.SECCOMP_MODE_FILTER and self._stack[:len(sibling._stack)] == sibling._stack):
                continue
            if flags & abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
                raise SeccompError(errnos.ESRCH, f"TSYNC failed on thread {sibling.tid} (TSYNC_ESRCH)")
            raise ThreadSyncFailed(sibling.tid)
        self._stack += (_Attached(checked, flags),)
        for sibling in siblings:  # seccomp_sync_threads
            sibling._stack = self._stack
            sibling.no_new_privs = sibling.no_new_privs or self.no_new_privs
        if flags & _FLAG_LISTENER:
            index = len(self._stack) - 1
            return None, {"listener": index, "description": f"returns a new listener fd for filter {index}"}
        return 0, {"description": f"returns 0: filter {len(self._stack) - 1} attached"}

    # -- the call forms
    def seccomp(self, operation: int, flags: int = 0, arg=None, *, instruction_pointer: int | None = None) -> CallResult:
        """seccomp(operation, flags, arg) as a system call of this thread. ``arg``: ``None`` is
        NULL; a Program is SECCOMP_SET_MODE_FILTER's (its sock_fprog); with
        SECCOMP_GET_ACTION_AVAIL an int is the u32 action it reads; ``True`` is a writable buffer
        (SECCOMP_GET_NOTIF_SIZES). Those pointers show the filters ``self.pointer``. Any other int
        is the argument register itself, pointing at nothing bpfsim knows (EFAULT where read)."""
        if arg is None or arg is True:
            pointer, content = (0 if arg is None else self.pointer), None
        elif isinstance(arg, int) and operation == abi.SECCOMP_GET_ACTION_AVAIL:
            pointer, content = self.pointer, arg & _U32
        elif isinstance(arg, int):
            pointer, content = arg & _U64, None
        else:
            pointer, content = self.pointer, Program.of(arg.program if isinstance(arg, VerifiedProgram) else arg)
        from .syscalls import syscall_number
        nr = syscall_number("seccomp", self.arch)
        perform = lambda: self._outcome_of(self._do_seccomp, operation & _U32, flags & _U32, pointer, content)
        return self.call(nr, (operation, flags, pointer), instruction_pointer=instruction_pointer, perform=perform)

    def prctl(self, option: int, arg2: int = 0, arg3=0, arg4: int = 0, arg5=0, *,
              instruction_pointer: int | None = None) -> CallResult:
        """prctl(option, ...) as a system call of this thread; ``arg3`` may be a Program (the
        sock_fprog of PR_SET_SECCOMP), ``arg5`` ``True`` for a pointer to the selector byte
        (``self.selector`` holds its value); both pointers show the filters ``self.pointer``."""
        program = None if isinstance(arg3, int) else Program.of(arg3)
        pointer = self.pointer if program is not None else arg3 & _U64
        selector = self.pointer if arg5 is True else arg5
        from .syscalls import syscall_number
        nr = syscall_number("prctl", self.arch)
        perform = lambda: self._outcome_of(self._do_prctl, option, arg2, pointer, arg4, selector, program)
        return self.call(nr, (option, arg2, pointer, arg4, selector), instruction_pointer=instruction_pointer,
                         perform=perform)

    def attach(self, prog: Sequence[Instruction], flags: int = 0, *, via: str = "seccomp") -> int | None:
        """Attach ``prog`` as seccomp(SECCOMP_SET_MODE_FILTER, flags) would, or with ``via="prctl"``
        as prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) would (it has no flags); return the new
        listener's filter index with NEW_LISTENER, else ``None``.

        The call is first judged by the filters already attached (``InstallRefused`` when they
        answer it); an ERRNO with data 0 makes it return 0 without attaching anything (the
        chain is unchanged; ``last_call`` says so). Then the checks of ``seccomp_set_mode_filter``.
        """
        if via not in _INSTALL_CALLS:
            raise ValueError(f"via must be one of {', '.join(_INSTALL_CALLS)}, not {via!r}")
        if via == "prctl" and flags:
            raise ValueError("prctl(PR_SET_SECCOMP) has no flags; attach with via='seccomp'")
        prog = Program.of(prog.program if isinstance(prog, VerifiedProgram) else prog)
        if via == "seccomp":
            result = self.seccomp(abi.SECCOMP_SET_MODE_FILTER, flags, prog)
            shown = f"seccomp(SECCOMP_SET_MODE_FILTER, {flags:#x})"
        else:
            result = self.prctl(abi.PR_SET_SECCOMP, abi.SECCOMP_MODE_FILTER, prog)
            shown = "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)"
        return self._installed(result, shown)

    def set_mode_strict(self, *, via: str = "seccomp") -> None:
        """seccomp(SECCOMP_SET_MODE_STRICT) or prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT): refused
        with EINVAL once filters are attached (after the call itself passed them)."""
        if via not in _INSTALL_CALLS:
            raise ValueError(f"via must be one of {', '.join(_INSTALL_CALLS)}, not {via!r}")
        if via == "seccomp":
            result = self.seccomp(abi.SECCOMP_SET_MODE_STRICT)
            shown = "seccomp(SECCOMP_SET_MODE_STRICT, 0x0)"
        else:
            result = self.prctl(abi.PR_SET_SECCOMP, abi.SECCOMP_MODE_STRICT)
            shown = "prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)"
        self._installed(result, shown)

    @staticmethod
    def _installed(result: CallResult, shown: str) -> int | None:
        if result.error is not None:
            raise result.error
        if result.ran and not result.notified:
            return result.listener
        if result.retval == 0 and result.verdict is not None and result.verdict.action == Action.ERRNO:
            return None  # ERRNO(0): the call "succeeds" without running
        if result.verdict is None:
            raise SeccompError(errnos.EINVAL, f"the {shown} call was dispatched to user space: {result}")
        raise InstallRefused(result.verdict, shown)  # also a call handed to a supervisor, who decides

    def __repr__(self) -> str:
        if self.strict:
            return "<FilterChain strict mode>"
        lines = [f"<FilterChain {len(self)} filters, path length {self.path_length()}/{self.kernel.max_insns_per_path}>"]
        for i, attached in enumerate(self._stack):
            names = "|".join(n for bit, n in abi.FILTER_FLAG_NAMES.items() if attached.flags & bit)
            origin = f" from {attached.program.name}" if attached.program.name else ""
            lines.append(f"  filter {i}: {len(attached.program)} instructions{origin}" + (f" [{names}]" if names else ""))
        return "\n".join(lines)


# arch/*/include/asm/seccomp.h: the arches whose strict mode allows sigreturn where the
# generic header (include/asm-generic/seccomp.h) allows rt_sigreturn.
_STRICT_SIGRETURN = {
    "i386": "x86 asm/seccomp.h: __NR_seccomp_sigreturn (CONFIG_X86_32) and _32 (compat) are sigreturn",
    "s390": "s390 asm/seccomp.h: __NR_seccomp_sigreturn and __NR_seccomp_sigreturn_32 are __NR_sigreturn",
    "s390x": "s390 asm/seccomp.h: __NR_seccomp_sigreturn and __NR_seccomp_sigreturn_32 are __NR_sigreturn",
    "ppc": "powerpc asm/seccomp.h: __NR_seccomp_sigreturn_32 is __NR_sigreturn (a 32-bit task on ppc64)",
}


def strict_syscalls(arch: int | str | Target, kernel: Kernel | str | None = None) -> frozenset[int]:
    """The calls strict mode allows (``mode1_syscalls``/``mode1_syscalls_32``, kernel/seccomp.c,
    with the arch's asm/seccomp.h): read, write, exit and the sigreturn of ``_STRICT_SIGRETURN``
    (rt_sigreturn elsewhere); on x86_64 the uretprobe and uprobe calls where ``kernel`` lets them
    bypass the filters. ppc is taken as a compat task on a ppc64 kernel; a 32-bit powerpc kernel
    allows rt_sigreturn instead."""
    from .syscalls import syscall_number
    target = Target.of(arch)
    sigreturn = "sigreturn" if target.arch.name in _STRICT_SIGRETURN else "rt_sigreturn"
    numbers = {syscall_number(name, target.arch) for name in ("read", "write", "exit", sigreturn)}
    return frozenset(numbers | set(Kernel.of(kernel).unfiltered_calls(Target(target.arch))))


def strict_verdict(data: SeccompData, *, kernel: Kernel | str | None = None) -> Verdict:
    """kernel/seccomp.c:__secure_computing_strict: anything else ends the thread with SIGKILL.

    It compares the number alone, so an x32 call (number with the x32 bit) is never allowed.
    """
    if data.nr in strict_syscalls(data.arch, kernel):
        outcome = Outcome(True, description="runs (allowed in strict mode)")
        return Verdict(Action.ALLOW, abi.SECCOMP_RET_ALLOW, None, outcome, "strict mode allows it")
    outcome = Outcome(False, signal=abi.SIGKILL, killed="thread",
                      description="strict mode: do_exit(SIGKILL), logged as KILL_THREAD")
    return Verdict(Action.KILL_THREAD, abi.SECCOMP_RET_KILL_THREAD, None, outcome, "strict mode forbids it")
