"""Several filters on one thread: precedence, data, the errno cap, unknown actions, attach rules.

Expected values: kernel/seccomp.c (seccomp_run_filters, __seccomp_filter, seccomp_attach_filter,
seccomp_set_mode_filter) and the observations of kernel-semantics.md §4, §5 and §9, re-checked on
the machine's kernel through the ``kernel`` fixture where seccomp(2) is available.
"""

import errno

import pytest

from bpfsim import Action, FilterChain, Program, SeccompData, SeccompError, VerifyError, evaluate
from bpfsim import abi
from bpfsim.seccomp import precedence, strict_verdict
from tests.build import RET_A, jump, ld_abs, ld_imm, prog, ret
from bpfsim import opcodes as op

GETPID = SeccompData(39)
KILL_PROCESS, KILL_THREAD, TRAP, ERRNO = 0x80000000, 0, 0x00030000, 0x00050000
USER_NOTIF, TRACE, LOG, ALLOW = 0x7FC00000, 0x7FF00000, 0x7FFC0000, 0x7FFF0000


def returning(value):
    return prog(ret(value))


STACKS = [
    # (returns in install order, expected ret, expected winning filter)
    pytest.param([ERRNO | 1, ERRNO | 22, ALLOW], ERRNO | 22, 1, id="seccomp(2) man page: newest equal errno wins"),
    pytest.param([ERRNO | 11, ERRNO | 13, ERRNO | 12], ERRNO | 12, 2, id="ties go to the newest filter"),
    pytest.param([ALLOW, ERRNO | 5], ERRNO | 5, 1, id="errno beats allow"),
    pytest.param([ERRNO | 5, TRAP | 7], TRAP | 7, 1, id="trap beats errno"),
    pytest.param([TRAP | 7, KILL_THREAD], KILL_THREAD, 1, id="kill thread beats trap"),
    pytest.param([KILL_THREAD, KILL_PROCESS], KILL_PROCESS, 1, id="kill process beats kill thread"),
    pytest.param([KILL_PROCESS, KILL_THREAD], KILL_PROCESS, 0, id="an older kill process still wins"),
    pytest.param([TRACE | 3, USER_NOTIF], USER_NOTIF, 1, id="user notif beats trace"),
    pytest.param([LOG, TRACE | 3], TRACE | 3, 1, id="trace beats log"),
    pytest.param([ALLOW, LOG], LOG, 1, id="log beats allow"),
    pytest.param([ALLOW | 0x1234, ALLOW], ALLOW, None, id="allow with data never replaces the initial allow"),
    pytest.param([0x00010000, ERRNO | 1], 0x00010000, 0, id="unknown 0x0001 outranks errno"),
    pytest.param([0x00040000, TRAP], TRAP, 1, id="trap outranks unknown 0x0004"),
    pytest.param([0x00060000, ERRNO | 2], ERRNO | 2, 1, id="errno outranks unknown 0x0006"),
    pytest.param([0x7FFE0000, ALLOW], 0x7FFE0000, 0, id="unknown 0x7ffe outranks allow"),
    pytest.param([0x7FFE0000, LOG], LOG, 1, id="log outranks unknown 0x7ffe"),
    pytest.param([KILL_THREAD, 0x90000000], 0x90000000, 1, id="negative unknown outranks kill thread"),
    pytest.param([0x00010000, KILL_THREAD], KILL_THREAD, 1, id="kill thread outranks unknown 0x0001"),
    pytest.param([0xAAAAAAAA, KILL_PROCESS], KILL_PROCESS, 1, id="kill process outranks every negative unknown"),
    pytest.param([ERRNO | 1, ERRNO | 2, ERRNO | 3, ERRNO | 4], ERRNO | 4, 3, id="four filters, newest errno"),
    pytest.param([TRAP | 1, ALLOW, ERRNO | 9, ALLOW], TRAP | 1, 0, id="the oldest filter can win"),
    # One filter (evaluate judges it without the loop): it is chosen unless its action is ALLOW's.
    pytest.param([ALLOW | 0x1234], ALLOW, None, id="one filter: allow with data leaves the initial allow"),
    pytest.param([0x7FFE0000], 0x7FFE0000, 0, id="one filter: unknown 0x7ffe outranks allow"),
    pytest.param([LOG | 3], LOG | 3, 0, id="one filter: log outranks allow"),
    pytest.param([0x90000000], 0x90000000, 0, id="one filter: a negative unknown is chosen"),
    pytest.param([ERRNO | 0], ERRNO, 0, id="one filter: errno 0 is chosen"),
]


