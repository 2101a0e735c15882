"""The recheck after a TRACE stop: when the tracer resumes the call, the filters judge it again,
as the tracer left it, and TRACE then lets it run (kernel/seccomp.c:__seccomp_filter).

Each case is run by ``evaluate`` and by a real tracer: this test forks a child, traces it with
PTRACE_O_TRACESECCOMP, and at the PTRACE_EVENT_SECCOMP stop rewrites the call's registers.
"""

import ctypes
import os
import signal

import pytest

from bpfsim import SeccompData, evaluate
from bpfsim import opcodes as op
from bpfsim.kernel import seccomp_unavailable_reason
from tests.build import jump, ld_abs, prog, ret

GETPID, GETPPID = 39, 110  # x86_64 syscall_64.tbl
ALLOW, KILL_PROCESS, TRACE, ERRNO = 0x7FFF0000, 0x80000000, 0x7FF00000, 0x00050000
JEQ = op.BPF_JMP | op.BPF_JEQ | op.BPF_K
ARG0 = 16

# getppid: TRACE(5), unless args[0] is 1 (ERRNO 9); getpid: ERRNO(7); nr 1000: KILL_PROCESS.
FILTER = prog(ld_abs(0), jump(JEQ, GETPPID, 0, 4), ld_abs(ARG0), jump(JEQ, 1, 0, 1), ret(ERRNO | 9), ret(TRACE | 5),
              jump(JEQ, GETPID, 0, 1), ret(ERRNO | 7), jump(JEQ, 1000, 0, 1), ret(KILL_PROCESS), ret(ALLOW))

PTRACE_TRACEME, PTRACE_CONT, PTRACE_GETREGS, PTRACE_SETREGS = 0, 7, 12, 13
PTRACE_GETEVENTMSG, PTRACE_SETOPTIONS = 0x4201, 0x4200
PTRACE_O_TRACESECCOMP, PTRACE_O_EXITKILL, PTRACE_EVENT_SECCOMP = 0x80, 0x100000, 7
ORIG_RAX, RAX, RDI = 15, 10, 14  # indexes in x86_64 struct user_regs_struct
PR_SET_NO_NEW_PRIVS, SECCOMP = 38, 317

pytestmark = pytest.mark.skipif(seccomp_unavailable_reason() is not None,
                                reason=f"needs the kernel's seccomp: {seccomp_unavailable_reason()}")


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.syscall.restype = ctypes.c_long
    return libc


def _traced_call(nr: int, rewrite: dict[int, int]):
    """getppid-style call ``nr`` in a traced child under FILTER; at its seccomp stop the tracer
    sets the registers in ``rewrite``. Returns the event message and ("returned", value),
    ("errno", n) or ("signal", signo)."""
    libc = _libc()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the traced child
        try:
            os.close(read_fd)
            libc.ptrace(PTRACE_TRACEME, 0, None, None)
            os.kill(os.getpid(), signal.SIGSTOP)
            raw = FILTER.to_bytes()
            buffer = ctypes.create_string_buffer(raw, len(raw))
            fprog = _Fprog(len(raw) // 8, ctypes.addressof(buffer))
            if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or libc.syscall(
                    ctypes.c_long(SECCOMP), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.byref(fprog)):
                os._exit(3)
            rc = libc.syscall(ctypes.c_long(nr), ctypes.c_ulong(0))
            os.write(write_fd, f"{-ctypes.get_errno() if rc == -1 else rc}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    message = None
    while True:
        _, status = os.waitpid(pid, 0)
        if not os.WIFSTOPPED(status):
            break
        stop = os.WSTOPSIG(status)
        if stop == signal.SIGSTOP and message is None:  # the child's own stop: start tracing seccomp
            libc.ptrace(PTRACE_SETOPTIONS, pid, None, ctypes.c_void_p(PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL))
            stop = 0
        elif status >> 8 == signal.SIGTRAP | PTRACE_EVENT_SECCOMP << 8:
            event = ctypes.c_ulong()
            libc.ptrace(PTRACE_GETEVENTMSG, pid, None, ctypes.byref(event))
            message = event.value
            regs = (ctypes.c_ulong * 27)()
            libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs))
            for index, value in rewrite.items():
                regs[index] = value & 0xFFFFFFFFFFFFFFFF
            libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(regs))
            stop = 0
        libc.ptrace(PTRACE_CONT, pid, None, ctypes.c_void_p(stop))
    with os.fdopen(read_fd) as pipe:
        answer = pipe.read()
    assert not os.WIFEXITED(status) or os.WEXITSTATUS(status) == 0, "the child could not install the filter"
    if os.WIFSIGNALED(status):
        return message, ("signal", os.WTERMSIG(status))
    value = int(answer)
    return message, ("errno", -value) if value < 0 else ("returned", value)


def _bpfsim(before: SeccompData, after: SeccompData, child_result_if_run: int):
    stop = evaluate([FILTER], before, tracer=True)
    assert stop.outcome.runs is None
    outcome = evaluate([FILTER], after, after_trace=True).outcome
    if outcome.signal is not None:
        return stop.outcome.trace_message, ("signal", outcome.signal)
    if outcome.runs:
        return stop.outcome.trace_message, ("returned", child_result_if_run)
    return stop.outcome.trace_message, ("errno", outcome.errno)


@pytest.mark.parametrize("rewrite, after, expected_kind", [
    pytest.param({}, SeccompData(GETPPID), "returned", id="resumed as it was: TRACE now lets it run"),
    pytest.param({ORIG_RAX: GETPID}, SeccompData(GETPID), "errno", id="changed to getpid: its ERRNO(7)"),
    pytest.param({RDI: 1}, SeccompData(GETPPID, args=(1,)), "errno", id="args are read again: ERRNO(9)"),
    pytest.param({ORIG_RAX: 1000}, SeccompData(1000), "signal", id="changed to a killed number"),
])
def test_the_filters_judge_the_call_again_as_the_tracer_left_it(rewrite, after, expected_kind):
    kernel = _traced_call(GETPPID, rewrite)
    assert kernel[1][0] == expected_kind
    assert _bpfsim(SeccompData(GETPPID), after, child_result_if_run=os.getpid()) == kernel


def test_a_skipped_call_is_not_judged_again():
    """nr -1 with a return value set by the tracer: the child sees that value, not the ENOSYS
    an allowed nr -1 would give, so the filters did not run again."""
    assert _traced_call(GETPPID, {ORIG_RAX: -1, RAX: -1234}) == (5, ("errno", 1234))
    skipped = evaluate([FILTER], SeccompData(-1), after_trace=True)
    assert skipped.filter is None and skipped.outcome.runs is False and skipped.outcome.retval is None
    assert "what the tracer left in the return register" in str(skipped.outcome)


def test_after_trace_changes_only_trace():
    data = SeccompData(GETPID)
    assert evaluate([FILTER], data, after_trace=True) == evaluate([FILTER], data)
    assert evaluate([FILTER], SeccompData(GETPPID), after_trace=True).outcome.description.startswith(
        "runs: on the recheck after a TRACE stop")
