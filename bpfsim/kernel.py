"""The live kernel as an oracle: install seccomp filter stacks in throwaway threads and observe.

Mirrors what a thread experiences under kernel/seccomp.c (``seccomp_set_mode_filter``,
``seccomp_run_filters``, ``__seccomp_filter``) on the machine this runs on (Linux x86_64) or on a
lab guest of x86_64, aarch64 or s390x. The work is done by a small C helper (``_oracle.c``,
compiled on first use into ``$XDG_CACHE_HOME/bpfsim`` when that directory is the user's alone,
else into a private temporary directory, and executed only through a descriptor of a file this
uid wrote) because nothing can run in a filtered thread that makes syscalls of its own: the
helper forks one *subject* process whose main thread stays unfiltered and whose second thread
installs the stack, makes the calls and reports through shared memory. The helper ptraces both
threads. This is the only bpfsim module that forks, ptraces or calls seccomp(2).
``Oracle(kernel="debian-6.1-amd64")`` asks a lab guest instead (bpfsim.guest), and
``$BPFSIM_ORACLE_KERNEL`` sends the module functions' shared oracle there (``default_kernel_name``).

Calls go in as ``SeccompData`` (x86_64, x32 or i386, or a guest's own arch; the instruction
pointer is the helper's own, see ``Oracle.instruction_pointer``) and each comes back as an
``Observation``, which says what the calling thread saw and which verdicts are consistent with
it; ``admits(verdict)`` compares it with a ``Verdict``. The oracle observes the kernel and never
asks bpfsim for an answer: it only uses bpfsim's records to carry calls and filters.

How each action shows up (``Observation.action``):

- ``KILL_PROCESS``: the whole subject died of SIGSYS during the call (also unknown actions, which
  the kernel treats as KILL_PROCESS since 5.10);
- ``KILL_THREAD``: only the calling (second) thread died; the main thread survived;
- ``TRAP``: SIGSYS with si_code SYS_SECCOMP; ``data`` = si_errno, ``siginfo`` has every field;
  the call then "returns" what the rollback left (``seccomp.trap_return_value``: the number
  on x86, args[0] on aarch64, -ENOSYS on s390x);
- ``ERRNO``: the call returned ``-errno``; ``data`` = the observed errno (capped at 4095 by the
  kernel), or 0 when the call returned 0 without running (ERRNO with data 0);
- ``USER_NOTIF``: the supervisor of the ``listener`` filter was notified (``seccomp_data`` is the
  notification's); it answers every notification with ``-NOTIF_ERRNO``;
- ``TRACE``: a tracer with PTRACE_O_TRACESECCOMP got PTRACE_EVENT_SECCOMP; ``data`` = the event
  message; the tracer skips the call (nr = -1), so it returns -ENOSYS;
- ``LOG_OR_ALLOW``: the call ran (unguarded harmless call that returned its natural value), or
  the guard's TRACE won and the stack provably could only have said LOG or ALLOW there. LOG and
  ALLOW differ only in the audit log, which is rate-limited: they are never told apart;
- ``GUARDED``: the guard's TRACE won but the stack might have returned a value the guard hides
  (see below): LOG, ALLOW, TRACE with the guard's tag, or an unknown action 0x7ff1..0x7ffe;
- ``ENOSYS_AMBIGUOUS``: -ENOSYS with more than one possible cause (ERRNO 38, TRACE without a
  tracer, USER_NOTIF without a listener on the winning filter, an allowed nonexistent call);
  ``candidates`` lists them, narrowed by the RET K values the stack contains and, unless
  ``resolve=False``, by probe reruns (``Oracle.run_batch``), after which it is rarely left;
- ``ZERO_AMBIGUOUS``: 0 from an unguarded call whose natural result is 0 (ERRNO|0 or allowed);
- ``NOT_FILTERED``: native 335/336 (uretprobe/uprobe) ran without the filters, as kernels with
  ``seccomp_uprobe_exception`` let them (6.14+ and 6.18+, and some stable trees): seen as what
  they do outside a probe, SIGILL from uretprobe and -ENXIO from uprobe
  (arch/x86/kernel/uprobes.c), never assumed from the number; the candidate is ALLOW, and for
  -ENXIO also ERRNO(6) when the stack can return it (``ENXIO_AMBIGUOUS``);
- ``SIGNALED``: the subject died of a signal other than SIGSYS.

``Observation.candidates`` is the exact set of (action, data) verdicts consistent with what was
seen, and ``Observation.admits(verdict)`` checks a simulator's verdict against it.

Safety: a call is only ever *executed* if it is harmless in a throwaway thread (see
``HARMLESS_X86_64``, ``HARMLESS_I386`` and ``is_nonexistent``). For every other call a *guard*
filter ``RET TRACE|tag`` is attached first (oldest) and the helper, tracing with
PTRACE_O_TRACESECCOMP, skips every traced call. Everything that outranks TRACE (kills, TRAP,
ERRNO, USER_NOTIF) is observed exactly as without the guard, because ``seccomp_run_filters``
keeps the lowest signed action; a TRACE from the stack ties with the guard and wins because the
newest filter wins ties, so its own data shows in the event message; LOG and ALLOW lose to the
guard and show as the guard's tag. This is faithful unless the stack can return an unknown action
between TRACE and ALLOW (0x7ff1..0x7ffe except LOG 0x7ffc: the kernel would kill, the guard
hides it) or TRACE with the guard's own tag. The tag is chosen among values no RET K returns and
both cases are ruled out by scanning every RET K; a ``RET A`` makes that unprovable, and the
outcome is then ``GUARDED`` rather than ``LOG_OR_ALLOW``. The guard also counts 9 instructions
towards the kernel's per-thread budget (``seccomp_attach_filter``).

Installing exactly: each installed filter also filters the later seccomp() calls that install
the next ones. As root the calling thread installs the whole stack under
PTRACE_O_SUSPEND_SECCOMP (needs CAP_SYS_ADMIN and CONFIG_CHECKPOINT_RESTORE), which is lifted
before the first call, so the stack is exactly the one given. Without that privilege filters are
installed in order, like a real program does, and an earlier filter may block a later install
(``KernelInstallError.blocked``); also each batch then needs a fresh subject process.

TRAP is observed at the tracer's signal-delivery-stop (PTRACE_GETSIGINFO gives the siginfo an
SA_SIGINFO handler would get) and the signal is then suppressed, so the thread continues after
the call exactly as if a handler had returned, without an rt_sigreturn for the filters to judge.

Not observable: LOG versus ALLOW; the data of USER_NOTIF, LOG, ALLOW and KILL actions; which
filter won (except through TRACE data or the listener); core dumps (the subject runs with
RLIMIT_CORE 0, so ``core_dump`` is normally False); TRACE without a tracer once the guard is
needed (the guard brings a tracer: such outcomes have ``traced=True``).

Capturing filters as a command installs them (``capture_filters``, ``bpfsim dump -c``) needs no
helper: a forked bpfsim process runs the command under ptrace, stops it at each seccomp() and
prctl() that installs a filter, and reads the filter with PTRACE_SECCOMP_GET_FILTER once the call
has succeeded.

Protocol with the helper (little-endian on every arch, u32 unless said): a request is ``op, length,
payload``; a reply is ``length, payload``. RUN (1): ``nfilters, ncalls, options (1 trace, 2 do
not answer notifications), notif_errno, timeout_ms``, then per filter ``flags, len, len*8
bytes``, then per call ``kind (0 syscall, 1 int $0x80), i32 nr, 6*u64 args``; reply ``status,
i32 install_index, i32 install_errno, i32 install_signal, suspended, spawns, helper_pid, n`` and
n 136-byte records (``_RESULT``). EACH (2): ``n, timeout_ms, share`` (accepted programs may share a
thread, unless the kernel blinds JIT constants) and filters; reply
``status, suspended, n, n*i32 (0 or -errno)``. DUMP (3): ``i32 pid, timeout_ms``; reply
``errno, count`` and per filter ``len, len*8 bytes``. SCENE (5): ``nfilters, nsteps, options
(1 tracer, 2 no no_new_privs), timeout_ms``, filters, then 88-byte steps (``SceneStep.pack``);
reply ``status``, six u64 addresses (call site, sock_fprogs, buffers, selectors, clone's call
site, stacks), 16 slots of ``tid, pid, state, signal, mode, no_new_privs, nfilters`` and their
filters, then ``n`` and n 80-byte results. NOTIF_IOCTLS (6): no payload; reply ``status``
and three i32 (0 or -errno: ADDFD, ADDFD with SEND, SET_FLAGS). EXEC (7): ``nfilters,
timeout_ms``, one call record, the filters; reply ``status, i32 install_index, i32 errno, i32
wait status, returned, i64 retval``. SHARED_MM_KILL (8): ``dumpable``; reply ``status`` and
the parent's and the child's i32 wait status. STRICT (9): ``kind, i32 nr, u64 args[0]``; reply
``status, ran, i32 wait status``. HELLO (0) starts a subject; QUIT (4)
ends the helper. Every wait in the helper has a deadline: a hung subject is killed and the
request answers ``status`` 1 (timeout), which becomes ``KernelError(ETIMEDOUT)``.
"""

from __future__ import annotations

import atexit
import ctypes
import errno as errnos
import hashlib
import json
import os
import platform
import random
import select
import shutil
import signal as signals
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import abi, guest
from . import opcodes as op
from .data import SeccompData
from .errors import BpfsimError, KernelError, KernelInstallError
from .insn import Instruction
from .program import Program
from .seccomp import SigInfo
from .syscalls import syscall_name
from .target import Target

__all__ = [
    "Observation", "KernelError", "KernelInstallError", "Oracle",
    "seccomp_unavailable_reason", "run_calls", "run_batch", "install_result", "install_error",
    "check_programs", "dump_filters", "instruction_pointer", "bench_throughput", "is_harmless", "is_nonexistent",
    "capture_filters", "Capture", "CapturedFilter",
    "HARMLESS_X86_64", "HARMLESS_I386", "NOTIF_ERRNO",
    "SceneStep", "SceneOutcome", "SceneThread", "Scene", "run_scene",
    "default_kernel_name", "default_oracle", "target", "ORACLE_KERNEL_VARIABLE", "notify_ioctls", "NOTIF_IOCTLS",
    "call_after_execve", "AfterExecve", "shared_mm_kill", "strict_mode_allows",
]

# Calls a throwaway thread may really execute: they read process identity and change nothing.
HARMLESS_X86_64 = {39: "getpid", 110: "getppid", 186: "gettid", 111: "getpgrp",
                   102: "getuid", 104: "getgid", 107: "geteuid", 108: "getegid"}