@pytest.mark.parametrize("returns, expected, winner", STACKS)
def test_precedence_across_filters(returns, expected, winner, kernel):
    filters = [returning(r) for r in returns]
    verdict = evaluate(filters, GETPID)
    assert (verdict.ret, verdict.filter) == (expected, winner)
    assert verdict.returns == tuple(returns)
    kernel.check_verdict(filters, GETPID, verdict)


def test_precedence_is_the_signed_upper_half():
    order = [0x80000000, 0xAAAA0000, 0xFFFF0000, 0, 0x00010000, TRAP, ERRNO, USER_NOTIF, TRACE, LOG, 0x7FFE0000, ALLOW]
    assert sorted(order, key=precedence) == order


ACTIONS = [
    pytest.param(ERRNO | 1, Action.ERRNO, 1, -1, id="errno 1 is EPERM"),
    pytest.param(ERRNO | 4095, Action.ERRNO, 4095, -4095, id="errno 4095 passes"),
    pytest.param(ERRNO | 4096, Action.ERRNO, 4095, -4095, id="errno 4096 is capped at MAX_ERRNO"),
    pytest.param(ERRNO | 0xFFFF, Action.ERRNO, 4095, -4095, id="errno 0xffff is capped"),
    pytest.param(ERRNO | 0, Action.ERRNO, 0, 0, id="errno 0 returns 0 without running"),
    pytest.param(TRACE | 5, Action.TRACE, errno.ENOSYS, -errno.ENOSYS, id="trace without tracer is ENOSYS"),
    pytest.param(USER_NOTIF, Action.USER_NOTIF, errno.ENOSYS, -errno.ENOSYS, id="user notif without listener"),
]


@pytest.mark.parametrize("value, action, err, retval", ACTIONS)
def test_what_the_caller_sees(value, action, err, retval, kernel):
    verdict = evaluate([returning(value)], GETPID)
    assert verdict.action == action
    assert verdict.outcome.errno == err and verdict.outcome.retval == retval
    assert verdict.outcome.runs is False
    if action == Action.ERRNO:
        assert verdict.errno == err
    kernel.check_verdict([returning(value)], GETPID, verdict)


def test_trap_delivers_sigsys_with_the_data_as_si_errno(kernel):
    data = SeccompData(39, instruction_pointer=0x401863)
    verdict = evaluate([returning(TRAP | 0x1234)], data)
    info = verdict.outcome.siginfo
    assert (info.si_signo, info.si_code, info.si_errno) == (abi.SIGSYS, abi.SYS_SECCOMP, 0x1234)
    assert (info.si_syscall, info.si_arch, info.si_call_addr) == (39, abi.NATIVE_ARCH.value, 0x401863)
    kernel.check_verdict([returning(TRAP | 0x1234)], GETPID, verdict)


@pytest.mark.parametrize("threads, killed", [(1, "process"), (2, "thread")])
def test_kill_thread_kills_the_process_when_it_is_the_last_thread(threads, killed, kernel):
    verdict = evaluate([returning(KILL_THREAD)], GETPID, threads=threads)
    assert (verdict.action, verdict.outcome.killed) == (Action.KILL_THREAD, killed)
    assert verdict.outcome.core_dump == (killed == "process")
    kernel.check_verdict([returning(KILL_THREAD)], GETPID, verdict, threads=threads)


