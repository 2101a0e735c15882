"""The kernel profile: one test per version fact, expected values from the kernel's history.

Each test names the commit that made the fact (its release from kernel-semantics.md §6, the
mainline merge window, or man-pages' "since Linux X"), and where a Debian kernel was observed
(kernel-lab-notes.md, issue 12) says so. The newest profile is the machine's kernel, which the
other test files check through the ``kernel`` fixture.
"""

import errno

import pytest

from bpfsim import (Action, FilterChain, Kernel, SeccompData, SeccompError, Target, UnknownKernelError, evaluate,
                    verify)
from bpfsim import abi
from bpfsim.analysis import policy_table
from bpfsim.profiles import FACTS, NEWEST, OLDEST
from bpfsim.seccomp import strict_verdict
from bpfsim.testing import assert_policy, assert_verdict
from tests.build import prog, ret

KILL_PROCESS, USER_NOTIF, ALLOW = 0x80000000, 0x7FC00000, 0x7FFF0000
UNKNOWN = 0x00010000  # no action has the upper half 0x0001
URETPROBE, UPROBE = 335, 336  # arch/x86/entry/syscalls/syscall_64.tbl
FLAG = {name: bit for bit, name in abi.FILTER_FLAG_NAMES.items()}


def returning(value):
    return prog(ret(value))


@pytest.mark.parametrize("text, version", [
    pytest.param("5.10.262", (5, 10, 262), id="Debian 11 security"),
    pytest.param("6.1", (6, 1, 0), id="a mainline release"),
    pytest.param("6.12.117", (6, 12, 117), id="Debian 13"),
    pytest.param("6.18.44", (6, 18, 44), id="the machine"),
    pytest.param("debian-6.1-amd64", (6, 1, 192), id="a lab kernel by its distro name"),
    pytest.param("debian-6.12-arm64", (6, 12, 117), id="an arm64 lab kernel"),
])
def test_versions_parse(text, version):
    assert Kernel(text).version == version
    assert Kernel.of(text) == Kernel(version) and str(Kernel(text)) == text


def test_the_default_is_the_newest_modelled_kernel():
    assert Kernel.of(None) == Kernel() == Kernel("6.18") and Kernel().version == NEWEST


@pytest.mark.parametrize("text", ["", "6", "six.one", "6.1.2.3", "4.9", "3.17", "6.19", "7.0", "debian-7-amd64"])
def test_a_version_bpfsim_does_not_model_is_refused_with_one_line(text):
    with pytest.raises(UnknownKernelError) as caught:
        Kernel(text)
    assert "\n" not in str(caught.value)


def test_every_fact_cites_its_commit_and_starts_inside_the_history():
    for fact in FACTS:
        assert fact.commit is None and "not pinned" in fact.what or len(fact.commit) == 12, fact.key
        assert fact.since <= NEWEST[:2], fact.key
        assert all(b[:2] < fact.since for b in fact.backports), fact.key


# -- actions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel, action, killed", [
    pytest.param("5.4", Action.KILL_THREAD, "thread", id="5.4: like KILL_THREAD"),
    pytest.param("5.9.16", Action.KILL_THREAD, "thread", id="5.9: like KILL_THREAD"),
    pytest.param("5.10", Action.KILL_PROCESS, "process", id="5.10: kills the process (4d671d922d51)"),
    pytest.param("6.18", Action.KILL_PROCESS, "process", id="6.18"),
])
def test_an_unknown_action_kills_the_process_from_5_10(kernel, action, killed):
    """4d671d922d51 ("seccomp: kill process instead of thread for unknown actions", v5.10): before
    it, __seccomp_filter's default: case did what KILL_THREAD does (do_exit unless last thread)."""
    verdict = evaluate([returning(UNKNOWN)], SeccompData(39), kernel=kernel, threads=2)
    assert (verdict.action, verdict.outcome.killed, verdict.ret) == (action, killed, UNKNOWN)
    assert Action.of(UNKNOWN, kernel) == action


def test_before_5_10_an_unknown_action_in_the_last_thread_ends_the_process():
    """do_exit(SIGSYS) in the last thread, with the core dump of KILL_THREAD there (4.14-5.9)."""
    verdict = evaluate([returning(UNKNOWN)], SeccompData(39), kernel="5.4", threads=1)
    assert (verdict.action, verdict.outcome.killed, verdict.outcome.core_dump) == (Action.KILL_THREAD, "process", True)