HARMLESS_I386 = {20: "getpid", 64: "getppid", 224: "gettid", 65: "getpgrp",
                 199: "getuid", 200: "getgid", 201: "geteuid", 202: "getegid"}
# What native uretprobe and uprobe do when they run outside a probe (arch/x86/kernel/uprobes.c:
# sys_uretprobe forces SIGILL, sys_uprobe returns -ENXIO): how a call that skipped the filters shows.
_RAN_OUTSIDE_A_PROBE = {335: ("signal", signals.SIGILL), 336: ("errno", errnos.ENXIO)}
_BYPASS_IS_ALLOW = (("ALLOW", None),)  # seccomp_run_filters returns SECCOMP_RET_ALLOW without a filter
_NO_SYSCALL_BELOW = 1024  # above every x86_64/i386/x32/aarch64/s390x table of 6.18 (all below 600)
_IDENTITY_CALLS = ("getpid", "getppid", "gettid", "getpgrp", "getuid", "getgid", "geteuid", "getegid")
_GUEST_ABIS = ("aarch64", "s390x")  # the native calls of lab guests (bpfsim.guest) of those arches

NOTIF_ERRNO = errnos.ENOTRECOVERABLE  # what the supervisor answers; rare enough to be seen

_GUARD_TAGS = (0xB5F0, 0xB5F1, 0xB5F2, 0x0B5F, 0xFFFF, 0x5A5A)
_RET_K, _RET_A = op.BPF_RET | op.BPF_K, op.BPF_RET | op.BPF_A
_UNKNOWN_ABOVE_TRACE = range(0x7FF1, 0x7FFF)  # upper halves ranked between TRACE and ALLOW

_OP_HELLO, _OP_RUN, _OP_EACH, _OP_DUMP, _OP_QUIT, _OP_SCENE = 0, 1, 2, 3, 4, 5
_OP_NOTIF_IOCTLS, _OP_EXEC, _OP_SHARED_MM_KILL, _OP_STRICT = 6, 7, 8, 9
NOTIF_IOCTLS = ("ADDFD", "ADDFD_SEND", "SET_FLAGS")  # what Oracle.notify_ioctls tries, in its order
_ST_OK, _ST_TIMEOUT, _ST_ERROR, _ST_TOOBIG, _ST_OUT_OF_REACH = 0, 1, 2, 3, 4
_FATE_RETURNED, _FATE_THREAD, _FATE_PROCESS, _FATE_NOT_RUN = 0, 1, 2, 3
_RF_EVENT, _RF_TRAP, _RF_NOTIF, _RF_SD, _RF_CORE = 1, 2, 4, 8, 16
_RESULT = struct.Struct("<IIIiiiqQiiiiIIQ64s")
_RUN_HEAD = struct.Struct("<IiiiIIII")
_CALL = struct.Struct("<Ii6Q")
_MAX_CALLS = 16384
_MAX_FILTERS = 8192
_MAX_INSN_BYTES = 24 << 20


def _abi(call: SeccompData) -> str:
    """How the helper makes ``call``: ``"x86_64"`` with the ``syscall`` instruction (x32 calls are
    native ones with the x32 bit in nr), ``"i386"`` with ``int $0x80`` from the 64-bit subject,
    so the filter sees AUDIT_ARCH_I386, i386 numbers and the full 64-bit registers as args;
    ``"aarch64"`` and ``"s390x"``: the native call of a lab guest of that arch (``svc``), where
    s390x passes only the low 16 bits of the number (arch/s390/kernel/syscall.c:__do_syscall)."""
    if not isinstance(call, SeccompData):
        raise TypeError(f"a call is a SeccompData, not {type(call).__name__}")
    if call.target.arch is abi.NATIVE_ARCH:
        return "x86_64"
    if call.target.arch.name == "i386":
        return "i386"
    if call.target.arch.name in _GUEST_ABIS and call.target.name == call.target.arch.name:
        if call.target.arch.name == "s390x" and not 0 <= call.nr <= 0xFFFF:
            raise ValueError(f"nr {call.nr}: an s390x call carries only a 16-bit number")
        return call.target.arch.name
    raise ValueError(f"no oracle can make a call with arch {call.target.name}")


@dataclass(frozen=True, slots=True)
class Observation:
    """What the calling thread observed for one ``call`` (see the module docstring per action).

    ``retval`` is the value the call returned (None if the thread died), ``errno`` is
    ``-retval`` when that lies in -4095..-1. ``signal``/``core_dump`` describe a kill.
    ``seccomp_data`` is the input the kernel evaluated, taken from the TRACE event
    (PTRACE_GET_SYSCALL_INFO) or the USER_NOTIF notification, when there was one. ``guarded``:
    the guard filter was underneath; ``traced``: a tracer with PTRACE_O_TRACESECCOMP was attached.
    """

    call: SeccompData
    action: str
    data: int | None
    retval: int | None
    errno: int | None
    candidates: tuple[tuple[str, int | None], ...]
    signal: int | None = None
    core_dump: bool = False
    siginfo: SigInfo | None = None
    seccomp_data: SeccompData | None = None
    guarded: bool = False
    traced: bool = False

    def admits(self, verdict, data: int | None = None) -> bool:
        """Is a simulator's verdict consistent with this observation? ``verdict`` is a ``Verdict``
        (anything with ``action`` and ``data``), or an action name with its 16-bit ``data``."""
        if hasattr(verdict, "action"):
            verdict, data = verdict.action, verdict.data
        action = getattr(verdict, "name", str(verdict))
        for name, want in self.candidates:
            if name != action:
                continue
            if want is None:
                return True
            if data is None:
                return False
            return (min(data, abi.MAX_ERRNO) if name == "ERRNO" else data) == want
        return False

    def __str__(self) -> str:
        shown = self.action if self.data is None else f"{self.action}({self.data})"
        return f"{shown} ret={self.retval}" if self.retval is not None else shown

@dataclass(frozen=True, slots=True)
class AfterExecve:
    """What ``call``, made by the image execve() started, came to (``Oracle.call_after_execve``):
    ``retval`` (None when the process died), ``errno`` (``-retval`` in -4095..-1) and the
    ``signal`` that ended the process, if one did."""

    call: SeccompData
    retval: int | None
    errno: int | None
    signal: int | None


# ------------------------------------------------------------------------------ scenes

_SCENE_KINDS = {"call": 0, "clone": 1, "fork": 2}
_SCENE_FATES = ("returned", "thread", "process", "not run")
_SCENE_POINTERS = {"buf": 0xFFFFFFFE, "selector": 0xFFFFFFFD}
_SCENE_STEP = struct.Struct("<IIq6QIIIiQ")
_SCENE_RESULT = struct.Struct("<qIIiiQiiiiIIQ16s")
_SCENE_SLOTS = 16
_SCENE_MAX_STEPS = 256
_SC_RF_EVENT, _SC_RF_TRAP, _SC_RF_NOTIF, _SC_RF_DISPATCH = 1, 2, 4, 8
_SC_THREAD_FLAGS = 0x50F00  # CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM
_SCENE_STACK = 1 << 16


@dataclass(frozen=True, slots=True)
class SceneStep:
    """One step of a scene: the thread in ``slot`` makes one system call.

    ``kind``: ``"call"`` (``nr`` is the whole number register, so it may have bits above 32;
    ``Target.nr_mask`` says which the kernel uses), ``"clone"`` (a thread, CLONE_VM|CLONE_FS|
    CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, into ``new_slot``) or ``"fork"`` (a child
    process whose thread takes ``new_slot``: fork(2), or clone(SIGCHLD) on an arch without fork).
    ``pointer``: ``(arg index, what)`` puts an address in that argument: filter number ``what``'s
    ``sock_fprog``, ``"buf"`` (16 bytes of the slot, whose first two u32 words are first set to
    the low and high halves of ``buf``, in the arch's order) or
    ``"selector"`` (the slot's user-dispatch selector byte, first set to ``selector``).
    Only calls that are harmless in a throwaway process are accepted (the helper checks).
    """

    slot: int
    nr: int = 0
    args: tuple[int, ...] = ()
    kind: str = "call"
    pointer: tuple[int, int | str] | None = None
    new_slot: int = 0
    selector: int | None = None
    buf: int = 0

    def pack(self) -> bytes:
        if self.kind not in _SCENE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(_SCENE_KINDS)}, not {self.kind!r}")
        if not 0 <= self.slot < _SCENE_SLOTS or not 0 <= self.new_slot < _SCENE_SLOTS:
            raise ValueError(f"slots are 0..{_SCENE_SLOTS - 1}")
        args = tuple(self.args) + (0,) * (6 - len(self.args))
        where, what = self.pointer if self.pointer is not None else (0xFFFFFFFF, 0)
        what = _SCENE_POINTERS.get(what, what)
        nr = self.nr - (1 << 64) if self.nr >= 1 << 63 else self.nr
        return _SCENE_STEP.pack(self.slot, _SCENE_KINDS[self.kind], nr, *args, where, what, self.new_slot,
                                -1 if self.selector is None else self.selector, self.buf)


@dataclass(frozen=True, slots=True)
class SceneOutcome:
    """What one step came to. ``fate``: ``"returned"`` (``retval`` is rax afterwards),
    ``"thread"`` (only the calling thread died, of ``signal``), ``"process"`` (its whole process
    died) or ``"not run"`` (the thread was already dead). ``trace_message``: the data of a
    PTRACE_EVENT_SECCOMP stop; ``siginfo``: a SIGSYS from TRAP or user dispatch (suppressed, as
    if a handler returned); ``notified``: a listener got the call; ``new_tid``: clone/fork's child."""

    step: SceneStep
    fate: str
    retval: int | None
    signal: int | None
    trace_message: int | None
    siginfo: SigInfo | None
    notified: bool
    new_tid: int | None
    buf: bytes


@dataclass(frozen=True, slots=True)
class SceneThread:
    """A slot's thread at the end: ``mode`` (0 disabled, 1 strict, 2 filter, from
    /proc/PID/task/TID/status), ``no_new_privs`` and its filters oldest first
    (PTRACE_SECCOMP_GET_FILTER); ``None`` for a thread that is gone."""

    slot: int
    tid: int
    pid: int
    alive: bool
    signal: int | None
    mode: int | None
    no_new_privs: bool | None
    filters: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Scene:
    """The kernel's answer to a scene: one outcome per step, every slot's thread at the end,
    and the addresses the filters saw: the call site (instruction_pointer of every scripted call
    but clone's, which has ``clone_site``), each filter's ``sock_fprog``, each slot's buffer and
    selector byte, and the stacks new threads get (``clone_args``). ``buf`` holds the kernel's
    bytes in ``arch``'s order."""

    outcomes: tuple[SceneOutcome, ...]
    threads: dict[int, SceneThread]
    call_site: int
    fprog_base: int
    buf_base: int
    selector_base: int
    clone_site: int
    stacks: int
    arch: str = "x86_64"

    def clone_args(self, new_slot: int) -> tuple[int, ...]:
        """What clone(2)'s filters see: the thread flags and the new thread's stack top, in the
        arch's order (``Target.clone_args``)."""
        return Target.of(self.arch).clone_args(_SC_THREAD_FLAGS, self.stacks + _SCENE_STACK * (new_slot + 1))

    def fprog_address(self, index: int) -> int:
        return self.fprog_base + 16 * index

    def buf_address(self, slot: int) -> int:
        return self.buf_base + 16 * slot

    def selector_address(self, slot: int) -> int:
        return self.selector_base + 64 * slot



