"""The semantics cases of the kernel's tools/testing/selftests/seccomp/seccomp_bpf.c, one test per
selftest, named after it. Expectations are the selftests' own assertions."""

import errno

import pytest

from bpfsim import Action, FilterChain, SeccompData, SeccompError, VerifyError, evaluate, verify
from bpfsim import abi
from bpfsim import opcodes as op
from tests.build import jump, ld_abs, prog, ret

GETPID, GETPPID = SeccompData(39), SeccompData(110)
JEQ = op.BPF_JMP | op.BPF_JEQ | op.BPF_K


def on_getpid(action: int):
    """The selftests' fixture shape: ``action`` for getpid, ALLOW for everything else."""
    return prog(ld_abs(abi.OFFSET_NR), jump(JEQ, 39, 1, 0), ret(abi.SECCOMP_RET_ALLOW), ret(action))


PRECEDENCE = {
    "allow": prog(ret(abi.SECCOMP_RET_ALLOW)), "log": on_getpid(abi.SECCOMP_RET_LOG),
    "trace": on_getpid(abi.SECCOMP_RET_TRACE), "error": on_getpid(abi.SECCOMP_RET_ERRNO),
    "trap": on_getpid(abi.SECCOMP_RET_TRAP), "kill": on_getpid(abi.SECCOMP_RET_KILL),
}

CASES = [
    pytest.param("allow log trace error trap kill", None, id="precedence.allow_ok"),
    pytest.param("allow log trace error trap kill", Action.KILL_THREAD, id="precedence.kill_is_highest"),
    pytest.param("allow kill error log trace trap", Action.KILL_THREAD, id="precedence.kill_is_highest_in_any_order"),
    pytest.param("allow log trace error trap", Action.TRAP, id="precedence.trap_is_second"),
    pytest.param("allow trap log trace error", Action.TRAP, id="precedence.trap_is_second_in_any_order"),
    pytest.param("allow log trace error", Action.ERRNO, id="precedence.errno_is_third"),
    pytest.param("log error trace allow", Action.ERRNO, id="precedence.errno_is_third_in_any_order"),
    pytest.param("allow log trace", Action.TRACE, id="precedence.trace_is_fourth"),
    pytest.param("trace allow log", Action.TRACE, id="precedence.trace_is_fourth_in_any_order"),
    pytest.param("allow log", Action.LOG, id="precedence.log_is_fifth"),
    pytest.param("log allow", Action.LOG, id="precedence.log_is_fifth_in_any_order"),
]


@pytest.mark.parametrize("order, getpid_action", CASES)
def test_precedence(order, getpid_action, kernel):
    filters = [PRECEDENCE[name] for name in order.split()]
    assert evaluate(filters, GETPPID).outcome.runs is True  # EXPECT_EQ(parent, syscall(__NR_getppid))
    if getpid_action is None:
        return
    verdict = evaluate(filters, GETPID)
    assert verdict.action == getpid_action
    expected_return = {Action.ERRNO: 0, Action.TRACE: -errno.ENOSYS}  # ERRNO|0 → 0; no ptracer → -1/ENOSYS
    if getpid_action in expected_return:
        assert verdict.outcome.retval == expected_return[getpid_action]
    if getpid_action in (Action.KILL_THREAD, Action.TRAP):
        assert verdict.outcome.signal == abi.SIGSYS  # TEST_F_SIGNAL(..., SIGSYS)
    kernel.check_verdict(filters, GETPID, verdict)


def test_ALLOW_all():
    assert evaluate([prog(ret(abi.SECCOMP_RET_ALLOW))], GETPID).outcome.runs is True


def test_empty_prog():
    with pytest.raises(VerifyError) as caught:
        verify(prog())
    assert caught.value.errno == errno.EINVAL


def test_log_all():
    assert evaluate([prog(ret(abi.SECCOMP_RET_LOG))], GETPID).outcome.runs is True


@pytest.mark.parametrize("value", [0x10000000, 0x90000000], ids=["unknown_ret_is_kill_inside",
                                                                 "unknown_ret_is_kill_above_allow"])
def test_unknown_ret_is_kill(value):
    verdict = evaluate([prog(ret(value))], GETPID)
    assert verdict.outcome.signal == abi.SIGSYS and verdict.outcome.killed == "process"


def test_KILL_all():
    assert evaluate([prog(ret(abi.SECCOMP_RET_KILL))], GETPID).outcome.signal == abi.SIGSYS


def test_KILL_one():
    filters = [on_getpid(abi.SECCOMP_RET_KILL)]
    assert evaluate(filters, GETPPID).outcome.runs is True
    assert evaluate(filters, GETPID).outcome.signal == abi.SIGSYS