@pytest.mark.parametrize("value", [KILL_PROCESS, 0x10000000, 0xAAAAAAAA, 0x7FFE0000, 0x00010000])
def test_kill_process_and_unknown_actions_kill_the_whole_process(value, kernel):
    verdict = evaluate([returning(value)], GETPID, threads=2)
    assert (verdict.action, verdict.outcome.killed, verdict.outcome.signal) == (Action.KILL_PROCESS, "process", abi.SIGSYS)
    assert verdict.known_action == (value == KILL_PROCESS)
    kernel.check_verdict([returning(value)], GETPID, verdict, threads=2)


def test_trace_with_a_tracer_stops_with_the_data_as_event_message(kernel):
    verdict = evaluate([returning(TRACE | 0x1001)], GETPID, tracer=True)
    assert verdict.outcome.trace_message == 0x1001
    kernel.check_verdict([returning(TRACE | 0x1001)], GETPID, verdict, tracer=True)


def test_user_notif_goes_to_the_listener_of_the_deciding_filter(kernel):
    filters = [returning(USER_NOTIF), returning(USER_NOTIF)]
    older_listener = evaluate(filters, GETPID, listener=0)
    assert older_listener.filter == 1 and older_listener.outcome.errno == errno.ENOSYS
    newer_listener = evaluate(filters, GETPID, listener=1)
    assert newer_listener.outcome.listener == 1
    kernel.check_verdict(filters, GETPID, older_listener, listener=0)
    kernel.check_verdict(filters, GETPID, newer_listener, listener=1)


@pytest.mark.parametrize("value", [ALLOW, LOG, ALLOW | 0x1234])
def test_allow_and_log_run_the_call(value, kernel):
    verdict = evaluate([returning(value)], GETPID)
    assert verdict.outcome.runs is True
    assert verdict.filter == (0 if value == LOG else None)
    kernel.check_verdict([returning(value)], GETPID, verdict)


def test_ret_a_returns_the_computed_action(kernel):
    filters = [prog(ld_imm(ERRNO | 42), RET_A)]
    verdict = evaluate(filters, GETPID)
    assert verdict.errno == 42
    kernel.check_verdict(filters, GETPID, verdict)


def test_division_by_zero_kills_even_under_an_older_errno(kernel):
    filters = [returning(ERRNO | 1), prog(ld_imm(1), jump(op.BPF_ALU | op.BPF_DIV | op.BPF_X, 0, 0, 0), RET_A)]
    verdict = evaluate(filters, GETPID)
    assert (verdict.action, verdict.filter, verdict.ret) == (Action.KILL_THREAD, 1, 0)
    kernel.check_verdict(filters, GETPID, verdict)


@pytest.mark.parametrize("nr, name", [(335, "uretprobe"), (336, "uprobe")])
def test_uprobe_syscalls_bypass_every_filter_on_x86_64(nr, name):
    """kernel/seccomp.c:seccomp_uprobe_exception (Linux 6.14+ for 335, 6.18 for 336)."""
    verdict = evaluate([returning(KILL_PROCESS)], SeccompData(nr))
    assert (verdict.action, verdict.filter) == (Action.ALLOW, None)
    assert name in verdict.reason
    assert evaluate([returning(KILL_PROCESS)], SeccompData(nr, "i386")).action == Action.KILL_PROCESS
    assert evaluate([returning(KILL_PROCESS)], SeccompData(334)).action == Action.KILL_PROCESS


def test_filters_see_the_same_data_and_all_run():
    checks_nr = prog(ld_abs(0), jump(op.BPF_JMP | op.BPF_JEQ | op.BPF_K, 39, 0, 1), ret(ERRNO | 3), ret(ALLOW))
    verdict = evaluate([checks_nr, returning(LOG)], GETPID)
    assert verdict.returns == (ERRNO | 3, LOG) and verdict.errno == 3