def is_nonexistent(nr: int, arch: str = "x86_64") -> bool:
    """No syscall has this number, so even an ALLOW only returns ENOSYS (x32 excluded)."""
    u = nr & 0xFFFFFFFF
    if arch == "i386":
        return u >= _NO_SYSCALL_BELOW
    return _NO_SYSCALL_BELOW <= u < abi.X32_SYSCALL_BIT or u >= abi.X32_SYSCALL_BIT + _NO_SYSCALL_BELOW


def _harmless_table(kind: str) -> dict[int, str]:
    """The identity calls of an arch by number (aarch64 has no getpgrp)."""
    if kind in ("x86_64", "i386"):
        return HARMLESS_I386 if kind == "i386" else HARMLESS_X86_64
    from .syscalls import syscall_table
    return {nr: name for nr, name in syscall_table(kind).items() if name in _IDENTITY_CALLS}


def is_harmless(call: SeccompData) -> bool:
    """May this call really run in a throwaway thread if the stack allows it?"""
    kind = _abi(call)
    return call.nr in _harmless_table(kind) or is_nonexistent(call.nr, kind)


def _host_ids() -> dict[str, int]:
    """What the credential calls return in a subject of the local helper."""
    return {"getuid": os.getuid(), "getgid": os.getgid(), "geteuid": os.geteuid(), "getegid": os.getegid()}


_GUEST_IDS = {"getuid": 0, "getgid": 0, "geteuid": 0, "getegid": 0}  # a lab guest's init runs as root


def _natural(call: SeccompData, pid: int, tid: int, ppid: int, pgrp: int, ids: dict[str, int]) -> int | None:
    """What a harmless call returns when it runs; None when it is not harmless."""
    kind = _abi(call)
    name = _harmless_table(kind).get(call.nr)
    if name is None:
        return -errnos.ENOSYS if is_nonexistent(call.nr, kind) else None
    return {"getpid": pid, "gettid": tid, "getppid": ppid, "getpgrp": pgrp, **ids}[name]


def _observable_unguarded(call: SeccompData, ids: dict[str, int]) -> bool:
    """Harmless, and its natural result cannot be mistaken for ERRNO|0."""
    if not is_harmless(call):
        return False
    return ids.get(_harmless_table(_abi(call)).get(call.nr), 1) != 0


def _flag_list(flags, count: int) -> list[int]:
    """``flags`` as one value per filter (None: 0; an int: the same for every filter)."""
    if flags is None:
        return [0] * count
    if isinstance(flags, int):
        return [flags] * count
    flags = list(flags)
    if len(flags) != count:
        raise ValueError("one flags value per filter")
    return flags


def _check_flags(flags: int) -> None:
    """TSYNC would put the filter on the subject's unfiltered main thread too: refuse it."""
    if flags & (abi.SECCOMP_FILTER_FLAG_TSYNC | abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH):
        raise ValueError("the oracle cannot install with SECCOMP_FILTER_FLAG_TSYNC(_ESRCH): "
                         "it would also filter the subject's main thread")


def _filter_bytes(f) -> bytes:
    data = f if isinstance(f, (bytes, bytearray, memoryview)) else f.to_bytes()
    data = bytes(data)
    if len(data) % 8:
        raise ValueError(f"a filter is whole 8-byte sock_filter records, not {len(data)} bytes")
    if len(data) // 8 > 0xFFFF:
        raise ValueError("sock_fprog.len is 16 bits: at most 65535 instructions")
    return data


@dataclass(frozen=True)
class _StackFacts:
    """What the RET instructions of a stack allow the verdict to be (None: anything, RET A)."""

    rets: frozenset[int] | None
    tag: int
    proven: bool

    def possible(self, action: int, data: int | None = None) -> bool:
        if self.rets is None:
            return True
        for k in self.rets:
            if k & 0xFFFF0000 == action and (data is None or k & 0xFFFF == data):
                return True
        return False

    def possible_errno(self, errno: int) -> bool:
        if self.rets is None:
            return True
        return any(k & 0xFFFF0000 == abi.SECCOMP_RET_ERRNO and min(k & 0xFFFF, abi.MAX_ERRNO) == errno
                   for k in self.rets)


def _stack_facts(blobs: Sequence[bytes]) -> _StackFacts:
    rets: set[int] | None = set()
    for blob in blobs:
        for insn in Program.from_bytes(blob):
            if insn.code == _RET_K and rets is not None:
                rets.add(insn.k)
            elif insn.code == _RET_A:
                rets = None
    if not blobs:
        rets = {abi.SECCOMP_RET_ALLOW}  # seccomp_run_filters starts from ALLOW
    traced = set() if rets is None else {k & 0xFFFF for k in rets if k >> 16 == 0x7FF0}
    tag = next(t for t in _GUARD_TAGS if t not in traced)
    proven = rets is not None and not any((k >> 16) in _UNKNOWN_ABOVE_TRACE and k >> 16 != 0x7FFC
                                          for k in rets)
    return _StackFacts(None if rets is None else frozenset(rets), tag, proven)


def _returning(value: int) -> bytes:
    """The one-instruction filter ``RET #value``."""
    return Instruction(_RET_K, 0, 0, value).to_bytes()


def _guard(tag: int) -> bytes:
    return _returning(abi.SECCOMP_RET_TRACE | tag)


# ------------------------------------------------------------------------------ the C helper

def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bpfsim"


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("cc") or shutil.which("gcc")


_SOURCE = Path(__file__).with_name("_oracle.c")
_MARK = b"bpfsim-oracle-source-"  # _oracle.c embeds it with the hash of the source it was built from
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_built: dict[str, object] = {}
_build_lock = threading.Lock()


def _source_hash() -> str:
    return hashlib.sha256(_SOURCE.read_bytes()).hexdigest()[:16]


def _private_dir_fd(path: str | os.PathLike) -> int | None:
    """An fd of directory ``path`` if only this uid can change what it holds, else None.

    Later checks go through the fd, so renaming the directory or its parents afterwards changes
    nothing: what was checked is what is read.
    """
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError:
        return None
    info = os.fstat(fd)
    if info.st_uid == os.geteuid() and not info.st_mode & 0o022:
        return fd
    os.close(fd)
    return None


def _verified_helper(dir_fd: int, name: str, digest: str) -> int | None:
    """An fd of helper ``name`` in ``dir_fd`` if this uid wrote it for this source, else None.

    Issue 16 item 1: a helper another uid could have written (its owner, group/other write, a
    link, a second name) is never executed; neither is one built from another source.
    """
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    info = os.fstat(fd)
    if (stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022
            and info.st_nlink == 1 and info.st_size < 16 << 20):
        content = os.pread(fd, info.st_size, 0)
        if content.startswith(b"\x7fELF") and _MARK + digest.encode() in content:
            return fd
    os.close(fd)
    return None


def _cached_helper(digest: str) -> int | None:
    """The verified helper in the user's cache directory, if there is one."""
    dir_fd = _private_dir_fd(_cache_dir())
    if dir_fd is None:
        return None
    try:
        return _verified_helper(dir_fd, f"oracle-{digest}", digest)
    finally:
        os.close(dir_fd)


def _helper_fd() -> int:
    """An open fd of the helper executable for this source, verified, built at most once per user
    (cached) or, when the cache directory is not the user's alone, once per process."""
    with _build_lock:
        if "fd" not in _built:
            digest = _source_hash()
            fd = _cached_helper(digest)
            _built["fd"] = fd if fd is not None else _build_helper(digest)
        return _built["fd"]


def _helper_executable() -> Path:
    """A path that executes the verified helper (its fd, so nothing can swap the file)."""
    return Path(f"/proc/self/fd/{_helper_fd()}")