@pytest.mark.parametrize("kernel, action", [
    pytest.param("4.19", Action.KILL_THREAD, id="4.19: an unknown value, like KILL_THREAD"),
    pytest.param("5.0", Action.USER_NOTIF, id="5.0: USER_NOTIF (6a21cc50f0c7)"),
])
def test_user_notif_is_an_action_from_5_0(kernel, action):
    """6a21cc50f0c7 ("seccomp: add a return code to trap to userspace", v5.0)."""
    assert Action.of(USER_NOTIF, kernel) == action
    assert Kernel(kernel).knows_action(USER_NOTIF) == (action == Action.USER_NOTIF)


def test_kill_process_and_log_are_actions_in_every_modelled_kernel():
    """4d3b0b05aae9 (KILL_PROCESS) and SECCOMP_RET_LOG both came with v4.14, the oldest modelled."""
    oldest = Kernel(".".join(map(str, OLDEST[:2])))
    assert oldest.knows_action(abi.SECCOMP_RET_KILL_PROCESS) and oldest.knows_action(abi.SECCOMP_RET_LOG)
    assert not oldest.knows_action(UNKNOWN)


# -- calls that bypass the filters ---------------------------------------------------------------

@pytest.mark.parametrize("kernel, nr, bypassed", [
    pytest.param("6.1", URETPROBE, False, id="6.1: uretprobe goes through the filters"),
    pytest.param("6.12.117", URETPROBE, True, id="6.12.117: uretprobe bypass backported (observed)"),
    pytest.param("6.14", URETPROBE, True, id="6.14: uretprobe bypass (cf6cb56ef244)"),
    pytest.param("6.12.117", UPROBE, False, id="6.12.117: uprobe goes through the filters (observed)"),
    pytest.param("6.17", UPROBE, False, id="6.17: no uprobe syscall yet"),
    pytest.param("6.18", UPROBE, True, id="6.18: uprobe bypass (89d1d8434d24)"),
])
def test_uprobe_calls_bypass_the_filters_where_the_kernel_exempts_them(kernel, nr, bypassed):
    """kernel/seccomp.c:seccomp_uprobe_exception; cf6cb56ef244 (v6.14, in Debian's 6.12.117 as a
    stable backport) and 89d1d8434d24 (v6.18; its stable backports test __NR_uprobe, which older
    trees lack). Observed on Debian's 6.1.192 and 6.12.117 (issue 12)."""
    verdict = evaluate([returning(KILL_PROCESS)], SeccompData(nr), kernel=kernel)
    assert (verdict.action, verdict.filter) == ((Action.ALLOW, None) if bypassed else (Action.KILL_PROCESS, 0))
    # Only the native x86_64 numbers are exempt, never i386's or x32's.
    assert evaluate([returning(KILL_PROCESS)], SeccompData(nr, "i386"), kernel=kernel).action == Action.KILL_PROCESS


@pytest.mark.parametrize("kernel, allowed", [
    pytest.param("6.1", False, id="6.1: strict mode kills uretprobe"),
    pytest.param("6.14", True, id="6.14: strict mode allows uretprobe (cf6cb56ef244)"),
])
def test_strict_mode_allows_uretprobe_where_it_bypasses_the_filters(kernel, allowed):
    """cf6cb56ef244 added __NR_uretprobe to mode1_syscalls along with the filter exception."""
    verdict = strict_verdict(SeccompData(URETPROBE), kernel=kernel)
    assert verdict.action == (Action.ALLOW if allowed else Action.KILL_THREAD)


def test_a_chain_judges_as_its_kernel():
    chain = FilterChain([returning(KILL_PROCESS)], kernel="6.1")
    assert chain.kernel == Kernel("6.1")
    assert chain.evaluate(SeccompData(URETPROBE)).action == Action.KILL_PROCESS
    assert FilterChain([returning(KILL_PROCESS)]).evaluate(SeccompData(URETPROBE)).action == Action.ALLOW


# -- filter flags ---------------------------------------------------------------------------------

LISTENER = FLAG["NEW_LISTENER"]


