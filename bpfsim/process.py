"""Processes and their threads, each thread with a seccomp state of its own.

A ``Thread`` is a ``FilterChain`` that knows its ``Process``. What the kernel does between
threads is mirrored here: clone(2) and fork(2) copy the caller's filters, mode and no_new_privs
(kernel/fork.c:copy_seccomp), execve(2) keeps them and ends the other threads (fs/exec.c:
de_thread), TSYNC makes every sibling's filters the caller's (kernel/seccomp.c:
seccomp_can_sync_threads, seccomp_sync_threads, asked through ``FilterChain._siblings``),
KILL_THREAD ends one thread and KILL_PROCESS, or the death of the last thread, all of them.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import replace

from . import abi
from .seccomp import ASSUMED_INSTRUCTION_POINTER, ASSUMED_POINTER, CallResult, FilterChain
from .syscalls import syscall_table

# include/uapi/linux/sched.h: the flags of a thread as pthread_create makes it.
CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000  # VM FS FILES SIGHAND THREAD SYSVSEM


@functools.cache
def fork_call(arch: str) -> str:
    """The call fork() makes: fork(2), or where the arch has none (aarch64, riscv) glibc's
    clone(SIGCHLD, 0)."""
    return "fork" if "fork" in syscall_table(arch).values() else "clone"


class Thread(FilterChain):
    """One thread: its filters, mode and user dispatch (``FilterChain``), its ``tid``, and
    whether it is ``alive`` (``exit_signal`` says what ended it)."""

    def __init__(self, process: "Process", tid: int, **options):
        super().__init__(**options)
        self.process = process
        self._tid = tid
        self.alive = True
        self.exit_signal: int | None = None
        self.killed_by_seccomp = False

    @property
    def mode(self) -> int:
        """``FilterChain.mode``; SECCOMP_MODE_DEAD once a seccomp kill of its own call (a filter's
        or strict mode's) ended the thread, on kernels that mark it (``seccomp_mode_dead``):
        only a TSYNC that still meets the dead thread (a zombie leader, before 6.11) sees it."""
        if self.killed_by_seccomp and self.kernel.has("seccomp_mode_dead"):
            return abi.SECCOMP_MODE_DEAD
        return FilterChain.mode.fget(self)

    @property
    def tid(self) -> int:
        return self._tid

    def _live_threads(self) -> int:
        return sum(t.alive for t in self.process.threads)

    def _siblings(self) -> list[FilterChain]:
        """for_each_thread order: creation order, leader first; exiting threads are skipped
        (kernel/seccomp.c:seccomp_can_sync_threads, PF_EXITING). Before that check came
        (``Kernel.has("tsync_skips_exited_threads")``) a dead leader, a zombie with its filters
        until the whole group exits, was still checked (dead threads other than the leader
        are released at once)."""
        zombie_leader = not self.kernel.has("tsync_skips_exited_threads")
        return [t for t in self.process.threads if t is not self
                and (t.alive or zombie_leader and t.tid == self.process.pid)]

    def call(self, nr, args: Sequence[int] = (), *, instruction_pointer: int | None = None,
             perform=None) -> CallResult:
        """``FilterChain.call``, then the death it brings to this thread or its whole process."""
        if not self.alive:
            raise ValueError(f"thread {self.tid} has exited (signal {self.exit_signal}); it makes no calls")
        result = super().call(nr, args, instruction_pointer=instruction_pointer, perform=perform)
        self.killed_by_seccomp = bool(result.killed) and result.verdict is not None  # not user dispatch's
        if result.killed == "thread":
            self.alive, self.exit_signal = False, result.signal
        if result.killed == "process" or not self.process.alive:
            self.process._die(result.signal)
            if result.killed == "thread":  # the last thread: its exit ends the process
                result = replace(result, killed="process")
                self.last_call = result
        return result

    def _copy_into(self, new: "Thread") -> "Thread":
        """kernel/fork.c:copy_seccomp: the same filters (shared), mode and no_new_privs."""
        new._stack, new.strict, new.no_new_privs = self._stack, self.strict, self.no_new_privs
        new.cap_sys_admin, new.tracer = self.cap_sys_admin, self.tracer
        return new

    def clone(self, args: Sequence[int] | None = None, *,
              instruction_pointer: int | None = None) -> CallResult:
        """clone(CLONE_THREAD_FLAGS, stack, ...) (by default the flags and a 0 stack, in the arch's
        order, ``Target.clone_args``): a new thread of this process, if the filters let the call
        run; ``child`` is the new Thread and ``retval`` its tid."""
        def perform():
            thread = self._copy_into(self.process._new_thread())
            return thread.tid, {"child": thread, "description": f"returns {thread.tid}: a new thread"}
        if args is None:
            args = self.arch.clone_args(CLONE_THREAD_FLAGS, 0)
        return self.call("clone", tuple(args), instruction_pointer=instruction_pointer, perform=perform)

    def fork(self, *, instruction_pointer: int | None = None) -> CallResult:
        """fork() (``fork_call``): a new process whose one thread is a copy of this one; ``child``
        is the Process."""
        def perform():
            child = self.process._forked()
            self._copy_into(child.main)
            return child.pid, {"child": child, "description": f"returns {child.pid}: a new process"}
        if fork_call(self.arch.name) == "fork":
            return self.call("fork", (), instruction_pointer=instruction_pointer, perform=perform)
        return self.call("clone", self.arch.clone_args(abi.SIGCHLD, 0), instruction_pointer=instruction_pointer,
                         perform=perform)

    def execve(self, args: Sequence[int] = (), *, instruction_pointer: int | None = None) -> CallResult:
        """execve(): filters, mode and no_new_privs are kept; fs/exec.c:de_thread ends every other
        thread and this one takes the leader's tid (the process id)."""
        def perform():
            for other in self.process.threads:
                if other is not self and other.alive:
                    other.alive, other.exit_signal = False, abi.SIGKILL
            self.process.threads = [self]
            self._tid = self.process.pid
            return 0, {"description": "returns 0 in the new program; the other threads are gone"}
        return self.call("execve", tuple(args), instruction_pointer=instruction_pointer, perform=perform)

    def __repr__(self) -> str:
        if not self.alive:
            return f"<Thread {self.tid} exited (signal {self.exit_signal})>"
        mode = {abi.SECCOMP_MODE_DISABLED: "no filters", abi.SECCOMP_MODE_STRICT: "strict mode"}.get(
            self.mode, f"{len(self)} filter" + ("s" if len(self) > 1 else ""))
        return f"<Thread {self.tid}: {mode}>"


class Process:
    """A process: its threads in creation order (``threads``, the leader first), each with its
    own filters. ``pid`` is the leader's tid; new threads and children take the next free ids.
    Options are those of every thread (``FilterChain``): ``arch``, ``kernel``, ``no_new_privs``,
    ``cap_sys_admin``, ``tracer``, ``instruction_pointer``, ``pointer``.
    """

    def __init__(self, *, pid: int = 1000, arch: str | int | None = None, kernel=None, no_new_privs: bool = True,
                 cap_sys_admin: bool = False, tracer: bool = False,
                 instruction_pointer: int = ASSUMED_INSTRUCTION_POINTER, pointer: int = ASSUMED_POINTER,
                 _ids: Iterator[int] | None = None):
        self.pid = pid
        self._ids = _ids if _ids is not None else itertools.count(pid + 1)
        self._options = dict(arch=arch, kernel=kernel, no_new_privs=no_new_privs, cap_sys_admin=cap_sys_admin,
                             tracer=tracer, instruction_pointer=instruction_pointer, pointer=pointer)
        self.threads: list[Thread] = [Thread(self, pid, **self._options)]

    @property
    def main(self) -> Thread:
        """The thread whose tid is the pid (the leader, or the thread that called execve)."""
        return next(t for t in self.threads if t.tid == self.pid)

    @property
    def alive(self) -> bool:
        return any(t.alive for t in self.threads)

    def thread(self, tid: int) -> Thread:
        for t in self.threads:
            if t.tid == tid:
                return t
        raise LookupError(f"process {self.pid} has no thread {tid}")

    def _new_thread(self) -> Thread:
        thread = Thread(self, next(self._ids), **self._options)
        self.threads.append(thread)
        return thread

    def _forked(self) -> "Process":
        return Process(pid=next(self._ids), _ids=self._ids, **self._options)

    def _die(self, signal: int | None) -> None:
        for t in self.threads:
            if t.alive:
                t.alive, t.exit_signal = False, signal

    def __repr__(self) -> str:
        return f"<Process {self.pid}: " + ", ".join(repr(t)[1:-1] for t in self.threads) + ">"