def _build_helper(digest: str) -> int:
    """Compile the helper in a private temporary directory and return an fd of it; keep a copy in
    the cache directory when that directory is the user's alone."""
    cc = _compiler()
    if cc is None:
        raise KernelError(errnos.ENOENT, "no C compiler (cc or gcc) to build the oracle helper")
    build = tempfile.mkdtemp(prefix="bpfsim-oracle-")  # mode 0700, owned by us
    made = os.stat(build)
    base = [cc, f"-DBPFSIM_SOURCE_HASH=\"{digest}\"", "-O2", "-fno-stack-protector", "-mno-red-zone",
            "-o", os.path.join(build, "oracle"), str(_SOURCE)]
    try:
        for extra in (["-no-pie"], []):  # non-PIE: the same call site address in every subject
            done = subprocess.run(base[:1] + extra + base[1:], capture_output=True, text=True, timeout=120)
            if done.returncode == 0:
                break
        else:
            raise KernelError(errnos.ENOEXEC, f"cannot build the oracle helper: {done.stderr.strip()[-500:]}")
        dir_fd = _private_dir_fd(build)
        if dir_fd is None or not os.path.samestat(made, os.fstat(dir_fd)):
            raise KernelError(errnos.EPERM, f"the build directory {build} was replaced while building")
        try:
            fd = _verified_helper(dir_fd, "oracle", digest)
        finally:
            os.close(dir_fd)
        if fd is None:
            raise KernelError(errnos.EPERM, f"the helper built in {build} is not the one compiled")
        _keep_in_cache(fd, digest)
        return fd
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _keep_in_cache(fd: int, digest: str) -> None:
    """Copy the helper into the cache directory (created 0700) if it is the user's alone."""
    try:
        os.makedirs(_cache_dir(), 0o700, exist_ok=True)
    except OSError:
        return
    dir_fd = _private_dir_fd(_cache_dir())
    if dir_fd is None:
        return
    temp = f".oracle-{digest}.{os.getpid()}.{threading.get_ident()}"
    try:
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o700,
                      dir_fd=dir_fd)
        with os.fdopen(out, "wb") as file:
            file.write(os.pread(fd, os.fstat(fd).st_size, 0))
        os.replace(temp, f"oracle-{digest}", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
    finally:
        os.close(dir_fd)


class _Worker(guest.Worker):
    """One helper process, driven over pipes with length-prefixed binary messages."""

    def __init__(self, fd: int):
        super().__init__(subprocess.Popen([f"/proc/self/fd/{fd}", str(os.getpid())], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, close_fds=True, pass_fds=(fd,)),
                         "the oracle helper")

    def send(self, op: int, payload: bytes, deadline: float) -> None:
        view = memoryview(struct.pack("<II", op, len(payload)) + payload)
        poller = select.poll()
        poller.register(self.wfd, select.POLLOUT)
        while view:
            try:
                n = os.write(self.wfd, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except BrokenPipeError:
                self._fail(errnos.EPIPE, "the oracle helper exited")
            if not poller.poll(self._left(deadline)):
                self._timeout(deadline)
        self.busy = True

    def recv(self, deadline: float) -> bytes:
        head = self._read(4, deadline)
        body = self._read(struct.unpack("<I", head)[0], deadline)
        self.busy = False
        return body

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, poller = [], select.poll()
        poller.register(self.rfd, select.POLLIN)
        while n:
            try:
                chunk = os.read(self.rfd, min(n, 1 << 20))
            except BlockingIOError:
                if not poller.poll(self._left(deadline)):
                    self._timeout(deadline)
                continue
            if not chunk:
                self._fail(errnos.EPIPE, "the oracle helper exited")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    @staticmethod
    def _left(deadline: float) -> int:
        return max(0, int((deadline - time.monotonic()) * 1000))

    def close(self, force: bool = False) -> None:
        """End the helper (its subjects die with it: PTRACE_O_EXITKILL and PDEATHSIG)."""
        if os.getpid() != self.owner:  # a forked copy: the helper belongs to the parent
            guest.close_pipes(self.proc)
            return
        guest.end_worker(self.proc, self.wfd, None if force else struct.pack("<II", _OP_QUIT, 0), 5)


# ------------------------------------------------------------------------------ the oracle

@dataclass
class _Job:
    blobs: list[bytes]
    flags: list[int]
    calls: list[SeccompData]
    facts: _StackFacts
    guarded: bool
    traced: bool
    listener: int | None
    offset: int  # 1 when the guard is filter 0
    ids: dict[str, int]  # what getuid() and friends return where the calls run


class Oracle:
    """A pool of helper processes (one per CPU, at most ``workers``) answering kernel questions."""

    def __init__(self, workers: int | None = None, timeout: float = 20.0, *,
                 answer_notifications: bool = True, kernel: str | None = None):
        """``kernel``: the name of a lab kernel (``bpfsim.distros.DISTRO_KERNELS``) to ask instead of
        the machine's own; its helper runs as the init of one qemu guest (``make lab``)."""
        self.guest = guest.lab_kernel(kernel) if kernel is not None else None
        self.arch = self.guest.arch if self.guest else "x86_64"
        self.size = 1 if self.guest else workers or max(1, min(2, os.cpu_count() or 1))
        self.ids = _GUEST_IDS if self.guest else _host_ids()
        self.timeout = timeout
        self.answer_notifications = answer_notifications  # False leaves notified threads blocked
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.suspended: bool | None = None

    def _pool(self) -> list[_Worker]:
        if any(w.owner != os.getpid() for w in self._workers):  # we are a fork: start our own
            for w in self._workers:
                w.close()
            self._workers = []
        self._workers = [w for w in self._workers if w.alive()]
        while len(self._workers) < self.size:
            self._workers.append(guest.GuestWorker(self.guest) if self.guest else _Worker(_helper_fd()))
        return self._workers

    @property
    def target(self) -> Target:
        """The native ``Target`` of the kernel asked (x86_64 for the machine's own; a lab guest's
        arch otherwise): where a test takes its syscall numbers and arch from."""
        return Target.of(self.arch)

    def helper_pids(self) -> list[int]:
        """Process ids of the running helpers (each forks and reaps its own subjects)."""
        return [w.proc.pid for w in self._workers if w.alive()]

    _ips: dict[tuple[str, str], int] = {}

    def instruction_pointer(self, arch: str | None = None) -> int:
        """seccomp_data.instruction_pointer of every call made with ``arch`` (default: the oracle's
        native arch; the helper is non-PIE)."""
        arch = arch or self.arch
        key = (guest.initrd(self.arch).name if self.guest else _source_hash(), arch)
        if key not in Oracle._ips:
            nr = next(nr for nr, name in _harmless_table(arch).items() if name == "getpid")
            trap = _returning(abi.SECCOMP_RET_TRAP)
            Oracle._ips[key] = self.run_calls([trap], [SeccompData(nr, arch)])[0].siginfo.si_call_addr
        return Oracle._ips[key]

    def __del__(self):
        for w in getattr(self, "_workers", ()):
            try:
                w.close(force=True)
            except Exception:
                pass

    def close(self) -> None:
        """End every helper this oracle started."""
        with self._lock:
            for w in self._workers:
                w.close()
            self._workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests --------------------------------------------------------------------------

    def _ask(self, op: int, payload: bytes, timeout: float | None = None) -> tuple[bytes, _Worker]:
        with self._lock:
            worker = self._pool()[0]
            deadline = time.monotonic() + (timeout or self.timeout) + 2
            worker.send(op, payload, deadline)
            return worker.recv(deadline), worker

    def hello(self) -> bool:
        """Start a helper and its first subject; True when installs run under SUSPEND_SECCOMP."""
        body, _ = self._ask(_OP_HELLO, b"")
        status, suspended, _pid = struct.unpack_from("<3I", body)
        if status != _ST_OK:
            raise KernelError(errnos.EIO, "the oracle helper could not start a subject process")
        self.suspended = bool(suspended)
        return self.suspended

    def _native_abis(self) -> tuple[str, ...]:
        """The ways this oracle's subjects can make a call (``_abi``)."""
        return ("x86_64", "i386") if self.arch == "x86_64" else (self.arch,)

    def _job(self, filters, calls, flags, tracer, listener, guard, other_tag: bool = False) -> _Job:
        blobs = [_filter_bytes(f) for f in filters]
        calls = list(calls)
        native = self._native_abis()
        for call in calls:
            if _abi(call) not in native:
                where = f"lab kernel {self.guest.name}" if self.guest else "this machine's kernel"
                raise ValueError(f"{where} cannot make {_abi(call)} calls (only {', '.join(native)})")
        flags = _flag_list(flags, len(blobs))
        for fl in flags:
            _check_flags(fl)
        if listener is not None:
            if not 0 <= listener < len(blobs):
                raise ValueError(f"listener {listener} is not a filter index")
            flags[listener] |= abi.SECCOMP_FILTER_FLAG_NEW_LISTENER
        if len(calls) > _MAX_CALLS:
            raise ValueError(f"at most {_MAX_CALLS} calls per stack")
        if len(blobs) >= _MAX_FILTERS:
            raise ValueError(f"at most {_MAX_FILTERS - 1} filters (the kernel's budget allows 3641)")
        facts = _stack_facts(blobs)
        if other_tag:  # a second guard tag tells a stack's TRACE with the first tag from LOG/ALLOW
            taken = {facts.tag} | ({k & 0xFFFF for k in facts.rets if k >> 16 == 0x7FF0} if facts.rets else set())
            facts = replace(facts, tag=next(t for t in _GUARD_TAGS if t not in taken))
        if guard is None:
            guard = not all(_observable_unguarded(c, self.ids) for c in calls)
        elif not guard and not all(is_harmless(c) for c in calls):
            unsafe = next(c for c in calls if not is_harmless(c))
            raise ValueError(f"refusing to run {unsafe} without the guard: it is not harmless")
        offset = 1 if guard else 0
        if guard:
            blobs = [_guard(facts.tag)] + blobs
            flags = [0] + flags
        return _Job(blobs, flags, calls, facts, bool(guard), bool(tracer or guard), listener, offset,
                    self.ids)

    def _run_payload(self, job: _Job, timeout_ms: int) -> bytes:
        opts = (1 if job.traced else 0) | (0 if self.answer_notifications else 2)
        parts = [struct.pack("<5I", len(job.blobs), len(job.calls), opts, NOTIF_ERRNO, timeout_ms)]
        for fl, blob in zip(job.flags, job.blobs):
            parts.append(struct.pack("<II", fl, len(blob) // 8))
            parts.append(blob)
        pack = _CALL.pack
        parts.extend(pack(1 if _abi(c) == "i386" else 0, c.nr, *c.args) for c in job.calls)
        return b"".join(parts)

    def _timeout_for(self, ncalls: int) -> float:
        return self.timeout + ncalls * 0.005

    def run_calls(self, filters: Sequence, calls: Iterable[SeccompData], *, flags=None,
                  tracer: bool = False, listener: int | None = None,
                  guard: bool | None = None, resolve: bool = True) -> list[Observation]:
        """Install ``filters`` (install order) in a fresh thread, make each call, report.

        ``flags``: one int for all filters or one per filter. ``tracer``: attach a tracer with
        PTRACE_O_TRACESECCOMP that skips every traced call. ``listener``: filter index that gets
        SECCOMP_FILTER_FLAG_NEW_LISTENER, answered by a supervisor with ``-NOTIF_ERRNO``.
        ``guard``: None = only when some call is not harmless; False refuses unsafe calls.
        ``resolve``: rerun ambiguous calls with probes to narrow ``candidates`` (see
        ``run_batch``). Raises ``KernelInstallError`` when the kernel refuses the stack and
        ``KernelError`` when the kernel could not be asked (timeouts included).
        """
        result = self.run_batch([(filters, calls)], flags=flags, tracer=tracer,
                                listener=listener, guard=guard, resolve=resolve)[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def run_batch(self, items: Iterable[tuple[Sequence, Sequence]], *, flags=None,
                  tracer: bool = False, listener: int | None = None, guard: bool | None = None,
                  resolve: bool = True) -> list[list[Observation] | KernelInstallError]:
        """``run_calls`` for many (filters, calls) pairs at once, spread over the helpers.

        An install refusal is returned in place of that pair's outcomes, not raised. With
        ``resolve``, calls whose result had several causes (``ENOSYS_AMBIGUOUS``,
        ``ZERO_AMBIGUOUS``) are rerun on fresh threads (filters are pure functions of the same
        seccomp_data, so they decide the same): once guarded with a tracer (ALLOW/LOG show as
        the guard's tag, TRACE as its data) and once with a *probe*, a newest filter returning
        USER_NOTIF with a listener (notified unless the verdict outranks USER_NOTIF, i.e. it was
        the ERRNO). ``retval``/``errno`` stay those of the requested setup; only ``candidates``
        (and ``action``/``data`` when one remains) are narrowed.
        """
        items = [(list(f), list(c)) for f, c in items]
        jobs = [self._job(f, c, flags, tracer, listener, guard) for f, c in items]
        results = self._run_jobs(jobs)
        if resolve:
            self._resolve(items, jobs, results, flags, tracer, listener)
        return results

    def _run_jobs(self, jobs: list[_Job]) -> list:
        requests = []
        for job in jobs:
            budget = self._timeout_for(len(job.calls))
            requests.append((_OP_RUN, self._run_payload(job, int(budget * 1000)), budget))
        return [self._decode_run(job, body) for job, body in zip(jobs, self._dispatch(requests))]

    def _resolve(self, items, jobs, results, flags, tracer, listener) -> None:
        """Narrow ambiguous outcomes in place with the guarded rerun and the USER_NOTIF probe."""
        todo: dict[int, list[int]] = {}
        for j, result in enumerate(results):
            if isinstance(result, list):
                for i, outcome in enumerate(result):
                    if outcome.action in ("ENOSYS_AMBIGUOUS", "ZERO_AMBIGUOUS"):
                        todo.setdefault(j, []).append(i)
        if not todo:
            return
        probe = _returning(abi.SECCOMP_RET_USER_NOTIF)
        reruns: list[tuple[str, int, list[int], _Job]] = []
        for j, idx in todo.items():
            filters, calls = items[j][0], [jobs[j].calls[i] for i in idx]
            if not jobs[j].guarded:
                reruns.append(("guarded", j, idx, self._job(filters, calls, flags, True, listener, True)))
                if not jobs[j].facts.proven:
                    reruns.append(("guarded", j, idx, self._job(filters, calls, flags, True, listener,
                                                                 True, other_tag=True)))
            # Listeners do not change verdicts: the stack's own go, so the probe may have one.
            fl = [f & ~abi.SECCOMP_FILTER_FLAG_NEW_LISTENER for f in _flag_list(flags, len(filters))]
            reruns.append(("probe", j, idx, self._job(filters + [probe], calls, fl + [0], tracer,
                                                       len(filters), jobs[j].guarded)))
        answers = self._run_jobs([job for _, _, _, job in reruns])
        for (kind, j, idx, _), answer in zip(reruns, answers):
            if not isinstance(answer, list):
                continue  # the rerun could not install (budget): keep what we know
            for i, seen in zip(idx, answer):
                mine = results[j][i]
                if kind == "guarded":
                    narrowed = _intersect(mine.candidates, seen.candidates)
                elif seen.action == "USER_NOTIF":
                    narrowed = [c for c in mine.candidates if c[0] != "ERRNO"]
                elif seen.retval == mine.retval:
                    narrowed = [c for c in mine.candidates if c[0] == "ERRNO"]
                else:
                    narrowed = []
                if narrowed:
                    name, data = _name(narrowed, mine.retval)
                    results[j][i] = replace(mine, action=name, data=data, candidates=tuple(narrowed))

    def _dispatch(self, requests: list[tuple[int, bytes, float]]) -> list[bytes]:
        """Send (op, payload, seconds) requests over all helpers, one in flight per helper."""
        results: list = [None] * len(requests)
        with self._lock:
            workers = self._pool()
            pending = list(range(len(requests) - 1, -1, -1))
            running: dict[int, tuple[_Worker, int, float]] = {}
            try:
                while pending or running:
                    for w in workers:
                        if not w.busy and pending:
                            i = pending.pop()
                            op, payload, budget = requests[i]
                            deadline = time.monotonic() + budget + 2
                            w.send(op, payload, deadline)
                            running[w.rfd] = (w, i, deadline)
                    poller = select.poll()
                    for fd in running:
                        poller.register(fd, select.POLLIN)
                    soonest = min(d for _, _, d in running.values())
                    ready = poller.poll(max(0, int((soonest - time.monotonic()) * 1000)))
                    if not ready:
                        w, i, deadline = min(running.values(), key=lambda r: r[2])
                        w._timeout(deadline)
                        continue
                    for fd, _ in ready:
                        w, i, deadline = running.pop(fd)
                        results[i] = w.recv(deadline)
            except BaseException:
                for w, _, _ in running.values():
                    w.close(force=True)
                raise
        return results

    def _decode_run(self, job: _Job, body: bytes):
        (status, index, err, sig, suspended, _restarts, server_pid, n) = _RUN_HEAD.unpack_from(body)
        self.suspended = bool(suspended)
        if status == _ST_TIMEOUT:
            raise KernelError(errnos.ETIMEDOUT, "a subject hung and was killed")
        if status == _ST_TOOBIG:
            raise KernelError(errnos.E2BIG, "request too large for the oracle helper")
        if status != _ST_OK:
            raise KernelError(errnos.EIO, "the oracle helper failed to run the stack")
        if index >= 0:
            if index < job.offset:
                raise KernelError(err or errnos.EIO, "the kernel refused the oracle's guard filter")
            return KernelInstallError(err, index - job.offset, guarded=job.guarded,
                                      blocked=sig if sig else None, suspended=bool(suspended))
        pgrp = server_pid if self.guest else os.getpgid(server_pid)  # a guest's server leads its group
        out = []
        for call, rec in zip(job.calls, _RESULT.iter_unpack(body[_RUN_HEAD.size:])):
            out.append(_classify(job, call, rec, server_pid, pgrp))
        return out

    def install_error(self, filters: Sequence, flags=None) -> tuple[int, int] | None:
        """(index, errno) of the first filter of the stack the kernel refuses, or None."""
        job = self._job(filters, [], flags, False, None, False)
        result = self._decode_run(job, self._ask(_OP_RUN, self._run_payload(job, int(self.timeout * 1000)))[0])
        if isinstance(result, KernelInstallError):
            return result.index, result.errno
        return None

    def install_result(self, filters: Sequence, flags=None) -> int | None:
        """The errno with which seccomp(2) refuses the stack (its first refused filter), or None."""
        found = self.install_error(filters, flags)
        return None if found is None else found[1]

    def check_programs(self, programs: Iterable, flags: int = 0) -> list[int | None]:
        """For each program alone on a fresh thread: None if seccomp(2) accepts it, else errno.

        Accepted programs share a thread while that cannot change a later verdict: installs run
        under PTRACE_O_SUSPEND_SECCOMP and the budget left is larger than any program could
        need (3 + 5 converted instructions per instruction, no JIT blinding, no listener).
        """
        _check_flags(flags)
        blobs = [_filter_bytes(p) for p in programs]
        share = 0 if flags & abi.SECCOMP_FILTER_FLAG_NEW_LISTENER else 1  # the helper checks JIT blinding
        chunks, start = [], 0
        per_worker = max(1, -(-len(blobs) // self.size))
        while start < len(blobs):
            end, size = start, 0
            while (end < len(blobs) and end - start < min(_MAX_FILTERS, per_worker)
                   and size + len(blobs[end]) <= _MAX_INSN_BYTES):
                size += len(blobs[end])
                end += 1
            chunks.append(blobs[start:end])
            start = end
        requests = []
        for chunk in chunks:
            budget = self.timeout + 0.002 * len(chunk)
            payload = [struct.pack("<III", len(chunk), int(budget * 1000), share)]
            for blob in chunk:
                payload.append(struct.pack("<II", flags, len(blob) // 8))
                payload.append(blob)
            requests.append((_OP_EACH, b"".join(payload), budget))
        out: list[int | None] = []
        for body in self._dispatch(requests):
            status, suspended, n = struct.unpack_from("<3I", body)
            if status != _ST_OK:
                raise KernelError(errnos.ETIMEDOUT if status == _ST_TIMEOUT else errnos.EIO,
                                  "the oracle helper failed to check programs")
            self.suspended = bool(suspended)
            out.extend(-r if r < 0 else None for r in struct.unpack_from(f"<{n}i", body, 12))
        return out

    def run_scene(self, filters: Sequence, steps: Sequence[SceneStep], *, tracer: bool = False,
                  no_new_privs: bool = True, timeout: float | None = None) -> Scene:
        """Run ``steps`` in order in a fresh subject process (slot 0 is its main thread), with
        ``filters`` the programs that steps install through a ``pointer``; see ``SceneStep``.

        ``tracer``: every thread is traced with PTRACE_O_TRACESECCOMP and the tracer resumes
        each stopped call (the kernel's recheck then runs). ``no_new_privs=False`` leaves the
        bit clear, so installs rely on the helper's CAP_SYS_ADMIN. The helper answers every
        notification of a listener a step gets; where it cannot (a thread whose leader has exited
        got the listener, before 6.9) the scene ends in ``KernelError(EOPNOTSUPP)``, and one that
        outlasts ``timeout`` in ``KernelError(ETIMEDOUT)``.
        """
        if len(steps) > _SCENE_MAX_STEPS:
            raise ValueError(f"a scene has at most {_SCENE_MAX_STEPS} steps")
        blobs = [_filter_bytes(f) for f in filters]
        budget = timeout or self.timeout
        payload = [struct.pack("<4I", len(blobs), len(steps), (1 if tracer else 0) | (0 if no_new_privs else 2),
                               int(budget * 1000))]
        for blob in blobs:
            payload.append(struct.pack("<II", 0, len(blob) // 8) + blob)
        payload.extend(step.pack() for step in steps)
        body, _ = self._ask(_OP_SCENE, b"".join(payload), budget)
        (status,) = struct.unpack_from("<I", body)
        if status == _ST_OUT_OF_REACH:
            raise KernelError(errnos.EOPNOTSUPP, "a thread whose process leader has exited got a listener: the "
                              "helper cannot copy it to answer its notifications before Linux 6.9 (PIDFD_THREAD)")
        if status != _ST_OK:
            raise KernelError({_ST_TIMEOUT: errnos.ETIMEDOUT, _ST_TOOBIG: errnos.E2BIG}.get(status, errnos.EINVAL),
                              "the oracle helper could not run the scene" +
                              (" (a step it may not run?)" if status == _ST_ERROR else ""))
        call_site, fprog_base, buf_base, selector_base, clone_site, stacks = struct.unpack_from("<6Q", body, 4)
        (nslots,) = struct.unpack_from("<I", body, 52)
        pos, threads = 56, {}
        for slot in range(nslots):
            tid, pid, state, sig, mode, nnp, count = struct.unpack_from("<7i", body, pos)
            pos += 28
            blobs_out = []
            for _ in range(count):
                (n,) = struct.unpack_from("<I", body, pos)
                blobs_out.append(body[pos + 4:pos + 4 + 8 * n])
                pos += 4 + 8 * n
            if state:
                threads[slot] = SceneThread(slot, tid, pid, state == 1, sig if state == 2 else None,
                                            mode if mode >= 0 else None, bool(nnp) if nnp >= 0 else None,
                                            tuple(blobs_out))
        (n,) = struct.unpack_from("<I", body, pos)
        outcomes = []
        for step, rec in zip(steps, _SCENE_RESULT.iter_unpack(body[pos + 4:pos + 4 + n * _SCENE_RESULT.size])):
            (ret, fate, flags, sig, new_tid, msg, signo, code, err, syscall_nr, arch, _pad, addr, buf) = rec
            fate = _SCENE_FATES[fate]
            info = (SigInfo(signo, code, err, syscall_nr, arch, addr)
                    if flags & (_SC_RF_TRAP | _SC_RF_DISPATCH) else None)
            outcomes.append(SceneOutcome(step, fate, ret if fate == "returned" else None,
                                         sig if fate in ("thread", "process") else None,
                                         msg if flags & _SC_RF_EVENT else None, info, bool(flags & _SC_RF_NOTIF),
                                         new_tid or None, buf))
        return Scene(tuple(outcomes), threads, call_site, fprog_base, buf_base, selector_base, clone_site, stacks,
                     self.arch)

    def notify_ioctls(self) -> dict[str, int | None]:
        """What each user-notification ioctl after the first ones gets on a fresh listener, with
        an id no notification has: ``{"ADDFD": e, "ADDFD_SEND": e, "SET_FLAGS": e}``, e the errno
        or None for success. A kernel that does not know the ioctl or flag says EINVAL
        (kernel/seccomp.c:seccomp_notify_ioctl, seccomp_notify_addfd); one that knows it looks
        the id up (ENOENT; SET_FLAGS with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP succeeds)."""
        body, _ = self._ask(_OP_NOTIF_IOCTLS, b"")
        status, *results = struct.unpack_from(f"<I{len(NOTIF_IOCTLS)}i", body)
        if status != _ST_OK or -1000 in results:
            raise KernelError(errnos.EIO, "the oracle helper could not take a listener to try its ioctls")
        return {name: -r if r else None for name, r in zip(NOTIF_IOCTLS, results)}

    def call_after_execve(self, filters: Sequence, call: SeccompData, *, flags=None) -> "AfterExecve":
        """Install ``filters`` in a fresh process (in order, with no_new_privs, as a program does),
        execve() the helper, and make ``call`` (getpid, getppid or gettid) from the new image.
        Raises ``KernelInstallError`` when
        a filter refuses a later install, ValueError for any other call."""
        name = _harmless_table(_abi(call)).get(call.nr)
        if name not in ("getpid", "getppid", "gettid") or _abi(call) not in self._native_abis():
            raise ValueError(f"after execve the oracle makes only native getpid, getppid or gettid, not {call}")
        blobs = [_filter_bytes(f) for f in filters]
        parts = [struct.pack("<II", len(blobs), int(self.timeout * 1000)), _CALL.pack(0, call.nr, *call.args)]
        for fl, blob in zip(_flag_list(flags, len(blobs)), blobs):
            _check_flags(fl)
            parts.append(struct.pack("<II", fl, len(blob) // 8) + blob)
        body, _ = self._ask(_OP_EXEC, b"".join(parts))
        status, index, err, wait_status, returned, ret = struct.unpack_from("<IiiiIq", body)
        if status != _ST_OK:
            raise KernelError(errnos.ETIMEDOUT if status == _ST_TIMEOUT else errnos.EIO,
                              "the oracle helper could not run the call after execve")
        if index >= 0:
            raise KernelInstallError(err, index, guarded=False, blocked=None, suspended=False)
        if err:
            raise KernelError(err, "the oracle helper could not execve itself")
        signal = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
        retval = ret if returned else None
        return AfterExecve(call, retval, -ret if returned and -4095 <= ret < 0 else None, signal)

    def shared_mm_kill(self, dumpable: bool = True) -> tuple[int | None, int | None]:
        """A process clone()s a child with CLONE_VM but not CLONE_THREAD, and the child's filter
        kills the process (KILL_PROCESS, a core-dumping SIGSYS): which signals ended (child,
        parent), None for one that lived. Before 0258b5fd7c71 (5.16) the core dump's zap_threads
        (fs/coredump.c) also killed the parent, which shares the mm, unless it was not
        ``dumpable`` (PR_SET_DUMPABLE 0: do_coredump gives up before zapping)."""
        body, _ = self._ask(_OP_SHARED_MM_KILL, struct.pack("<I", int(dumpable)))
        status, parent, child = struct.unpack_from("<Iii", body)
        if status != _ST_OK:
            raise KernelError(errnos.EIO, "the oracle helper could not clone(CLONE_VM) a child")
        ended = lambda st: os.WTERMSIG(st) if st != -1 and os.WIFSIGNALED(st) else None
        return (ended(child) if child != -1 else None), ended(parent)

    def strict_mode_allows(self, call: SeccompData) -> bool:
        """Whether a thread in SECCOMP_MODE_STRICT may make ``call`` (its number and args[0]):
        a forbidden call ends it with SIGKILL before it runs (__secure_computing_strict). The
        child that asks has closed every descriptor, so an allowed read or write fails with
        EBADF; an allowed call is stopped at its syscall-exit stop and killed, so a sigreturn
        without a signal frame never resumes."""
        kind = _abi(call)
        if kind not in self._native_abis():
            raise ValueError(f"this oracle cannot make {kind} calls")
        body, _ = self._ask(_OP_STRICT, struct.pack("<IiQ", 1 if kind == "i386" else 0, call.nr, call.args[0]))
        status, ran, _wait_status = struct.unpack_from("<III", body)
        if status != _ST_OK:
            raise KernelError(errnos.ETIMEDOUT if status == _ST_TIMEOUT else errnos.EIO,
                              "the oracle helper could not make a call in strict mode")
        return bool(ran)

    def dump_filters(self, pid: int) -> list[bytes]:
        """Every filter attached to thread ``pid``, oldest first (PTRACE_SECCOMP_GET_FILTER)."""
        if not 0 < pid < 1 << 31 or pid == os.getpid():  # pid_t is 32-bit signed
            raise KernelError(errnos.EINVAL, f"cannot dump thread {pid} (use another process)")
        body, _ = self._ask(_OP_DUMP, struct.pack("<iI", pid, int(self.timeout * 1000)))
        err, count = struct.unpack_from("<II", body)
        if err:
            reason = {
                errnos.ESRCH: f"no thread {pid}",
                errnos.EPERM: _why_not_traceable(pid),
                errnos.EACCES: f"not allowed to read the filters of thread {pid} (needs CAP_SYS_ADMIN)",
                errnos.EINVAL: f"thread {pid} is not in seccomp filter mode",
                errnos.EMEDIUMTYPE: f"thread {pid} has a filter the kernel cannot dump",
            }.get(err, f"cannot read the filters of thread {pid}")
            raise KernelError(err, reason)
        out, pos = [], 8
        for _ in range(count):
            (n,) = struct.unpack_from("<I", body, pos)
            out.append(body[pos + 4:pos + 4 + 8 * n])
            pos += 4 + 8 * n
        return out


_PF_KTHREAD = 0x00200000  # include/linux/sched.h


def _why_not_traceable(pid: int) -> str:
    """What PTRACE_SEIZE's EPERM meant for ``pid``: kernel/ptrace.c ptrace_attach refuses kernel
    threads, exited tasks and tasks already traced with the same EPERM as a denied access."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat_line = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except OSError:
        status, stat_line = "", ""
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    after_name = stat_line.rpartition(")")[2].split()  # state, ppid, ..., flags is the 7th
    if len(after_name) > 6 and int(after_name[6]) & _PF_KTHREAD:
        return f"thread {pid} is a kernel thread, which has no seccomp filters"
    if after_name and after_name[0] in ("Z", "X"):
        return f"thread {pid} has exited (a zombie): its filters are gone"
    tracer = int(fields.get("TracerPid", "0").strip() or 0)
    if tracer:
        return f"thread {pid} is already traced by process {tracer}; a thread has one tracer at a time"
    if os.geteuid() != 0:
        return f"not permitted to trace thread {pid}: reading filters needs root (CAP_SYS_ADMIN)"
    return f"not permitted to trace thread {pid} (a security module or ptrace_scope refuses it)"


def _classify(job: _Job, call: SeccompData, rec, server_pid: int, pgrp: int) -> Observation:
    """Turn one raw record of the helper into an Observation with the exact set of consistent verdicts."""
    (_state, fate, flags, sig, pid, tid, ret, msg, si_signo, si_code, si_errno, si_syscall,
     si_arch, _pad, si_addr, sd) = rec
    facts = job.facts
    common = dict(call=call, guarded=job.guarded, traced=job.traced,
                  seccomp_data=SeccompData.from_bytes(sd, byteorder=call.byteorder) if flags & _RF_SD else None)
    kind = _abi(call)
    i386 = kind == "i386"
    ran = _RAN_OUTSIDE_A_PROBE.get(call.nr) if kind == "x86_64" else None
    if fate == _FATE_NOT_RUN:
        raise KernelError(errnos.EIO, f"the oracle did not run {call}")
    if fate in (_FATE_THREAD, _FATE_PROCESS):
        core = bool(flags & _RF_CORE)
        if ran == ("signal", sig):
            name, cands = "NOT_FILTERED", _BYPASS_IS_ALLOW
        elif sig != signals.SIGSYS:
            name, cands = "SIGNALED", ()
        elif fate == _FATE_THREAD:
            name, cands = "KILL_THREAD", (("KILL_THREAD", None),)
        else:
            name, cands = "KILL_PROCESS", (("KILL_PROCESS", None),)
        return Observation(action=name, data=None, retval=None, errno=None, candidates=cands,
                           signal=sig, core_dump=core, **common)
    if i386:
        ret = ((ret & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
    err = -ret if -abi.MAX_ERRNO <= ret <= -1 else None
    base = dict(retval=ret, errno=err, **common)
    if flags & _RF_TRAP:
        info = SigInfo(si_signo, si_code, si_errno, si_syscall, si_arch, si_addr)
        return Observation(action="TRAP", data=si_errno, candidates=(("TRAP", si_errno),), siginfo=info,
                           **base)
    if flags & _RF_NOTIF:
        return Observation(action="USER_NOTIF", data=None, candidates=(("USER_NOTIF", None),), **base)
    if flags & _RF_EVENT:
        if job.guarded and msg == facts.tag:
            if facts.proven:
                cands = tuple((a, None) for a in ("LOG", "ALLOW")
                              if facts.possible(getattr(abi, f"SECCOMP_RET_{a}")))
                return Observation(action="LOG_OR_ALLOW", data=None, candidates=cands, **base)
            cands = (("LOG", None), ("ALLOW", None), ("TRACE", msg), ("KILL_PROCESS", None))
            return Observation(action="GUARDED", data=None, candidates=cands, **base)
        return Observation(action="TRACE", data=msg, candidates=(("TRACE", msg),), **base)
    if ran == ("errno", err):
        if facts.possible_errno(err):
            return Observation(action="ENXIO_AMBIGUOUS", data=None, candidates=(*_BYPASS_IS_ALLOW, ("ERRNO", err)),
                               **base)
        return Observation(action="NOT_FILTERED", data=None, candidates=_BYPASS_IS_ALLOW, **base)
    natural = None if job.guarded else _natural(call, pid, tid, server_pid, pgrp, job.ids)
    cands: list[tuple[str, int | None]] = []
    if natural is not None and ret == natural:
        cands += [(a, None) for a in ("LOG", "ALLOW") if facts.possible(getattr(abi, f"SECCOMP_RET_{a}"))]
    if ret == 0:
        cands.append(("ERRNO", 0))
    elif err is not None:
        if err != errnos.ENOSYS or facts.possible_errno(err):
            cands.append(("ERRNO", err))
        if err == errnos.ENOSYS:
            if not job.traced and facts.possible(abi.SECCOMP_RET_TRACE):
                cands.append(("TRACE", None))
            if facts.possible(abi.SECCOMP_RET_USER_NOTIF):
                cands.append(("USER_NOTIF", None))
    if not cands:
        raise KernelError(errnos.EIO, f"unexplained result {ret} for {call}")
    name, data = _name(cands, ret)
    return Observation(action=name, data=data, candidates=tuple(cands), **base)


def _name(cands, ret: int) -> tuple[str, int | None]:
    """The action to report for a returned call with these candidate verdicts."""
    names = {c[0] for c in cands}
    if names <= {"LOG", "ALLOW"}:
        return "LOG_OR_ALLOW", None
    if len(cands) == 1:
        return cands[0]
    return ("ZERO_AMBIGUOUS" if ret == 0 else "ENOSYS_AMBIGUOUS"), None


def _intersect(mine, theirs) -> list[tuple[str, int | None]]:
    """Verdicts in both candidate lists; a known data value refines an unknown one."""
    out = []
    for name, data in mine:
        for other, more in theirs:
            if name == other and (data is None or more is None or data == more):
                out.append((name, data if more is None else more))
    return out


# ------------------------------------------------------------------------------ module API

_default: Oracle | None = None
_default_lock = threading.Lock()
_reason: list[str | None] = []


ORACLE_KERNEL_VARIABLE = "BPFSIM_ORACLE_KERNEL"


def default_kernel_name() -> str | None:
    """The lab kernel the module's functions ask (``$BPFSIM_ORACLE_KERNEL``, e.g.
    ``debian-6.12-arm64``), or None for the machine's own: one switch that sends every kernel
    check of a test suite to a qemu guest (``make lab-test``)."""
    return os.environ.get(ORACLE_KERNEL_VARIABLE) or None


def default_oracle() -> Oracle:
    """The shared oracle the module's functions ask, started on first use: this machine's
    kernel, or the lab guest of ``default_kernel_name``."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Oracle(kernel=default_kernel_name())
            atexit.register(_default.close)
        return _default


def seccomp_unavailable_reason() -> str | None:
    """None when this machine can run the oracle, else why not (used by tests to skip)."""
    if _reason:
        return _reason[0]
    reason = None
    guest_kernel = default_kernel_name()
    if guest_kernel is None and sys.platform != "linux":
        reason = f"the kernel oracle needs Linux, not {sys.platform}"
    elif guest_kernel is None and platform.machine() not in ("x86_64", "AMD64"):
        reason = f"the kernel oracle's helper is x86_64-only, not {platform.machine()}"
    else:
        try:
            oracle = default_oracle()
            oracle.hello()
            getpid = next(nr for nr, name in _harmless_table(oracle.arch).items() if name == "getpid")
            got = oracle.run_calls([_returning(abi.SECCOMP_RET_ERRNO | 1)], [SeccompData(getpid, oracle.arch)])[0]
            if got.action != "ERRNO" or got.data != 1:
                reason = f"seccomp does not behave as expected here (ERRNO|1 gave {got})"
        except (KernelError, KernelInstallError, OSError) as failure:
            where = f"lab kernel {guest_kernel}" if guest_kernel else "a child"
            reason = f"cannot install seccomp filters in {where}: {failure}"
    _reason.append(reason)
    return reason


def run_calls(filters: Sequence, calls: Iterable[SeccompData], *, flags=None, tracer: bool = False,
              listener: int | None = None, guard: bool | None = None,
              resolve: bool = True) -> list[Observation]:
    """``Oracle.run_calls`` on the shared default oracle."""
    return default_oracle().run_calls(filters, calls, flags=flags, tracer=tracer, listener=listener,
                                      guard=guard, resolve=resolve)


def run_batch(items, *, flags=None, tracer: bool = False, listener: int | None = None,
              guard: bool | None = None, resolve: bool = True):
    """``Oracle.run_batch`` on the shared default oracle."""
    return default_oracle().run_batch(items, flags=flags, tracer=tracer, listener=listener, guard=guard,
                                      resolve=resolve)


def install_result(filters: Sequence, flags=None) -> int | None:
    """``Oracle.install_result`` on the shared default oracle."""
    return default_oracle().install_result(filters, flags)


def install_error(filters: Sequence, flags=None) -> tuple[int, int] | None:
    """``Oracle.install_error`` on the shared default oracle."""
    return default_oracle().install_error(filters, flags)


def check_programs(programs: Iterable, flags: int = 0) -> list[int | None]:
    """``Oracle.check_programs`` on the shared default oracle."""
    return default_oracle().check_programs(programs, flags)


def dump_filters(pid: int) -> list[bytes]:
    """``Oracle.dump_filters`` on the shared default oracle."""
    return default_oracle().dump_filters(pid)


def notify_ioctls() -> dict[str, int | None]:
    """``Oracle.notify_ioctls`` on the shared default oracle."""
    return default_oracle().notify_ioctls()


def strict_mode_allows(call: SeccompData) -> bool:
    """``Oracle.strict_mode_allows`` on the shared default oracle."""
    return default_oracle().strict_mode_allows(call)


def shared_mm_kill(dumpable: bool = True) -> tuple[int | None, int | None]:
    """``Oracle.shared_mm_kill`` on the shared default oracle."""
    return default_oracle().shared_mm_kill(dumpable)


def call_after_execve(filters: Sequence, call: SeccompData, *, flags=None) -> AfterExecve:
    """``Oracle.call_after_execve`` on the shared default oracle."""
    return default_oracle().call_after_execve(filters, call, flags=flags)


def run_scene(filters: Sequence, steps: Sequence[SceneStep], *, tracer: bool = False,
              no_new_privs: bool = True) -> Scene:
    """``Oracle.run_scene`` on the shared default oracle."""
    return default_oracle().run_scene(filters, steps, tracer=tracer, no_new_privs=no_new_privs)


def instruction_pointer(arch: str | None = None) -> int:
    """``Oracle.instruction_pointer`` on the shared default oracle (its native arch by default)."""
    return default_oracle().instruction_pointer(arch)


def target() -> Target:
    """``Oracle.target`` of the shared default oracle (see ``default_kernel_name``)."""
    return default_oracle().target


def _random_filter(rng: random.Random) -> bytes:
    """A small nr/arg-checking filter with varied actions, for the benchmark."""
    actions = [abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_ERRNO | 1, abi.SECCOMP_RET_ERRNO | 13,
               abi.SECCOMP_RET_TRAP | 7, abi.SECCOMP_RET_TRACE | 3, abi.SECCOMP_RET_LOG,
               abi.SECCOMP_RET_KILL_THREAD]
    insn = lambda c, jt, jf, k: Instruction(c, jt, jf, k).to_bytes()
    body = [insn(0x20, 0, 0, 0)]
    for _ in range(rng.randint(1, 4)):
        body += [insn(0x15, 0, 1, rng.randrange(0, 64)), insn(_RET_K, 0, 0, rng.choice(actions))]
    body += [insn(0x20, 0, 0, 16), insn(0x25, 0, 1, rng.randrange(1 << 32)),
             insn(_RET_K, 0, 0, rng.choice(actions)), insn(_RET_K, 0, 0, abi.SECCOMP_RET_ALLOW)]
    return b"".join(body)


def bench_throughput(seconds: float = 2.0, calls_per_stack: int = 32, seed: int = 0) -> float:
    """Kernel-checked (stack, call) cases per second through ``run_batch`` (for ``make bench``)."""
    rng = random.Random(seed)
    oracle = default_oracle()
    done, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        items = []
        for _ in range(16):
            stack = [_random_filter(rng) for _ in range(rng.randint(1, 3))]
            calls = [SeccompData(rng.randrange(0, 64), args=(rng.randrange(1 << 32),)) for _ in range(calls_per_stack)]
            items.append((stack, calls))
        for result in oracle.run_batch(items):
            done += len(result) if isinstance(result, list) else 1
    return done / (time.monotonic() - start)


# -- capturing the filters a command installs ------------------------------------------------------
#
# ``dump -c``: run a command under ptrace and read each filter as it is installed. The tracer is a
# forked bpfsim process of its own, so that its wait(-1) only ever reaps the command's tasks and
# never a child of the caller (the oracle helper, a test's subprocess).

# include/uapi/linux/ptrace.h
_PTRACE_TRACEME, _PTRACE_SYSCALL, _PTRACE_SETOPTIONS = 0, 24, 0x4200
_PTRACE_SECCOMP_GET_FILTER, _PTRACE_GET_SYSCALL_INFO = 0x420C, 0x420E
_PTRACE_O_TRACESYSGOOD, _PTRACE_O_TRACEFORK, _PTRACE_O_TRACEVFORK = 0x1, 0x2, 0x4
_PTRACE_O_TRACECLONE, _PTRACE_O_TRACEEXEC, _PTRACE_O_EXITKILL = 0x8, 0x10, 1 << 20
_PTRACE_SYSCALL_INFO_ENTRY, _PTRACE_SYSCALL_INFO_EXIT = 1, 2
# struct ptrace_syscall_info: op, reserved, flags, arch, instruction and stack pointer; then the
# union: entry (nr, args[6]), exit (rval, is_error) or seccomp (entry's and ret_data).
_SYSCALL_INFO_HEAD = struct.Struct("=BxxxI16x")
_SYSCALL_INFO_ENTRY, _SYSCALL_INFO_EXIT = struct.Struct("=Q6Q"), struct.Struct("=qB")
_SYSCALL_INFO_SIZE = _SYSCALL_INFO_HEAD.size + _SYSCALL_INFO_ENTRY.size + 8
_WALL = 0x40000000  # include/uapi/linux/wait.h: wait for threads and clones too
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class CapturedFilter:
    """One filter a traced command installed: its raw records, the thread that installed it, and
    how (``"seccomp"`` with its filter ``flags``, or ``"prctl"``)."""

    blob: bytes
    tid: int
    call: str
    flags: int = 0


@dataclass(frozen=True)
class Capture:
    """What ``capture_filters`` saw: the filters in install order and how the command ended:
    ``"exited"`` (``status`` is the shell's exit status, or ``signal`` what killed it),
    ``"limit"`` (killed after the ``limit``-th filter) or ``"timeout"`` (killed at the deadline)."""

    filters: tuple[CapturedFilter, ...]
    ending: str
    status: int | None = None
    signal: int | None = None


_libc_handle = None


def _libc():
    """The C library, for ptrace(2) and prctl(2), which the os module does not offer."""
    global _libc_handle
    if _libc_handle is None:
        _libc_handle = ctypes.CDLL(None, use_errno=True)
        _libc_handle.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        _libc_handle.ptrace.restype = ctypes.c_long
    return _libc_handle


def _ptrace(request: int, pid: int, addr=None, data=None) -> int:
    """ptrace(2); a failure raises OSError with its errno."""
    result = _libc().ptrace(request, pid, addr, data)
    if result == -1:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def _install_call(arch: int, nr: int, args: Sequence[int]) -> tuple[str, int] | None:
    """(call, flags) when syscall ``nr`` of ``arch`` asks to install a filter.

    kernel/seccomp.c: seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) (``op`` and ``flags`` are
    unsigned int) and prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog) (``option`` is an int)."""
    try:
        name = syscall_name(nr, "x32" if arch == abi.arch_info("x86_64").value and nr & abi.X32_SYSCALL_BIT
                            else arch)
    except BpfsimError:
        return None
    low = [a & 0xFFFFFFFF for a in args]
    if name == "seccomp" and low[0] == abi.SECCOMP_SET_MODE_FILTER:
        return "seccomp", low[1]
    if name == "prctl" and low[0] == abi.PR_SET_SECCOMP and low[1] == abi.SECCOMP_MODE_FILTER:
        return "prctl", 0
    return None


def _installed(call: str, flags: int, rval: int, is_error: int) -> bool:
    """Did the install call succeed? kernel/seccomp.c:seccomp_set_mode_filter returns 0, or the
    listener fd with NEW_LISTENER; with TSYNC a positive value is the tid that blocked the sync."""
    if is_error or rval < 0:
        return False
    return rval == 0 or (call == "seccomp" and bool(flags & abi.SECCOMP_FILTER_FLAG_NEW_LISTENER))


def _trace_command(command: str, limit: int | None, timeout: float) -> dict:
    """The tracer's work (in its own process): run ``command`` and follow it and every task it
    starts until all have ended, reading each filter right after a successful install call."""
    interrupt = signals.getsignal(signals.SIGINT)
    signals.signal(signals.SIGINT, signals.SIG_IGN)  # Ctrl-C reaches the caller, which kills us
    _libc().prctl(_PR_SET_PDEATHSIG, signals.SIGKILL, 0, 0, 0)  # and EXITKILL then kills the command
    child = os.fork()
    if child == 0:
        try:  # what subprocess restores: exec keeps an ignored signal ignored
            signals.signal(signals.SIGPIPE, signals.SIG_DFL)
            signals.signal(signals.SIGXFSZ, signals.SIG_DFL)
            signals.signal(signals.SIGINT, signals.SIG_IGN if interrupt == signals.SIG_IGN else signals.SIG_DFL)
            _ptrace(_PTRACE_TRACEME, 0)
            os.kill(os.getpid(), signals.SIGSTOP)
            os.execv("/bin/sh", ["sh", "-c", command])
        finally:
            os._exit(127)
    os.waitpid(child, _WALL)  # the SIGSTOP above, before exec
    _ptrace(_PTRACE_SETOPTIONS, child, None, _PTRACE_O_TRACESYSGOOD | _PTRACE_O_TRACEFORK | _PTRACE_O_TRACEVFORK
           | _PTRACE_O_TRACECLONE | _PTRACE_O_TRACEEXEC | _PTRACE_O_EXITKILL)
    try:  # kernel/seccomp.c:seccomp_get_filter: EACCES unless CAP_SYS_ADMIN and unfiltered
        _ptrace(_PTRACE_SECCOMP_GET_FILTER, child, 0, None)
    except OSError as error:
        if error.errno == errnos.EACCES:
            os.kill(child, signals.SIGKILL)
            os.waitpid(child, _WALL)
            return {"error": [error.errno, _why_no_filters_readable()]}

    seen, live, entries, filters = {child}, {child}, {}, []
    ending, status, failure = "exited", None, None
    info = ctypes.create_string_buffer(_SYSCALL_INFO_SIZE)

    def end(why: str) -> None:
        nonlocal ending
        ending = why
        for tid in live:
            try:
                os.kill(tid, signals.SIGKILL)
            except OSError:
                pass

    def resume(tid: int, sig: int = 0) -> None:
        try:
            _ptrace(_PTRACE_SYSCALL, tid, None, sig)
        except ProcessLookupError:  # killed meanwhile (another thread's exit_group)
            pass

    def expire(*_) -> None:  # kills every task; wait() then sees them end
        if ending == "exited":
            end("timeout")

    signals.signal(signals.SIGALRM, expire)
    signals.setitimer(signals.ITIMER_REAL, timeout)
    resume(child)
    while True:
        try:
            tid, wait_status = os.waitpid(-1, _WALL)
        except ChildProcessError:
            break
        if os.WIFEXITED(wait_status) or os.WIFSIGNALED(wait_status):
            live.discard(tid)
            entries.pop(tid, None)
            if tid == child:
                status = wait_status
            continue
        live.add(tid)
        if ending != "exited":
            os.kill(tid, signals.SIGKILL)  # a task that was starting as the others were killed
            continue
        sig, event = os.WSTOPSIG(wait_status), wait_status >> 16
        if tid not in seen:  # a new task's first stop (PTRACE_O_TRACEFORK and friends)
            seen.add(tid)
            resume(tid, 0 if sig == signals.SIGSTOP else sig)
            continue
        if sig == signals.SIGTRAP | 0x80:
            try:
                _ptrace(_PTRACE_GET_SYSCALL_INFO, tid, _SYSCALL_INFO_SIZE, info)
            except ProcessLookupError:
                continue
            op, arch = _SYSCALL_INFO_HEAD.unpack_from(info)
            if op == _PTRACE_SYSCALL_INFO_ENTRY:
                nr, *args = _SYSCALL_INFO_ENTRY.unpack_from(info, _SYSCALL_INFO_HEAD.size)
                entries[tid] = _install_call(arch, nr, args)
            elif op == _PTRACE_SYSCALL_INFO_EXIT and entries.get(tid):
                call, flags = entries.pop(tid)
                if _installed(call, flags, *_SYSCALL_INFO_EXIT.unpack_from(info, _SYSCALL_INFO_HEAD.size)):
                    try:
                        newest = _newest_filter_index(tid)
                        buffer = ctypes.create_string_buffer(8 * _ptrace(_PTRACE_SECCOMP_GET_FILTER, tid, newest))
                        _ptrace(_PTRACE_SECCOMP_GET_FILTER, tid, newest, buffer)
                    except OSError as error:
                        failure = [error.errno, f"cannot read the filter thread {tid} installed: {error.strerror}"]
                        end("error")
                        continue
                    filters.append([buffer.raw.hex(), tid, call, flags])
                    if limit is not None and len(filters) >= limit:
                        end("limit")
                        continue
        elif not (sig == signals.SIGTRAP and event):  # a signal for the task, not a ptrace event
            resume(tid, sig)
            continue
        resume(tid)
    signals.setitimer(signals.ITIMER_REAL, 0)
    if failure:
        return {"error": failure}
    result = {"filters": filters, "ending": ending}
    if ending == "exited" and status is not None:
        result.update(status=os.waitstatus_to_exitcode(status))
    return result


def _newest_filter_index(tid: int) -> int:
    """The index of thread ``tid``'s newest filter: kernel/seccomp.c:get_nth_filter counts from
    the oldest (0) and answers ENOENT past the newest."""
    index = 0
    while True:
        try:
            _ptrace(_PTRACE_SECCOMP_GET_FILTER, tid, index + 1)
        except FileNotFoundError:
            return index
        index += 1


def _why_no_filters_readable() -> str:
    """Why PTRACE_SECCOMP_GET_FILTER said EACCES (kernel/seccomp.c:seccomp_get_filter)."""
    try:
        mode = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("Seccomp:"))
    except (OSError, StopIteration, IndexError):
        mode = "0"
    if mode != "0":
        return "bpfsim runs under a seccomp filter itself, and a filtered tracer may not read filters"
    return "reading the filters a command installs needs root (CAP_SYS_ADMIN)"


def capture_filters(command: str, *, limit: int | None = None, timeout: float = 60.0) -> Capture:
    """Run ``command`` through ``/bin/sh -c`` as this user, traced, and capture every filter it,
    its threads or its children install (seccomp(SECCOMP_SET_MODE_FILTER) and
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) that succeed), in install order.

    The command keeps this process's standard streams and runs to its end; it and every task it
    started are killed (SIGKILL) after the ``limit``-th filter or at ``timeout`` seconds. A call
    that fails installs nothing and is not captured.
    """
    if limit is not None and limit < 1:
        raise KernelError(errnos.EINVAL, f"a limit of {limit} filters captures nothing")
    if not timeout > 0:
        raise KernelError(errnos.EINVAL, f"a timeout of {timeout} s ends the command before it starts")
    _libc()  # loaded before the fork, not in the child of a process that may have threads
    read_fd, write_fd = os.pipe()
    tracer = os.fork()
    if tracer == 0:
        try:
            os.close(read_fd)
            try:
                result = _trace_command(command, limit, timeout)
            except BaseException as error:  # the caller must hear of it, not see a hang
                result = {"error": [errnos.EIO, f"the tracer failed: {error!r}"]}
            data = json.dumps(result).encode()
            while data:
                data = data[os.write(write_fd, data):]
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    try:
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
    except BaseException:  # Ctrl-C: end our own tracer; the command dies with it (EXITKILL)
        os.kill(tracer, signals.SIGKILL)
        raise
    finally:
        os.close(read_fd)
        os.waitpid(tracer, 0)
    try:
        result = json.loads(b"".join(chunks))
    except ValueError:
        raise KernelError(errnos.EIO, "the tracer ended without an answer") from None
    if "error" in result:
        raise KernelError(*result["error"])
    filters = tuple(CapturedFilter(bytes.fromhex(blob), tid, call, flags)
                    for blob, tid, call, flags in result["filters"])
    status = result.get("status")
    return Capture(filters, result["ending"], status if status is not None and status >= 0 else None,
                   -status if status is not None and status < 0 else None)