@pytest.mark.parametrize("kernel, flags, known", [
    pytest.param("4.14", FLAG["LOG"], True, id="LOG in 4.14 (e66a39977985)"),
    pytest.param("4.14", FLAG["SPEC_ALLOW"], False, id="SPEC_ALLOW EINVAL before 4.17"),
    pytest.param("4.17", FLAG["SPEC_ALLOW"], True, id="SPEC_ALLOW in 4.17 (00a02d0c502a)"),
    pytest.param("4.19", LISTENER, False, id="NEW_LISTENER EINVAL before 5.0"),
    pytest.param("5.0", LISTENER, True, id="NEW_LISTENER in 5.0 (6a21cc50f0c7)"),
    pytest.param("5.4", FLAG["TSYNC_ESRCH"], False, id="TSYNC_ESRCH EINVAL before 5.7"),
    pytest.param("5.7", FLAG["TSYNC_ESRCH"], True, id="TSYNC_ESRCH in 5.7 (51891498f2da)"),
    pytest.param("5.10.262", LISTENER | FLAG["WAIT_KILLABLE_RECV"], False,
                 id="WAIT_KILLABLE_RECV EINVAL on 5.10 (observed on Debian's 5.10.262)"),
    pytest.param("5.19", LISTENER | FLAG["WAIT_KILLABLE_RECV"], True, id="WAIT_KILLABLE_RECV in 5.19 (c2aa2dfef243)"),
])
def test_a_filter_flag_the_kernel_does_not_know_is_einval(kernel, flags, known):
    """seccomp_set_mode_filter refuses flags outside its SECCOMP_FILTER_FLAG_MASK with EINVAL
    before it looks at the program."""
    chain = FilterChain(kernel=kernel)
    if known:
        chain.attach(returning(ALLOW), flags)
        assert chain.flags == (flags,)
    else:
        with pytest.raises(SeccompError) as caught:
            chain.attach(returning(ALLOW), flags)
        assert caught.value.errno == errno.EINVAL and f"Linux {kernel}" in str(caught.value)


def test_the_newest_kernel_knows_every_flag_of_its_mask():
    """kernel/seccomp.c (v6.18.2): SECCOMP_FILTER_FLAG_MASK is the six flags, 0x3f."""
    assert Kernel().filter_flags == 0x3F == sum(abi.FILTER_FLAG_NAMES)


# -- operations and notification ioctls -------------------------------------------------------------

@pytest.mark.parametrize("kernel, fact, holds", [
    pytest.param("4.14", "op_get_action_avail", True, id="GET_ACTION_AVAIL in 4.14"),
    pytest.param("4.19", "op_get_notif_sizes", False, id="no GET_NOTIF_SIZES before 5.0"),
    pytest.param("5.0", "op_get_notif_sizes", True, id="GET_NOTIF_SIZES in 5.0 (6a21cc50f0c7)"),
    pytest.param("5.4", "notif_flag_continue", False, id="no USER_NOTIF_FLAG_CONTINUE before 5.5"),
    pytest.param("5.5", "notif_flag_continue", True, id="USER_NOTIF_FLAG_CONTINUE in 5.5 (fb3c5386b382)"),
    pytest.param("5.4", "ioctl_addfd", False, id="no ADDFD before 5.9"),
    pytest.param("5.9", "ioctl_addfd", True, id="ADDFD in 5.9 (7cf97b125455)"),
    pytest.param("5.10.262", "addfd_flag_send", False, id="ADDFD SEND EINVAL on 5.10 (observed)"),
    pytest.param("5.14", "addfd_flag_send", True, id="ADDFD SEND in 5.14 (0ae71c7720e3)"),
    pytest.param("6.1.192", "ioctl_set_flags", False, id="SET_FLAGS EINVAL on 6.1 (observed)"),
    pytest.param("6.6", "ioctl_set_flags", True, id="SET_FLAGS in 6.6 (48a1084a8b74)"),
    pytest.param("5.10.262", "coredump_kills_only_thread_group", False,
                 id="5.10: a core dump zaps every process sharing the mm (observed on Debian's 5.10.262)"),
    pytest.param("5.16", "coredump_kills_only_thread_group", True, id="5.16: only the thread group (0258b5fd7c71)"),
    pytest.param("6.1.192", "tsync_skips_exited_threads", False,
                 id="6.1: a dead leader blocks TSYNC (seen on Debian's 6.1.192 guest)"),
    pytest.param("6.11", "tsync_skips_exited_threads", True, id="6.11: TSYNC skips exiting threads (13eb42e2529e)"),
    pytest.param("5.10.223", "seccomp_mode_dead", True,
                 id="5.10.223: SECCOMP_MODE_DEAD, a stable backport (seen on Debian's 5.10 guests)"),
    pytest.param("5.16", "seccomp_mode_dead", False, id="5.16: a killed thread keeps its mode"),
    pytest.param("5.17", "seccomp_mode_dead", True, id="5.17: SECCOMP_MODE_DEAD (495ac3069a62)"),
    pytest.param("4.19", "x32_own_table", False, id="x32 numbers share the x86_64 table before 5.4"),
    pytest.param("5.4", "x32_own_table", True, id="x32's own table in 5.4 (6365b842aae4)"),
])
def test_operations_ioctls_and_other_facts_by_version(kernel, fact, holds):
    assert Kernel(kernel).has(fact) == holds


