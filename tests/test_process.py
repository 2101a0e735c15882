"""Threads, processes and every call form of seccomp(2) and prctl(2) (issue #14).

Each script runs twice: on ``bpfsim.process.Process`` and in a throwaway process of this
machine's kernel (``bpfsim.kernel.run_scene``: real threads, clone(2), fork(2), seccomp(2) and
prctl(2) calls, a tracer, a notification supervisor), and ``fuzz.threads.compare`` asserts that
every step (return value, death, SIGSYS, trace stop, notification) and every thread's mode,
no_new_privs and filters agree. The asserts after it say what the kernel did, in words.
"""

import errno
import struct

import pytest

from bpfsim import Kernel, Program, SeccompData, abi
from bpfsim import kernel as live
from bpfsim.kernel import SceneStep as Step, default_kernel_name, run_scene, seccomp_unavailable_reason
from bpfsim.syscalls import syscall_number
from bpfsim.process import CLONE_THREAD_FLAGS, Process
from bpfsim.seccomp import NOTIF_SIZES, PR_SET_SYSCALL_USER_DISPATCH, FilterChain, ThreadSyncFailed
from fuzz.threads import calls, compare
from tests.oracle import asked_kernel_version

pytestmark = pytest.mark.skipif(seccomp_unavailable_reason() is not None,
                                reason=f"needs the kernel's seccomp: {seccomp_unavailable_reason()}")

# The scenes run on the arch of the kernel asked: this machine's, or a lab guest's.
TARGET = live.target()
KNOWN = calls(TARGET.name)
SECCOMP, PRCTL, GETPID, GETTID = KNOWN.seccomp, KNOWN.prctl, KNOWN.getpid, KNOWN.gettid

TSYNC, ESRCH_FLAG = abi.SECCOMP_FILTER_FLAG_TSYNC, abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
LISTENER = abi.SECCOMP_FILTER_FLAG_NEW_LISTENER



def on_call(name, action):
    return Program.from_asm(f"ld [nr]\njeq #{name}, 0, 1\nret {action}\nret ALLOW", arch=TARGET.name)


ALLOW = Program.from_asm("ret ALLOW")
ERRNO_GETPID = on_call("getpid", "ERRNO(5)")
KILL_THREAD_GETTID = on_call("gettid", "KILL_THREAD")
KILL_PROCESS_GETTID = on_call("gettid", "KILL_PROCESS")
ERRNO0_SECCOMP = on_call("seccomp", "ERRNO(0)")
TRACE_SECCOMP = on_call("seccomp", "TRACE(9)")
NOTIFY_GETPID = on_call("getpid", "USER_NOTIF")
TRAP_SECCOMP = on_call("seccomp", "TRAP(3)")
FILTERS = [ALLOW, ERRNO_GETPID, KILL_THREAD_GETTID, KILL_PROCESS_GETTID, ERRNO0_SECCOMP, TRACE_SECCOMP,
           NOTIFY_GETPID, TRAP_SECCOMP]


def install(slot, program, flags=0):
    return Step(slot, SECCOMP, (abi.SECCOMP_SET_MODE_FILTER, flags), pointer=(2, FILTERS.index(program)))


def install_prctl(slot, program):
    return Step(slot, PRCTL, (abi.PR_SET_SECCOMP, abi.SECCOMP_MODE_FILTER), pointer=(2, FILTERS.index(program)))


def clone(slot, new):
    return Step(slot, kind="clone", new_slot=new)


def fork(slot, new):
    return Step(slot, kind="fork", new_slot=new)


def dispatch_on(slot, selector, offset=0, length=0):
    return Step(slot, PRCTL, (PR_SET_SYSCALL_USER_DISPATCH, 1, offset, length), pointer=(4, "selector"),
                selector=selector)


def needs_on_the_kernel(fact):
    """Skip, saying why, where the kernel the scenes run on lacks ``fact`` (an older lab guest,
    ``$BPFSIM_ORACLE_KERNEL``): bpfsim and that kernel still agree, on a failing prctl."""
    kernel = Kernel.of(default_kernel_name())
    if not kernel.has(fact, TARGET):
        pytest.skip(f"{kernel} has no {fact} on {TARGET} (bpfsim.profiles)")