class TestAttach:
    def test_path_limit_counts_converted_instructions(self, kernel):
        """3641 one-instruction filters fit, the 3642nd fails with ENOMEM (§2.5, measured on 6.18)."""
        chain = FilterChain()
        for _ in range(3641):
            chain.attach(returning(ALLOW))
        with pytest.raises(SeccompError) as caught:
            chain.attach(returning(ALLOW))
        assert caught.value.errno == errno.ENOMEM
        kernel.check_chain_limit(returning(ALLOW), 3641)

    def test_three_full_size_filters_fit_and_a_fourth_does_not(self):
        chain = FilterChain()
        big = prog(*[ret(ALLOW)] * 4096)
        for _ in range(3):
            chain.attach(big)
        with pytest.raises(SeccompError) as caught:
            chain.attach(big)
        assert caught.value.errno == errno.ENOMEM

    @pytest.mark.parametrize("flags", [0x40, 0x80000000, abi.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                                       abi.SECCOMP_FILTER_FLAG_TSYNC | abi.SECCOMP_FILTER_FLAG_NEW_LISTENER])
    def test_bad_flags_are_einval(self, flags):
        with pytest.raises(SeccompError) as caught:
            FilterChain().attach(returning(ALLOW), flags)
        assert caught.value.errno == errno.EINVAL

    def test_flags_are_checked_before_the_program(self):
        with pytest.raises(SeccompError):
            FilterChain().attach(prog(ld_imm(0)), 0x40)
        with pytest.raises(VerifyError):
            FilterChain().attach(prog(ld_imm(0)), 0)

    def test_a_second_listener_is_ebusy(self):
        chain = FilterChain()
        # The install calls that follow are themselves judged: this filter lets seccomp() run.
        notify_but_seccomp = prog(ld_abs(0), jump(op.BPF_JMP | op.BPF_JEQ | op.BPF_K, 317, 0, 1), ret(ALLOW),
                                  ret(USER_NOTIF))
        assert chain.attach(notify_but_seccomp, abi.SECCOMP_FILTER_FLAG_NEW_LISTENER) == 0
        chain.attach(returning(ALLOW))
        with pytest.raises(SeccompError) as caught:
            chain.attach(returning(ALLOW), abi.SECCOMP_FILTER_FLAG_NEW_LISTENER)
        assert caught.value.errno == errno.EBUSY
        assert chain.evaluate(GETPID).outcome.listener == 0

    def test_tsync_with_listener_needs_esrch(self):
        flags = (abi.SECCOMP_FILTER_FLAG_TSYNC | abi.SECCOMP_FILTER_FLAG_NEW_LISTENER
                 | abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH)
        assert FilterChain().attach(returning(ALLOW), flags) == 0


class TestStrictMode:
    @pytest.mark.parametrize("nr", [0, 1, 60, 15, 335, 336], ids=["read", "write", "exit", "rt_sigreturn",
                                                                   "uretprobe", "uprobe"])
    def test_allowed_x86_64_calls(self, nr):
        assert strict_verdict(SeccompData(nr)).action == Action.ALLOW

    @pytest.mark.parametrize("nr, arch", [(39, "x86_64"), (231, "x86_64"), (0x40000000, "x86_64"),
                                          (20, "i386"), (173, "i386")])
    def test_other_calls_get_sigkill(self, nr, arch):
        verdict = strict_verdict(SeccompData(nr, arch))
        assert (verdict.outcome.signal, verdict.outcome.killed) == (abi.SIGKILL, "thread")

    @pytest.mark.parametrize("nr", [3, 4, 1, 119], ids=["read", "write", "exit", "sigreturn"])
    def test_i386_uses_its_own_numbers(self, nr):
        assert strict_verdict(SeccompData(nr, "i386")).action == Action.ALLOW

    @pytest.mark.parametrize("arch, allowed, killed", [
        ("s390", 119, 173), ("s390x", 119, 173), ("ppc", 119, 172), ("i386", 119, 173),
        ("ppc64", 172, 119), ("arm", 173, 119), ("m68k", 173, 119), ("sh", 173, 119), ("mips", 4193, 4119),
        ("aarch64", 139, None), ("mips64n32", 6211, None), ("parisc", 173, None), ("riscv64", 139, None)])
    def test_the_sigreturn_strict_mode_allows_is_the_arch_headers(self, arch, allowed, killed):
        """Issue #14 item 10, source-cited (only x86_64 runs here): include/asm-generic/seccomp.h
        gives rt_sigreturn; arch/s390/include/asm/seccomp.h defines __NR_seccomp_sigreturn and
        _32 as __NR_sigreturn, arch/powerpc/include/asm/seccomp.h __NR_seccomp_sigreturn_32 as
        __NR_sigreturn (ppc: a compat task), arch/x86/include/asm/seccomp.h both as sigreturn for
        ia32; mips' compat lists (get_compat_mode1_syscalls) end in rt_sigreturn."""
        assert strict_verdict(SeccompData(allowed, arch)).action == Action.ALLOW
        if killed is not None:
            assert strict_verdict(SeccompData(killed, arch)).outcome.signal == abi.SIGKILL

    def test_strict_after_filters_is_einval_and_filters_after_strict_too(self):
        chain = FilterChain([returning(ALLOW)])
        with pytest.raises(SeccompError) as caught:
            chain.set_mode_strict()
        assert caught.value.errno == errno.EINVAL
        strict = FilterChain()
        strict.set_mode_strict()
        with pytest.raises(SeccompError):
            strict.attach(returning(ALLOW))
        assert strict.evaluate(GETPID).outcome.signal == abi.SIGKILL