@pytest.mark.parametrize("kernel, retval", [
    pytest.param("5.10.262", -errno.ENOSYS, id="5.10: the whole register is looked up (seen on Debian's 5.10.262)"),
    pytest.param("5.14", None, id="5.14: its low 32 bits, as an int (059549489172)"),
])
def test_an_x86_64_number_register_with_high_bits_runs_from_5_14(kernel, retval):
    """Before 059549489172 ("x86/entry/64: Sign-extend system calls on entry to int", v5.14)
    do_syscall_64 took an unsigned long, so in a thread without entry work rax = 1 << 32 | 39
    matched no table entry: ENOSYS. With seccomp on, the entry work returned syscall_get_nr's int
    (kernel/entry/common.c:syscall_trace_enter), the low half the filters saw, and getpid ran: on
    Debian's 5.10.262 guest both were seen. int $0x80 always truncated to 32 bits
    (syscall_32_enter), so i386 is unaffected."""
    unfiltered = FilterChain(kernel=kernel)
    assert unfiltered.call(1 << 32 | 39).retval == retval
    filtered = FilterChain([returning(ALLOW)], kernel=kernel, judge_installs=False)
    result = filtered.call(1 << 32 | 39)
    assert (result.data.nr, result.verdict.action, result.retval) == (39, Action.ALLOW, None)
    assert FilterChain(arch="i386", kernel=kernel).call(1 << 32 | 20).retval is None


# -- kernel= everywhere a verdict is judged -----------------------------------------------------------

def test_verify_takes_a_kernel_and_refuses_an_unmodelled_one():
    verify(returning(ALLOW), kernel="5.10.262")
    with pytest.raises(UnknownKernelError):
        verify(returning(ALLOW), kernel="3.5")


def test_the_policy_table_judges_as_its_kernel():
    rows = {row.nr: row for row in policy_table([returning(UNKNOWN)], kernel="5.4")}
    assert rows[39].action == Action.KILL_THREAD
    rows = {row.nr: row for row in policy_table([returning(KILL_PROCESS)], kernel="6.1")}
    assert (rows[URETPROBE].action, rows[UPROBE].action) == (Action.KILL_PROCESS, Action.KILL_PROCESS)


def test_the_pytest_helpers_take_a_kernel():
    assert_verdict([returning(KILL_PROCESS)], URETPROBE, action="KILL_PROCESS", kernel="6.1")
    assert_verdict([returning(KILL_PROCESS)], URETPROBE, action="ALLOW", kernel="6.14")
    assert_policy([returning(UNKNOWN)], {}, default="KILL_THREAD", kernel="5.4")
    assert_policy(FilterChain([returning(UNKNOWN)], kernel="5.4"), {}, default="KILL_THREAD")


def test_the_seccomp_chain_fixture_builds_a_chain_for_a_kernel(seccomp_chain):
    chain = seccomp_chain(returning(KILL_PROCESS), kernel="6.1")
    assert_verdict(chain, URETPROBE, action="KILL_PROCESS")  # cf6cb56ef244 is not in 6.1


def test_a_kernel_is_a_value_callers_can_pass_around():
    kernel = Kernel("debian-5.10-amd64")
    assert evaluate([returning(UNKNOWN)], SeccompData(39), kernel=kernel).action == Action.KILL_PROCESS
    assert repr(kernel) == "Kernel('debian-5.10-amd64')" and hash(kernel) == hash(Kernel("5.10.262"))
    assert Kernel("6.18").unfiltered_calls(Target.of("x32")) == {}