def kernel_agrees(script, programs=FILTERS, **options):
    """The kernel's scene for ``script``, after checking bpfsim gives the same answers."""
    assert compare(programs, script, **options) == []
    return run_scene(programs, script, **options)


SCRIPTS = {
    "ERRNO(0) on the install call returns 0 and attaches nothing (#14 item 1)": (
        [install(0, ERRNO0_SECCOMP), install(0, ERRNO_GETPID), install_prctl(0, ERRNO_GETPID), Step(0, GETPID)],
        {}),
    "TRACE on the install call, with a tracer: the recheck lets it through (#14 item 3)": (
        [install(0, TRACE_SECCOMP), install(0, ERRNO_GETPID), Step(0, GETPID)], {"tracer": True}),
    "TRAP on an install that asks for a listener: SIGSYS, no listener, what the rollback left": (
        [install(0, TRAP_SECCOMP), install(0, NOTIFY_GETPID, LISTENER), Step(0, GETPID)], {}),
    "TRACE on the install call, without a tracer: ENOSYS": (
        [install(0, TRACE_SECCOMP), install(0, ERRNO_GETPID), Step(0, GETPID)], {}),
    "SECCOMP_GET_ACTION_AVAIL: the eight exact actions, EOPNOTSUPP, EINVAL with flags (#14 item 4)": (
        [Step(0, SECCOMP, (2, 0), pointer=(2, "buf"), buf=action) for action in
         (*abi.ACTION_NAMES, 0x00050001, 0x7FFE0000, 0x12345678)]
        + [Step(0, SECCOMP, (2, 1), pointer=(2, "buf"), buf=abi.SECCOMP_RET_ALLOW), Step(0, SECCOMP, (2, 0))],
        {}),
    "SECCOMP_GET_NOTIF_SIZES, EINVAL with flags, EFAULT with NULL": (
        [Step(0, SECCOMP, (3, 0), pointer=(2, "buf")), Step(0, SECCOMP, (3, 1), pointer=(2, "buf")),
         Step(0, SECCOMP, (3, 0))], {}),
    "the call forms that fail (#14 item 5)": (
        [Step(0, SECCOMP, (0, 1)), Step(0, SECCOMP, (0, 0, 1)), Step(0, SECCOMP, (4, 0)), Step(0, SECCOMP, (1, 0)),
         Step(0, SECCOMP, (1, 0x40), pointer=(2, 0)), Step(0, PRCTL, (22, 0)), Step(0, PRCTL, (22, 3)),
         Step(0, PRCTL, (22, 2, 0)), Step(0, PRCTL, (22, 1 << 32 | 2), pointer=(2, 0)), Step(0, PRCTL, (21,))],
        {}),
    "strict mode twice: the second prctl is itself forbidden (SIGKILL)": (
        [clone(0, 1), Step(1, PRCTL, (22, 1)), Step(1, PRCTL, (22, 1)), Step(0, GETPID)], {}),
    "strict mode is per thread, and the last strict thread's death ends the process": (
        [clone(0, 1), Step(1, SECCOMP, (0, 0)), Step(0, GETTID), Step(0, PRCTL, (22, 1)), Step(1, GETTID),
         Step(0, GETPID)], {}),
    "clone and fork copy the caller's filters; threads keep diverged stacks (#14 item 6)": (
        [install(0, ERRNO_GETPID), clone(0, 1), install(1, KILL_THREAD_GETTID), fork(1, 2), Step(0, GETTID),
         Step(2, GETPID), clone(0, 3), Step(3, GETPID)], {}),
    "TSYNC makes every sibling's stack the caller's": (
        [clone(0, 1), clone(0, 2), install(0, ERRNO_GETPID, TSYNC), Step(1, GETPID), Step(2, GETPID),
         install(2, ALLOW, TSYNC)], {}),
    "TSYNC fails with the first sibling whose filters are not an ancestor": (
        [clone(0, 1), clone(0, 2), install(2, ERRNO_GETPID), install(1, ALLOW), install(0, KILL_THREAD_GETTID, TSYNC),
         Step(0, GETTID)], {}),
    "TSYNC_ESRCH fails with ESRCH instead; a strict sibling cannot be synchronized": (
        [clone(0, 1), clone(0, 2), install(1, ALLOW), install(0, ALLOW, TSYNC | ESRCH_FLAG),
         Step(2, PRCTL, (22, 1)), install(1, ALLOW, TSYNC)], {}),
    "TSYNC reaches threads without filters, and carries no_new_privs": (
        [clone(0, 1), install(0, ERRNO_GETPID, TSYNC), Step(1, GETPID)], {"no_new_privs": False}),
    "one listener per filter tree: EBUSY on the same tree, not on a diverged thread": (
        [clone(0, 1), install(0, NOTIFY_GETPID, LISTENER), install(0, ALLOW, LISTENER), install(1, NOTIFY_GETPID, LISTENER),
         Step(0, GETPID), Step(1, GETPID), install(0, ALLOW, TSYNC | LISTENER), install(0, ALLOW, TSYNC | LISTENER | ESRCH_FLAG)],
        {}),
    "KILL_THREAD ends one thread, KILL_PROCESS all of them": (
        [clone(0, 1), clone(0, 2), install(1, KILL_THREAD_GETTID), Step(1, GETTID), Step(0, GETPID),
         install(2, KILL_PROCESS_GETTID), Step(2, GETTID), Step(0, GETPID)], {}),
    "KILL_THREAD in the leader leaves the other threads running": (
        [clone(0, 1), install(0, KILL_THREAD_GETTID), Step(0, GETTID), Step(1, GETTID), install(1, ALLOW, TSYNC)], {}),
    "the filters see the low 32 bits of the nr register, the low 16 on s390x (#14 item 8)": (
        [install(0, ERRNO_GETPID), Step(0, 1 << 32 | GETPID), Step(0, 0xFFFFFFFF00000000 | GETPID),
         Step(0, 1 << 16 | GETPID)], {}),
    "user dispatch: SIGSYS before seccomp, the selector, not inherited (#14 item 7)": (
        [install(0, KILL_PROCESS_GETTID), dispatch_on(0, 1), Step(0, GETTID), Step(0, GETTID, selector=0),
         clone(0, 1), fork(0, 2), Step(1, GETPID, selector=1), Step(2, GETPID, selector=1)], {}),
    "user dispatch: a selector byte that is neither ALLOW nor BLOCK kills the process": (
        [clone(0, 1), dispatch_on(0, 0), Step(0, GETPID, selector=2), Step(1, GETPID)], {}),
    "user dispatch: bad arguments": (
        [Step(0, PRCTL, (59, 0, 0, 1)), Step(0, PRCTL, (59, 3)), Step(0, PRCTL, (59, 1, 5, 0)),
         Step(0, PRCTL, (59, 1, 0xFFFFFFFFFFFFFFFF, 2)), Step(0, PRCTL, (59, 2, 0, 0)),
         Step(0, PRCTL, (59, 2, 4096, 4096)), Step(0, PRCTL, (59, 0))], {}),
}