def test_verdict_renders_as_the_contract_says():
    verdict = evaluate([returning(ERRNO | 1), returning(ERRNO | 22)], GETPID)
    assert str(verdict) == "ERRNO(22) from filter 1, ret 0x00050016"
    assert verdict.as_dict() == {"action": "ERRNO", "data": 22, "errno": 22, "ret": 0x00050016, "filter": 1}
    assert repr(evaluate([returning(ERRNO | 1)], GETPID)) == "Verdict(ERRNO, errno=1 EPERM, filter=0)"


def test_a_verdict_is_immutable_and_compares_by_its_decision():
    """The outcome and the reason are worked out on first read; equality, hashing and pickling
    behave as for the frozen record the verdict always was."""
    import pickle
    alone = evaluate([returning(ERRNO | 1)], GETPID)
    chained = FilterChain([returning(ERRNO | 1)]).evaluate(GETPID)
    assert alone == chained and hash(alone) == hash(chained)
    assert alone != evaluate([returning(ERRNO | 2)], GETPID)
    with pytest.raises(AttributeError):
        alone.ret = 0
    copy = pickle.loads(pickle.dumps(alone))
    assert copy == alone and copy.outcome == alone.outcome and copy.reason == alone.reason
    assert (alone.outcome.errno, alone.arch) == (1, abi.arch_info("x86_64").value)


@pytest.mark.parametrize("arch, nr, returns, says", [
    pytest.param("x86_64", 39, 39, "return its own number", id="x86: regs->ax = regs->orig_ax"),
    pytest.param("aarch64", 172, 77, "return its first argument", id="arm64: x0 = orig_x0, not the number"),
    pytest.param("s390x", 20, -38, "fail with ENOSYS", id="s390x: __do_syscall sets gpr2 to -ENOSYS"),
])
def test_what_a_returning_trap_handler_sees_is_said_per_arch(arch, nr, returns, says, kernel):
    """syscall_rollback (arch/*/include/asm/syscall.h) and s390's __do_syscall; the values were
    seen on this machine (x86_64) and on lab guests (aarch64 6.12, s390x 6.1): the kernel
    half runs wherever the kernel asked is of that arch (``BPFSIM_ORACLE_KERNEL``)."""
    program = Program.from_asm("ret TRAP(1)")
    data = SeccompData(nr, arch, args=(77,))
    verdict = evaluate([program], data)
    assert says in str(verdict.outcome) and "x86" not in str(verdict.outcome)
    assert FilterChain([program], arch=arch).call(nr, (77,)).retval == returns
    kernel.check_trap_handler_return([program], data, returns)