@pytest.mark.parametrize("arg", [0, 5], ids=["KILL_one_arg_one", "KILL_one_arg_six"])
def test_KILL_one_arg(arg):
    """Kill times(2) only when the low word of args[arg] is 0x0C0FFEE (the selftest's cookie)."""
    times = 100
    filters = [prog(ld_abs(abi.OFFSET_NR), jump(JEQ, times, 1, 0), ret(abi.SECCOMP_RET_ALLOW),
                    ld_abs(abi.offset_of_arg(arg)), jump(JEQ, 0x0C0FFEE, 0, 1), ret(abi.SECCOMP_RET_KILL),
                    ret(abi.SECCOMP_RET_ALLOW))]
    cookie = [0] * 6
    cookie[arg] = 0x0C0FFEE
    assert evaluate(filters, SeccompData(times)).outcome.runs is True
    assert evaluate(filters, SeccompData(times, args=cookie)).outcome.signal == abi.SIGSYS


def test_KILL_thread():
    verdict = evaluate([on_getpid(abi.SECCOMP_RET_KILL_THREAD)], GETPID, threads=2)
    assert verdict.outcome.killed == "thread"


def test_KILL_process():
    filters = [on_getpid(abi.SECCOMP_RET_KILL_PROCESS), on_getpid(abi.SECCOMP_RET_KILL_THREAD)]
    verdict = evaluate(filters, GETPID, threads=2)  # a later KILL_THREAD cannot downgrade it
    assert (verdict.action, verdict.outcome.killed) == (Action.KILL_PROCESS, "process")


def test_KILL_unknown():
    verdict = evaluate([on_getpid(0xAAAAAAAA)], GETPID, threads=2)
    assert verdict.outcome.killed == "process"


def test_arg_out_of_range():
    with pytest.raises(VerifyError) as caught:
        verify(prog(ld_abs(abi.offset_of_arg(6)), ret(abi.SECCOMP_RET_ALLOW)))
    assert caught.value.errno == errno.EINVAL


@pytest.mark.parametrize("data, seen", [(errno.E2BIG, errno.E2BIG), (0, 0), (4096, 4095)],
                         ids=["ERRNO_valid", "ERRNO_zero", "ERRNO_capped"])
def test_ERRNO(data, seen):
    verdict = evaluate([on_getpid(abi.SECCOMP_RET_ERRNO | data)], GETPID)
    assert verdict.errno == seen and verdict.outcome.retval == -seen


def test_ERRNO_order():
    filters = [on_getpid(abi.SECCOMP_RET_ERRNO | e) for e in (11, 13, 12)]
    assert evaluate(filters, GETPID).errno == 12


def test_TRAP_handler():
    verdict = evaluate([on_getpid(abi.SECCOMP_RET_TRAP)], SeccompData(39, instruction_pointer=0x401000))
    info = verdict.outcome.siginfo
    assert info.si_syscall == 39 and info.si_arch != 0 and info.si_call_addr != 0


def test_filter_size_limits():
    with pytest.raises(VerifyError):
        verify(prog(*[ret(abi.SECCOMP_RET_ALLOW)] * 4097))
    verify(prog(*[ret(abi.SECCOMP_RET_ALLOW)] * 4096))


def test_filter_chain_limits():
    chain = FilterChain([prog(ret(abi.SECCOMP_RET_ALLOW))])
    big = prog(*[ret(abi.SECCOMP_RET_ALLOW)] * 4096)
    with pytest.raises(SeccompError) as caught:
        for _ in range(16):
            chain.attach(big)
    assert caught.value.errno == errno.ENOMEM and len(chain) == 4  # the 4th big one fails on x86-64


def test_negative_ENOSYS():
    """A filter sees syscall(-1) as nr 0xffffffff; allowed, the call fails with ENOSYS."""
    filters = [prog(ld_abs(abi.OFFSET_NR), jump(JEQ, 0xFFFFFFFF, 0, 1), ret(abi.SECCOMP_RET_ERRNO | 77),
                    ret(abi.SECCOMP_RET_ALLOW))]
    assert evaluate(filters, SeccompData(-1)).errno == 77


def test_mode_strict_support():
    chain = FilterChain()
    chain.set_mode_strict()
    assert chain.evaluate(SeccompData(0)).outcome.runs is True
    assert chain.evaluate(GETPID).outcome.signal == abi.SIGKILL


def test_mode_filter_cannot_move_to_strict():
    chain = FilterChain([prog(ret(abi.SECCOMP_RET_ALLOW))])
    with pytest.raises(SeccompError) as caught:
        chain.set_mode_strict()
    assert caught.value.errno == errno.EINVAL