@pytest.mark.parametrize("script, options", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_bpfsim_and_the_kernel_agree_on_every_step_and_thread(script, options):
    kernel_agrees(script, **options)


def test_errno_0_on_the_install_call_attaches_nothing():
    scene = kernel_agrees(SCRIPTS["ERRNO(0) on the install call returns 0 and attaches nothing (#14 item 1)"][0])
    assert [o.retval for o in scene.outcomes] == [0, 0, 0, -5]  # prctl's install was not refused
    assert scene.threads[0].filters == (ERRNO0_SECCOMP.to_bytes(), ERRNO_GETPID.to_bytes())


def test_get_notif_sizes_writes_the_kernels_sizes():
    scene = kernel_agrees(SCRIPTS["SECCOMP_GET_NOTIF_SIZES, EINVAL with flags, EFAULT with NULL"][0])
    order = "<" if TARGET.byteorder == "little" else ">"
    assert struct.unpack_from(f"{order}3H", scene.outcomes[0].buf) == NOTIF_SIZES
    assert [o.retval for o in scene.outcomes] == [0, -errno.EINVAL, -errno.EFAULT]


def test_tsync_failure_returns_the_first_unsynchronizable_sibling():
    scene = kernel_agrees(SCRIPTS["TSYNC fails with the first sibling whose filters are not an ancestor"][0])
    assert scene.outcomes[4].retval == scene.threads[1].tid  # slot 1 was created first
    assert scene.outcomes[5].retval == scene.threads[0].tid  # nothing was attached


def test_the_install_calls_show_their_real_arguments_and_instruction_pointer():
    """#14 item 2: the sock_fprog pointer (args[2]) and the instruction pointer are the caller's."""
    probe = run_scene([ALLOW], [Step(0, GETPID)])
    fprog, site = probe.fprog_address(1), probe.call_site
    on_pointer = Program.from_asm(f"ld [nr]\njeq #seccomp, 0, 3\nld [args[2].lo]\njeq #{fprog & 0xFFFFFFFF}, 0, 1\n"
                                  "ret ERRNO(7)\nret ALLOW", arch=TARGET.name)
    on_ip = Program.from_asm(f"ld [nr]\njeq #prctl, 0, 3\nld [instruction_pointer.lo]\n"
                             f"jeq #{site & 0xFFFFFFFF}, 0, 1\nret ERRNO(8)\nret ALLOW", arch=TARGET.name)
    programs = [on_pointer, on_ip, ALLOW]
    script = [Step(0, SECCOMP, (1, 0), pointer=(2, 1)), Step(0, SECCOMP, (1, 0), pointer=(2, 0)),
              Step(0, SECCOMP, (1, 0), pointer=(2, 2)), Step(0, SECCOMP, (1, 0), pointer=(2, 1)),
              Step(0, PRCTL, (22, 2), pointer=(2, 2))]
    scene = kernel_agrees(script, programs)
    assert [o.retval for o in scene.outcomes] == [0, 0, 0, -7, -8]


def test_user_dispatch_sigsys_names_the_call():
    needs_on_the_kernel("prctl_syscall_user_dispatch")
    scene = kernel_agrees(SCRIPTS["user dispatch: SIGSYS before seccomp, the selector, not inherited (#14 item 7)"][0])
    info = scene.outcomes[2].siginfo
    assert (info.si_signo, info.si_code, info.si_syscall, info.si_call_addr) == (abi.SIGSYS, 2, GETTID, scene.call_site)
    # The return register as syscall_rollback leaves it: x86's held the number, arm64's the first
    # argument (0 here); s390's __do_syscall then sets -ENOSYS (seccomp.trap_return_value).
    rolled_back = {"x86_64": GETTID, "aarch64": 0, "s390x": -errno.ENOSYS}[TARGET.name]
    assert scene.outcomes[2].retval == rolled_back
    assert scene.outcomes[3].fate == "process"  # selector ALLOW: seccomp's KILL_PROCESS


@pytest.mark.parametrize("arch, expected", [("x86_64", "the number"), ("riscv64", "args[0]"), ("s390x", "-ENOSYS")])
def test_a_dispatched_call_returns_what_the_rollback_leaves(arch, expected):
    """kernel/entry/syscall_user_dispatch.c calls syscall_rollback as a TRAP's skip does, so a
    returning SIGSYS handler finds what it finds after TRAP (kernel-checked on lab guests for
    TRAP: seccomp.trap_return_value; riscv's rollback restores a0 as arm64's does x0)."""
    chain = FilterChain(arch=arch)
    chain.prctl(PR_SET_SYSCALL_USER_DISPATCH, 1, 0, 0, True)
    chain.selector = 1  # SYSCALL_DISPATCH_FILTER_BLOCK
    result = chain.call("getpid", (7,))
    assert result.siginfo is not None and result.siginfo.si_code == 2
    want = {"the number": result.data.nr, "args[0]": 7, "-ENOSYS": -errno.ENOSYS}[expected]
    assert result.retval == want and "returning handler" in result.description


@pytest.mark.parametrize("offset, length, dispatched", [
    (-2, 2, True), (-1, 2, False), (0, 1, False), (1, 4096, True), (-4096, 4096, True)],
    ids=["ending at the syscall instruction's end", "covering the address after it", "starting there",
         "just after it", "just before it"])
def test_user_dispatch_compares_the_address_after_the_syscall_instruction(offset, length, dispatched):
    needs_on_the_kernel("prctl_syscall_user_dispatch")
    site = run_scene([ALLOW], [Step(0, GETPID)]).call_site
    script = [dispatch_on(0, 1, site + offset, length), Step(0, GETPID)]
    scene = kernel_agrees(script)
    assert (scene.outcomes[1].siginfo is not None) is dispatched


def test_clone_passes_its_flags_where_the_arch_takes_them():
    """s390 selects CLONE_BACKWARDS2 (arch/s390/Kconfig): clone(2) takes the new stack first and
    the flags second; x86_64 and arm64 take the flags first. A filter that refuses clone with the
    thread flags in that argument refuses the scene's clone (EAGAIN, 11 on every arch here)."""
    flags_at = 1 if TARGET.name == "s390x" else 0
    refuse = Program.from_asm(f"ld [nr]\njeq #clone, 0, 3\nld [args[{flags_at}].lo]\n"
                              f"jeq #{CLONE_THREAD_FLAGS}, 0, 1\nret ERRNO(11)\nret ALLOW", arch=TARGET.name)
    scene = kernel_agrees([Step(0, SECCOMP, (abi.SECCOMP_SET_MODE_FILTER, 0), pointer=(2, 0)), clone(0, 1)],
                          [refuse])
    assert scene.outcomes[1].retval == -errno.EAGAIN and 1 not in scene.threads


def test_a_leader_a_seccomp_kill_ended_cannot_be_synchronized_before_6_11():
    """kernel/seccomp.c: a seccomp kill leaves the thread in SECCOMP_MODE_DEAD (495ac3069a62),
    and seccomp_can_sync_threads synchronizes only DISABLED threads and FILTER threads whose
    filters are the caller's ancestors. The dead leader, a zombie on the thread list until 6.11
    skipped exiting threads, fails the worker's TSYNC although its one filter is the worker's
    own first one (the threads fuzzer found it on the 5.10 and 6.1 guests)."""
    script = [clone(0, 1), install(1, KILL_THREAD_GETTID, TSYNC), Step(0, GETTID), install(1, ALLOW, TSYNC)]
    scene = kernel_agrees(script)
    assert scene.outcomes[2].fate == "thread"
    dead_leader = scene.threads[0].tid
    assert scene.outcomes[3].retval == (dead_leader if asked_kernel_version() < (6, 11) else 0)


def test_a_listener_got_after_the_leader_exited_is_answered_or_refused():
    """The helper answers a listener's notifications through a copy it takes with pidfd_getfd.
    Once the leader has exited, only a pidfd of the thread itself (PIDFD_THREAD, Linux 6.9)
    reaches the threads' file table; before that the scene is refused rather than left to
    block (the threads fuzzer's seed 1206 hung on the 5.10 and 6.1 guests)."""
    script = [clone(0, 1), install(0, KILL_THREAD_GETTID), Step(0, GETTID), install(1, NOTIFY_GETPID, LISTENER),
              Step(1, GETPID)]
    if asked_kernel_version() < (6, 9):
        with pytest.raises(live.KernelError) as refused:
            run_scene(FILTERS, script)
        assert refused.value.errno == errno.EOPNOTSUPP
        return
    scene = kernel_agrees(script)
    assert scene.outcomes[2].fate == "thread" and scene.outcomes[3].retval > 0
    assert scene.outcomes[4].notified and scene.outcomes[4].retval == -live.NOTIF_ERRNO


def test_random_scripts_agree_with_the_kernel():
    """A bounded run of the fuzz mode (``python -m fuzz --threads``)."""
    from fuzz.threads import run
    stats = run(15, seed=14)
    assert stats.steps == 15 * 24 and stats.divergences == []


def test_a_process_in_the_repl():
    process = Process(arch=TARGET.name)
    main = process.main
    worker = main.clone().child
    main.attach(ERRNO_GETPID)
    assert main.call("getpid").retval == -5 and worker.call("getpid").retval is None
    worker.attach(ALLOW)
    with pytest.raises(ThreadSyncFailed) as failed:
        main.attach(ALLOW, TSYNC)
    assert failed.value.tid == worker.tid and len(main) == 1
    worker.attach(KILL_THREAD_GETTID)
    assert worker.call("gettid").killed == "thread" and process.alive and not worker.alive
    assert repr(process) == "<Process 1000: Thread 1000: 1 filter, Thread 1001 exited (signal 31)>"


def test_execve_keeps_the_filters_and_ends_the_other_threads():
    """Source-cited, not kernel-checked (the oracle's threads cannot exec a new image): fs/exec.c
    begin_new_exec -> de_thread kills the other threads and the caller takes the leader's pid;
    nothing on that path resets task->seccomp, so filters and mode stay (seccomp(2): "preserved
    across execve")."""
    process = Process(arch=TARGET.name)
    worker = process.main.clone().child
    worker.attach(ERRNO_GETPID)
    assert worker.execve().retval == 0
    assert process.threads == [worker] and worker.tid == process.pid and len(worker) == 1
    assert worker.call("getpid").retval == -5


def test_action_availability_and_notif_sizes_follow_the_kernel_version():
    """#14 item 4 per version (bpfsim.profiles): USER_NOTIF and SECCOMP_GET_NOTIF_SIZES came in 5.0."""
    old, new = FilterChain(kernel="4.19"), FilterChain()
    assert old.seccomp(abi.SECCOMP_GET_ACTION_AVAIL, 0, abi.SECCOMP_RET_USER_NOTIF).retval == -errno.EOPNOTSUPP
    assert new.seccomp(abi.SECCOMP_GET_ACTION_AVAIL, 0, abi.SECCOMP_RET_USER_NOTIF).retval == 0
    assert old.seccomp(abi.SECCOMP_GET_NOTIF_SIZES, 0, True).retval == -errno.EINVAL
    assert new.seccomp(abi.SECCOMP_GET_NOTIF_SIZES, 0, True).retval == 0


@pytest.mark.parametrize("arch, kernel, available", [
    ("x86_64", "5.11", True), ("s390x", "5.11", False), ("s390x", "5.12", True), ("aarch64", "6.18", False),
    ("riscv64", "6.18", True), ("mips", "6.18", False)])
def test_user_dispatch_needs_the_generic_entry_code(arch, kernel, available):
    """include/linux/syscall_user_dispatch.h: without CONFIG_GENERIC_ENTRY the prctl's setter is
    a stub that answers EINVAL (arm64 and mips do not select it in 6.18, s390 did from 5.12);
    under make lab-test the scenes show the 6.12 arm64 guest's EINVAL and the 6.1 s390x guest's 0."""
    chain = FilterChain(arch=arch, kernel=kernel)
    got = chain.prctl(PR_SET_SYSCALL_USER_DISPATCH, 1, 0, 0, True).retval
    assert got == (0 if available else -errno.EINVAL)


def test_user_dispatch_is_a_prctl_option_since_5_11():
    """bpfsim.profiles: older kernels answer EINVAL, as for any prctl option they do not know."""
    for kernel, expected in (("5.10", -errno.EINVAL), ("5.11", 0)):
        assert FilterChain(kernel=kernel).prctl(PR_SET_SYSCALL_USER_DISPATCH, 1, 0, 0, True).retval == expected


def test_inclusive_user_dispatch_is_a_mode_since_6_17():
    """Commit a2fc422ed757 (v6.17) added mode 2; before it, the switch of
    task_set_syscall_user_dispatch answers any mode but 0 and 1 with EINVAL."""
    for kernel, expected in (("6.16", -errno.EINVAL), ("6.17", 0)):
        chain = FilterChain(kernel=kernel)
        assert chain.prctl(PR_SET_SYSCALL_USER_DISPATCH, 2, 0x1000, 0x1000, True).retval == expected
        assert chain.prctl(PR_SET_SYSCALL_USER_DISPATCH, 1, 0, 0, True).retval == 0


def test_a_chain_without_filters_is_an_unfiltered_thread():
    """#14 item 9: the call runs; there is no verdict because no filter judged it."""
    result = FilterChain().call("getpid")
    assert result.ran and result.verdict is None


@pytest.mark.parametrize("actions", [
    pytest.param((abi.SECCOMP_RET_ERRNO | 42,), id="ERRNO(42)"),
    pytest.param((abi.SECCOMP_RET_ERRNO | 42, abi.SECCOMP_RET_ERRNO | 13), id="two filters, the newer ERRNO wins"),
    pytest.param((abi.SECCOMP_RET_KILL_PROCESS,), id="KILL_PROCESS"),
    pytest.param((abi.SECCOMP_RET_ERRNO | 7, abi.SECCOMP_RET_ALLOW), id="the older filter's ERRNO still judges"),
])
def test_execve_keeps_the_stack_as_the_kernel_does(actions):
    """Issue #14 item 6 (fs/exec.c leaves current->seccomp alone): a process installs the stack,
    execve()s, and the new program's getppid gets the stack's verdict, on bpfsim's Process and
    on the kernel (``kernel.call_after_execve``: the oracle helper re-executes itself)."""
    target = live.target()
    getppid = syscall_number("getppid", target.name)
    programs = [Program.from_asm(f"ld [nr]\njeq #{getppid}, 0, 1\nret #{action}\nret ALLOW") for action in actions]
    seen = live.call_after_execve(programs, SeccompData(getppid, target.name))
    thread = Process(arch=target.name).main
    for program in programs:
        thread.attach(program)
    thread.execve()
    mine = thread.call(getppid)
    assert (mine.signal if mine.killed else None) == seen.signal
    if seen.signal is None:
        assert mine.retval == seen.retval


@pytest.mark.parametrize("kernel, fails_with_leader", [
    pytest.param("debian-6.1-amd64", True, id="6.1: the dead leader's tid (seen on the Debian 6.1.192 guest)"),
    pytest.param("debian-6.12-amd64", False, id="6.12: skipped, PF_EXITING (13eb42e2529e, 6.11)"),
])
def test_a_dead_leader_blocks_tsync_before_6_11(kernel, fails_with_leader):
    """The scene "KILL_THREAD in the leader leaves the other threads running" on the lab guests:
    the other thread's TSYNC install returned the zombie leader's tid on 6.1, 0 on 6.12."""
    process = Process(kernel=kernel, arch=TARGET.name)
    worker = process.main.clone().child
    process.main.attach(KILL_THREAD_GETTID)
    assert process.main.call("gettid").killed == "thread"
    got = worker.seccomp(abi.SECCOMP_SET_MODE_FILTER, TSYNC, ALLOW)
    assert got.retval == (process.pid if fails_with_leader else 0)


@pytest.mark.parametrize("kernel, fails_with_leader", [
    pytest.param("debian-5.10-arm64", True, id="5.10.223: SECCOMP_MODE_DEAD, a stable backport"),
    pytest.param("debian-6.1-s390x", True, id="6.1: SECCOMP_MODE_DEAD (495ac3069a62, 5.17)"),
    pytest.param("debian-6.12-amd64", False, id="6.12: the exiting leader is skipped (13eb42e2529e, 6.11)"),
])
def test_a_leader_killed_by_a_shared_filter_still_blocks_tsync_before_6_11(kernel, fails_with_leader):
    """test_a_leader_a_seccomp_kill_ended_cannot_be_synchronized_before_6_11 as the lab guests
    answered it: the dead leader's filters are the worker's ancestors, but its mode is DEAD."""
    process = Process(kernel=kernel, arch=TARGET.name)
    worker = process.main.clone().child
    worker.attach(KILL_THREAD_GETTID, TSYNC)
    assert process.main.call("gettid").killed == "thread"
    got = worker.seccomp(abi.SECCOMP_SET_MODE_FILTER, TSYNC, ALLOW)
    assert got.retval == (process.pid if fails_with_leader else 0)
