"""The kernel oracle against facts of kernel-semantics.md (§2, §4, §5, §9) on the real kernel.

Expected values come from the reference, never from bpfsim's simulator. The same tests run on a
lab guest (``BPFSIM_ORACLE_KERNEL=debian-6.12-arm64``, ``make lab-test``): numbers and arch come
from the oracle's ``Target``, and the few tests that cannot run on a guest say why.
"""

import ctypes
import errno
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from bpfsim import abi, kernel
from bpfsim import Program, SeccompData, evaluate
from bpfsim.kernel import KernelError, KernelInstallError, Oracle
from bpfsim.syscalls import syscall_table
from tests.oracle import asked_kernel_version

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(kernel.seccomp_unavailable_reason() is not None,
                       reason=str(kernel.seccomp_unavailable_reason())),
]

GUEST = kernel.default_kernel_name()  # None: this machine's kernel
TARGET = kernel.target()
ARCH = TARGET.name
NR = {name: nr for nr, name in syscall_table(ARCH).items()}
GETPID, GETPPID, GETTID, KILL, NOSUCH = NR["getpid"], NR["getppid"], NR["gettid"], NR["kill"], 5000
VERSION = asked_kernel_version()
I386_GETPID = 20
AUDIT_ARCH_I386 = 0x40000003


def local_only(why):
    """A test that cannot run on a lab guest, for the reason given."""
    return pytest.mark.skipif(GUEST is not None, reason=f"not on a lab guest: {why}")


def x86_only(why):
    return pytest.mark.skipif(ARCH != "x86_64", reason=f"x86_64 only: {why}")


def call(nr, args=()):
    """A native call of the kernel asked."""
    return SeccompData(nr, ARCH, args=args)


def insn(code, jt, jf, k):
    return struct.pack("<HBBI", code, jt, jf, k)


def ret(k):
    return insn(0x06, 0, 0, k)


def on_nr(nr, hit, miss=abi.SECCOMP_RET_ALLOW):
    """LD nr; JEQ nr; RET hit; RET miss."""
    return insn(0x20, 0, 0, 0) + insn(0x15, 0, 1, nr) + ret(hit) + ret(miss)


def one(filters, call, **kw):
    return kernel.run_calls(filters, [call], **kw)[0]


@local_only("which probe calls bypass the filters differs by kernel (a 6.12.117 backport, 6.18); "
            "the lab recordings check it per kernel (tests/test_lab_corpus.py)")
@pytest.mark.parametrize("nr, value, action, candidates", [
    pytest.param(335, abi.SECCOMP_RET_KILL_PROCESS, "NOT_FILTERED", (("ALLOW", None),),
                 id="uretprobe ran: SIGILL outside a probe"),
    pytest.param(336, abi.SECCOMP_RET_KILL_PROCESS, "NOT_FILTERED", (("ALLOW", None),),
                 id="uprobe ran: ENXIO outside a probe"),
    pytest.param(336, abi.SECCOMP_RET_ERRNO | errno.ENXIO, "ENXIO_AMBIGUOUS", (("ALLOW", None), ("ERRNO", errno.ENXIO)),
                 id="uprobe's ENXIO, or the stack's ERRNO(ENXIO)"),
])
def test_a_call_that_skips_the_filters_is_seen_running(nr, value, action, candidates):
    """seccomp_uprobe_exception (6.14 for 335, 6.18 for 336, this machine's kernel): the oracle
    tells a call that skipped the filters by what it does, not by its number."""
    got = one([ret(value)], SeccompData(nr))
    assert (got.action, got.candidates) == (action, candidates)
    assert got.signal == (signal.SIGILL if nr == 335 else None)


def test_calls_go_in_as_seccomp_data_and_observations_compare_with_verdicts():
    """One vocabulary at the edge: the kernel is asked with bpfsim's records, and what it saw is
    checked against a Verdict; the oracle itself never evaluates a filter."""
    asked = call(GETPID, (7,))
    got = one([ret(abi.SECCOMP_RET_ERRNO | 5)], asked)
    assert got.call == asked and got.admits("ERRNO", 5)
    verdict_of = lambda value: evaluate([Program.from_bytes(ret(value))], asked)
    assert got.admits(verdict_of(abi.SECCOMP_RET_ERRNO | 5)) and not got.admits(verdict_of(abi.SECCOMP_RET_ERRNO | 6))
    assert not hasattr(kernel, "Call") and not hasattr(kernel, "Outcome")
    foreign = "aarch64" if ARCH == "x86_64" else "x86_64"
    with pytest.raises(ValueError, match=foreign):
        one([ret(abi.SECCOMP_RET_ALLOW)], SeccompData(172, foreign))


# --- ERRNO (§5, §9) ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, seen", [
    pytest.param(1, errno.EPERM, id="ERRNO|1 gives EPERM"),
    pytest.param(4095, 4095, id="ERRNO|4095 passes"),
    pytest.param(4096, 4095, id="ERRNO|4096 is capped to 4095"),
    pytest.param(0xFFFF, 4095, id="ERRNO|0xffff is capped to 4095"),
])
def test_errno_data_becomes_the_capped_errno(data, seen):
    got = one([ret(abi.SECCOMP_RET_ERRNO | data)], call(GETPID))
    assert (got.action, got.data, got.errno, got.retval) == ("ERRNO", seen, seen, -seen)
    assert got.admits("ERRNO", data)


def test_errno_zero_makes_getpid_return_zero():
    got = one([ret(abi.SECCOMP_RET_ERRNO)], call(GETPID))
    assert (got.action, got.data, got.retval, got.errno) == ("ERRNO", 0, 0, None)


def test_errno_order_newest_of_equal_actions_wins():
    stack = [ret(abi.SECCOMP_RET_ERRNO | e) for e in (11, 13, 12)]  # selftest ERRNO_order
    assert one(stack, call(GETPID)).data == 12


def test_precedence_errno_22_installed_second_beats_errno_1_and_allow():
    stack = [ret(abi.SECCOMP_RET_ERRNO | 1), ret(abi.SECCOMP_RET_ERRNO | 22), ret(abi.SECCOMP_RET_ALLOW)]
    got = one(stack, call(GETPID))
    assert (got.action, got.data) == ("ERRNO", 22)


@pytest.mark.parametrize("name", [n for n in ("getpid", "getppid", "gettid", "getpgrp") if n in NR])
def test_allowed_identity_calls_run_unguarded_and_return_their_natural_value(name):
    got = one([ret(abi.SECCOMP_RET_ALLOW)], call(NR[name]))
    assert got.action == "LOG_OR_ALLOW" and not got.guarded
    assert got.retval > 0 and got.admits("ALLOW")


def test_log_and_allow_are_never_told_apart():
    got = one([ret(abi.SECCOMP_RET_LOG)], call(GETPID))
    assert got.action == "LOG_OR_ALLOW" and got.admits("LOG") and got.retval > 0


# --- TRAP (§5, §9) ----------------------------------------------------------------------------

def test_trap_siginfo_carries_data_nr_arch_and_rolls_the_registers_back():
    got = one([ret(abi.SECCOMP_RET_TRAP | 0x1234)], call(GETPID, (77,)))
    si = got.siginfo
    assert (got.action, got.data) == ("TRAP", 0x1234)
    assert (si.si_signo, si.si_code, si.si_errno) == (signal.SIGSYS, 1, 0x1234)
    assert (si.si_syscall, si.si_arch) == (GETPID, TARGET.audit_arch)
    # syscall_rollback (arch/*/include/asm/syscall.h) puts back the register as at entry: x86's
    # return register held the number (ax = orig_ax), arm64's the first argument (x0 = orig_x0);
    # s390's __do_syscall then sets gpr2 to -ENOSYS, the call being skipped (seen on 6.1 s390x).
    assert got.retval == {"x86_64": GETPID, "s390x": -errno.ENOSYS}.get(ARCH, 77)
    assert si.si_call_addr == kernel.instruction_pointer()


def test_trap_returns_into_the_thread_so_later_calls_run():
    outs = kernel.run_calls([on_nr(GETPID, abi.SECCOMP_RET_TRAP | 7)], [call(GETPID), call(GETTID)])
    assert [o.action for o in outs] == ["TRAP", "LOG_OR_ALLOW"]


# --- kills (§5, §9) ---------------------------------------------------------------------------

def test_kill_thread_in_the_second_thread_kills_only_that_thread():
    stack = [on_nr(NOSUCH, abi.SECCOMP_RET_KILL_THREAD, abi.SECCOMP_RET_ERRNO | 5)]
    outs = kernel.run_calls(stack, [call(GETPID), call(NOSUCH), call(GETPID)])
    assert [o.action for o in outs] == ["ERRNO", "KILL_THREAD", "ERRNO"]
    assert outs[1].signal == signal.SIGSYS and outs[1].retval is None


@pytest.mark.parametrize("value", [
    pytest.param(abi.SECCOMP_RET_KILL_PROCESS, id="KILL_PROCESS"),
    pytest.param(0x10000000, id="unknown 0x10000000 kills like KILL_PROCESS"),
    pytest.param(0x7FFE0000, id="unknown 0x7ffe0000 beats ALLOW and kills"),
    pytest.param(0xAAAAAAAA, id="unknown 0xaaaaaaaa (selftest KILL_unknown)"),
])
def test_kill_process_and_unknown_actions_kill_the_whole_process(value):
    outs = kernel.run_calls([on_nr(NOSUCH, value, abi.SECCOMP_RET_ERRNO | 5)],
                            [call(NOSUCH), call(GETPID)])
    assert outs[0].action == "KILL_PROCESS" and outs[0].signal == signal.SIGSYS
    assert outs[1].action == "ERRNO"  # the remaining calls ran in a new subject


def test_kill_process_cannot_be_downgraded_by_a_later_kill_thread():
    stack = [ret(abi.SECCOMP_RET_KILL_PROCESS), ret(abi.SECCOMP_RET_KILL_THREAD)]
    assert one(stack, call(GETPID)).action == "KILL_PROCESS"


# --- TRACE and USER_NOTIF (§5, §9) ------------------------------------------------------------

def test_trace_without_a_tracer_fails_with_enosys():
    got = one([ret(abi.SECCOMP_RET_TRACE | 0x1001)], call(GETPID))
    assert not got.traced and got.errno == errno.ENOSYS
    assert got.admits("TRACE", 0x1001) and not got.admits("ALLOW")


def test_trace_with_a_tracer_gives_the_data_as_event_message():
    got = one([ret(abi.SECCOMP_RET_TRACE | 0x1001)], call(GETPID, (7,)), tracer=True)
    assert (got.action, got.data, got.errno) == ("TRACE", 0x1001, errno.ENOSYS)
    seen = got.seccomp_data
    assert (seen.nr, seen.arch, seen.args[0]) == (GETPID, TARGET.audit_arch, 7)


def test_user_notif_without_listener_fails_with_enosys():
    got = one([ret(abi.SECCOMP_RET_USER_NOTIF)], call(GETPID))
    assert got.errno == errno.ENOSYS and got.admits("USER_NOTIF")


def test_user_notif_with_listener_delivers_the_exact_seccomp_data():
    args = (1, 0xFFFFFFFFFFFFFFFF, 0x1122334455667788, 4, 5, 6)
    got = one([ret(abi.SECCOMP_RET_USER_NOTIF)], call(GETPID, args), listener=0)
    assert got.action == "USER_NOTIF" and got.errno == kernel.NOTIF_ERRNO
    order = "<" if TARGET.byteorder == "little" else ">"  # include/uapi/linux/seccomp.h: the CPU's order
    assert bytes(got.seccomp_data) == struct.pack(f"{order}iIQ6Q", GETPID, TARGET.audit_arch,
                                                  kernel.instruction_pointer(), *args)


def test_seccomp_data_is_laid_out_in_the_arch_byte_order():
    """include/uapi/linux/seccomp.h: args are u64 in the CPU's order, so on big-endian s390x
    ``ld [16]`` reads the high word of args[0] (the lab's prototype saw 10 for 0xA00000014)."""
    arg = 0x0000000A00000014
    low, high = (20, 10) if TARGET.byteorder == "little" else (10, 20)
    for offset, want in ((16, low), (20, high)):
        prog = insn(0x20, 0, 0, offset) + insn(0x54, 0, 0, 0xFFFF) + insn(0x44, 0, 0, abi.SECCOMP_RET_TRACE) \
            + insn(0x16, 0, 0, 0)
        got = one([prog], call(GETPID, (arg,)), tracer=True)
        assert (got.action, got.data) == ("TRACE", want)


def test_user_notif_goes_to_the_winning_filter_which_has_no_listener():
    stack = [ret(abi.SECCOMP_RET_USER_NOTIF), ret(abi.SECCOMP_RET_USER_NOTIF)]
    got = one(stack, call(GETPID), listener=0)  # the newer filter wins the tie: no listener
    assert got.errno == errno.ENOSYS


def test_user_notif_beats_trace_and_trap_beats_errno():
    assert one([ret(abi.SECCOMP_RET_USER_NOTIF), ret(abi.SECCOMP_RET_TRACE)], call(GETPID),
               listener=0).action == "USER_NOTIF"
    assert one([ret(abi.SECCOMP_RET_TRAP), ret(abi.SECCOMP_RET_ERRNO | 1)], call(GETPID)).action == "TRAP"


# --- ENOSYS has several causes (oracle notes: "ENOSYS is ambiguous") ---------------------------

def ret_a(value):
    """LD IMM value; RET A: the stack's verdict cannot be read off its RET K values."""
    return insn(0x00, 0, 0, value) + insn(0x16, 0, 0, 0)


@pytest.mark.parametrize("stack, call, verdict", [
    pytest.param([ret_a(abi.SECCOMP_RET_ERRNO | 38)], call(GETPID), ("ERRNO", 38), id="ERRNO 38"),
    pytest.param([ret_a(abi.SECCOMP_RET_USER_NOTIF)], call(GETPID), ("USER_NOTIF", None),
                 id="USER_NOTIF without listener"),
    pytest.param([ret_a(abi.SECCOMP_RET_TRACE | 7)], call(GETPID), ("TRACE", 7), id="TRACE without tracer"),
    pytest.param([ret_a(abi.SECCOMP_RET_ALLOW)], call(NOSUCH), ("LOG_OR_ALLOW", None),
                 id="ALLOW of a nonexistent call"),
    pytest.param([ret(abi.SECCOMP_RET_ERRNO | 38), ret(abi.SECCOMP_RET_USER_NOTIF)], call(KILL, (0, 0)),
                 ("ERRNO", 38), id="guarded ERRNO 38 under a newer USER_NOTIF"),
])
def test_enosys_is_resolved_by_probes(stack, call, verdict):
    raw = one(stack, call, resolve=False)
    assert raw.action == "ENOSYS_AMBIGUOUS" and raw.errno == errno.ENOSYS
    got = one(stack, call)
    assert (got.action, got.data) == verdict and got.errno == errno.ENOSYS
    assert all(raw.admits(*c) for c in got.candidates)


# --- user notification ioctls (§5) -----------------------------------------------------------

@pytest.mark.parametrize("ioctl, since, known", [
    pytest.param("ADDFD", (5, 9), errno.ENOENT, id="ADDFD in 5.9 (7cf97b125455)"),
    pytest.param("ADDFD_SEND", (5, 14), errno.ENOENT, id="ADDFD's SECCOMP_ADDFD_FLAG_SEND in 5.14 (0ae71c7720e3)"),
    pytest.param("SET_FLAGS", (6, 6), None, id="SET_FLAGS with SYNC_WAKE_UP in 6.6 (48a1084a8b74)"),
])
def test_a_notification_ioctl_the_kernel_does_not_know_is_einval(ioctl, since, known):
    """kernel/seccomp.c: seccomp_notify_ioctl's default case and seccomp_notify_addfd's flag check
    say EINVAL; a known ioctl looks the (unused) id up, ENOENT, and SET_FLAGS succeeds."""
    assert kernel.notify_ioctls()[ioctl] == (known if VERSION >= since else errno.EINVAL)


# --- execve keeps the stack (#14 item 6) -------------------------------------------------------

@pytest.mark.parametrize("stack, errno_seen, signal_seen", [
    pytest.param([on_nr(GETPPID, abi.SECCOMP_RET_ERRNO | 42)], 42, None, id="ERRNO(42)"),
    pytest.param([on_nr(GETPPID, abi.SECCOMP_RET_ERRNO | 42), on_nr(GETPPID, abi.SECCOMP_RET_ERRNO | 13)], 13, None,
                 id="both filters judge: the newer ERRNO wins"),
    pytest.param([on_nr(GETPPID, abi.SECCOMP_RET_KILL_PROCESS)], None, signal.SIGSYS, id="KILL_PROCESS"),
    pytest.param([on_nr(GETPPID, abi.SECCOMP_RET_TRAP | 5)], None, signal.SIGSYS,
                 id="TRAP: the new image has no SIGSYS handler, the default action kills"),
])
def test_the_new_program_of_execve_keeps_the_stack(stack, errno_seen, signal_seen):
    """fs/exec.c never touches current->seccomp: the filters judge the new image's calls."""
    got = kernel.call_after_execve(stack, call(GETPPID))
    assert (got.errno, got.signal) == (errno_seen, signal_seen), got


def test_after_execve_an_allowed_call_runs():
    got = kernel.call_after_execve([on_nr(GETPID, abi.SECCOMP_RET_ERRNO | 1)], call(GETPPID))
    assert got.retval > 0 and got.signal is None


# --- strict mode (#14 item 10) -------------------------------------------------------------------

# arch/*/include/asm/seccomp.h and include/asm-generic/seccomp.h: mode1_syscalls (and
# mode1_syscalls_32 for x86's compat tasks) are read, write, exit and one sigreturn: s390's and
# x86's 32-bit one are sigreturn, the generic one is rt_sigreturn.
STRICT_ALLOWED = {"x86_64": {"read", "write", "exit", "rt_sigreturn"}, "i386": {"read", "write", "exit", "sigreturn"},
                  "aarch64": {"read", "write", "exit", "rt_sigreturn"}, "s390x": {"read", "write", "exit", "sigreturn"}}
STRICT_ASKED = ("read", "write", "exit", "exit_group", "rt_sigreturn", "sigreturn", "getpid", "gettid")


@pytest.mark.parametrize("arch", [a for a in ("x86_64", "i386", "aarch64", "s390x")
                                  if a == ARCH or ARCH == "x86_64" and a == "i386"])
def test_strict_mode_lets_exactly_the_arch_list_run(arch):
    table = {name: nr for nr, name in syscall_table(arch).items()}
    seen = {name for name in STRICT_ASKED if name in table
            and kernel.strict_mode_allows(SeccompData(table[name], arch, args=(7,)))}
    assert seen == STRICT_ALLOWED[arch]


# --- what a kill takes with it ------------------------------------------------------------------

def test_a_kill_in_a_clone_vm_child_takes_its_dumpable_parent_only_before_5_16():
    """fs/coredump.c: a core-dumping kill zaps, through coredump_wait/zap_threads, every process
    sharing the mm until 0258b5fd7c71 (5.16) limited it to the thread group; do_coredump gives up
    before zapping when the mm is not dumpable."""
    child, parent = kernel.shared_mm_kill(dumpable=True)
    assert parent == (None if VERSION >= (5, 16) else signal.SIGSYS)
    if parent is None:
        assert child == signal.SIGSYS
    assert kernel.shared_mm_kill(dumpable=False) == (signal.SIGSYS, None)


# --- x86 specifics (§3.4) ---------------------------------------------------------------------

@x86_only("int $0x80 is x86's 32-bit entry")
def test_int80_is_seen_as_i386_with_full_64_bit_registers():
    got = one([ret(abi.SECCOMP_RET_USER_NOTIF)], SeccompData(I386_GETPID, "i386", args=(0x00000ABC00000DEF,)),
              listener=0)
    nr, arch, _ip, arg0 = struct.unpack_from("<iIQQ", bytes(got.seccomp_data))
    assert (nr, arch, arg0) == (I386_GETPID, AUDIT_ARCH_I386, 0x00000ABC00000DEF)
    trap = one([ret(abi.SECCOMP_RET_TRAP | 3)], SeccompData(I386_GETPID, "i386", args=()))
    assert (trap.siginfo.si_arch, trap.siginfo.si_syscall) == (AUDIT_ARCH_I386, I386_GETPID)


@x86_only("int $0x80 is x86's 32-bit entry")
def test_int80_getpid_runs_when_allowed():
    got = one([ret(abi.SECCOMP_RET_ALLOW)], SeccompData(I386_GETPID, "i386", args=()))
    assert got.action == "LOG_OR_ALLOW" and got.retval > 0


@pytest.mark.skipif(ARCH == "s390x", reason="s390x's svc carries a 16-bit number (arch/s390/kernel/syscall.c)")
def test_negative_nr_is_seen_as_0xffffffff():
    stack = [insn(0x20, 0, 0, 0) + insn(0x15, 0, 1, 0xFFFFFFFF) + ret(abi.SECCOMP_RET_ERRNO | 77)
             + ret(abi.SECCOMP_RET_ALLOW)]
    assert one(stack, call(-1)).data == 77
    allowed = one([ret(abi.SECCOMP_RET_ALLOW)], call(-1))
    assert allowed.errno == errno.ENOSYS and allowed.admits("ALLOW")


# --- the guard (safety) -----------------------------------------------------------------------

class _HostBystander:
    """A process of this machine whose death would prove that a guarded kill(2) really ran."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.pid = self.proc.pid

    def alive(self):
        time.sleep(0.05)
        return self.proc.poll() is None

    def end(self):
        self.proc.kill()
        self.proc.wait()


class _GuestBystander:
    """On a guest: the helper's server, the subjects' parent (their getppid). Killing it would
    end the guest's oracle, so the next question would go unanswered."""

    def __init__(self):
        self.pid = one([ret(abi.SECCOMP_RET_ALLOW)], call(GETPPID)).retval

    def alive(self):
        return one([ret(abi.SECCOMP_RET_ALLOW)], call(GETPPID)).retval == self.pid

    def end(self):
        pass


@pytest.fixture
def bystander():
    subject = _GuestBystander() if GUEST else _HostBystander()
    yield subject
    subject.end()


@pytest.mark.parametrize("stack", [
    pytest.param([ret(abi.SECCOMP_RET_ALLOW)], id="ALLOW"),
    pytest.param([ret(abi.SECCOMP_RET_LOG)], id="LOG"),
    pytest.param([ret(abi.SECCOMP_RET_TRACE | 5)], id="TRACE"),
    pytest.param([insn(0x00, 0, 0, abi.SECCOMP_RET_ALLOW) + insn(0x16, 0, 0, 0)], id="RET A = ALLOW"),
    pytest.param([], id="no filter at all"),
])
def test_an_allowed_unsafe_call_never_executes(bystander, stack):
    kill = call(KILL, (bystander.pid, signal.SIGKILL))
    for tracer in (False, True):
        got = one(stack, kill, tracer=tracer)
        assert got.guarded
    assert bystander.alive(), "kill(2) ran in the subject"


def test_guard_results_say_what_they_prove(bystander):
    kill = call(KILL, (bystander.pid, signal.SIGKILL))
    assert one([ret(abi.SECCOMP_RET_ALLOW)], kill).action == "LOG_OR_ALLOW"
    ret_a = one([insn(0x00, 0, 0, abi.SECCOMP_RET_ALLOW) + insn(0x16, 0, 0, 0)], kill)
    assert ret_a.action == "GUARDED" and ret_a.admits("ALLOW") and ret_a.admits("KILL_PROCESS")
    trace = one([ret(abi.SECCOMP_RET_TRACE | 0xB5F0)], kill)  # the default tag: another is chosen
    assert (trace.action, trace.data) == ("TRACE", 0xB5F0)
    assert one([ret(abi.SECCOMP_RET_ERRNO | 9)], kill).data == 9
    assert bystander.alive()


def test_guard_cannot_see_unknown_actions_between_trace_and_allow(bystander):
    got = one([ret(0x7FFE0000)], call(KILL, (bystander.pid, signal.SIGKILL)))
    assert got.action == "GUARDED" and got.admits("KILL_PROCESS")
    assert bystander.alive()


def test_unsafe_calls_are_refused_without_the_guard():
    with pytest.raises(ValueError):
        kernel.run_calls([ret(abi.SECCOMP_RET_ALLOW)], [call(KILL, (1, 9))], guard=False)


@x86_only("x32 is an x86_64 ABI")
def test_x32_calls_are_guarded_and_seen_with_the_x32_bit():
    stack = [on_nr(0x40000027, abi.SECCOMP_RET_ERRNO | 3)]
    assert one(stack, SeccompData(0x40000027)).data == 3
    assert one([ret(abi.SECCOMP_RET_ALLOW)], SeccompData(0x40000027)).guarded


# --- installing (§2) --------------------------------------------------------------------------

def test_invalid_program_is_refused_with_einval():
    assert kernel.install_result([insn(0xFFFF, 0, 0, 0)]) == errno.EINVAL
    with pytest.raises(KernelInstallError) as refused:
        kernel.run_calls([ret(abi.SECCOMP_RET_ALLOW), b"\x00" * 8], [call(GETPID)])
    assert (refused.value.errno, refused.value.index) == (errno.EINVAL, 1)


def test_4096_instructions_install_and_4097_do_not():
    assert kernel.check_programs([ret(0) * 4096, ret(0) * 4097, b""]) == [None, errno.EINVAL, errno.EINVAL]


def test_check_programs_matches_install_result():
    progs = [ret(abi.SECCOMP_RET_ALLOW), insn(0x20, 0, 0, 2) + ret(0), insn(0x20, 0, 0, 60) + ret(0),
             insn(0x60, 0, 0, 0) + ret(0), insn(0x74, 0, 0, 32) + ret(0)]
    assert kernel.check_programs(progs) == [kernel.install_result([p]) for p in progs] \
        == [None, errno.EINVAL, None, errno.EINVAL, errno.EINVAL]


def test_checking_many_large_programs_is_not_skewed_by_the_path_budget():
    big = ret(abi.SECCOMP_RET_ALLOW) * 4096  # 8195 converted instructions: 3 fit on one thread
    assert kernel.check_programs([big] * 10) == [None] * 10


def test_tsync_is_refused_because_it_would_filter_the_subjects_main_thread():
    with pytest.raises(ValueError):
        kernel.install_result([ret(abi.SECCOMP_RET_ALLOW)], abi.SECCOMP_FILTER_FLAG_TSYNC)


def test_path_limit_3641_one_instruction_filters_install_and_the_3642nd_fails_enomem():
    allow = ret(abi.SECCOMP_RET_ALLOW)
    assert kernel.install_error([allow] * 3641) is None
    assert kernel.install_error([allow] * 3642) == (3641, errno.ENOMEM)


def test_a_second_listener_is_ebusy():
    flags = [abi.SECCOMP_FILTER_FLAG_NEW_LISTENER] * 2
    assert kernel.install_error([ret(abi.SECCOMP_RET_ALLOW)] * 2, flags) == (1, errno.EBUSY)


def test_unknown_flag_is_einval():
    assert kernel.install_result([ret(abi.SECCOMP_RET_ALLOW)], 0x40) == errno.EINVAL


def test_program_objects_with_to_bytes_are_accepted():
    class Prog:
        def to_bytes(self):
            return ret(abi.SECCOMP_RET_ERRNO | 2)
    assert one([Prog()], call(GETPID)).data == 2


UNPRIVILEGED_SCRIPT = """
import errno, struct
from bpfsim import SeccompData, abi, kernel
ret = lambda k: struct.pack("<HBBI", 6, 0, 0, k)
assert kernel.seccomp_unavailable_reason() is None, kernel.seccomp_unavailable_reason()
oracle = kernel.default_oracle()
assert oracle.run_calls([ret(abi.SECCOMP_RET_ERRNO | 1)], [SeccompData(39)])[0].data == 1
assert oracle.suspended is False
try:
    oracle.run_calls([ret(abi.SECCOMP_RET_ERRNO | 5), ret(abi.SECCOMP_RET_ALLOW)], [SeccompData(39)])
except kernel.KernelInstallError as e:
    assert (e.index, e.errno, e.suspended) == (1, errno.EIO, False), e
try:
    oracle.run_calls([ret(abi.SECCOMP_RET_KILL_THREAD), ret(abi.SECCOMP_RET_ALLOW)], [SeccompData(39)])
except kernel.KernelInstallError as e:
    assert (e.index, e.blocked) == (1, 31), e
try:
    kernel.dump_filters(1)
except kernel.KernelError as e:
    assert e.errno in (errno.EPERM, errno.EACCES), e
else:
    raise AssertionError("an unprivileged user read init's filters")
print("ok")
"""


@local_only("runs bpfsim as another user of this machine")
def test_without_privilege_filters_install_in_order_and_block_later_installs():
    python, setpriv = "/usr/bin/python3", "/usr/bin/setpriv"
    if os.geteuid() != 0 or not (os.path.exists(python) and os.path.exists(setpriv)):
        pytest.skip("needs root, setpriv and a system python3 to become an unprivileged user")
    cache = tempfile.mkdtemp(prefix="bpfsim-nobody-")
    os.chmod(cache, 0o777)
    # A copy of the package the unprivileged user can read, wherever the checkout lives.
    package = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bpfsim")
    shutil.copytree(package, os.path.join(cache, "src", "bpfsim"), ignore=shutil.ignore_patterns("__pycache__"))
    for folder, dirs, files in os.walk(cache):
        for name in dirs + files:
            os.chmod(os.path.join(folder, name), 0o777 if name in dirs else 0o644)
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": cache, "PYTHONPATH": os.path.join(cache, "src")}
    try:
        done = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python,
                               "-c", UNPRIVILEGED_SCRIPT], env=env, cwd=cache, capture_output=True,
                              text=True, timeout=120)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert done.stdout.strip() == "ok", done.stderr


# --- reading filters back ---------------------------------------------------------------------

def _child_with_filters(filters):
    """Fork a child that installs ``filters`` with seccomp(2) and waits; returns (pid, release)."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    libc = ctypes.CDLL(None, use_errno=True)
    keep = [ctypes.create_string_buffer(f, len(f)) for f in filters]

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    progs = [Fprog(len(f) // 8, ctypes.addressof(b)) for f, b in zip(filters, keep)]
    pid = os.fork()
    if pid == 0:
        try:
            os.close(go_w)
            os.close(ready_r)
            signal.alarm(30)  # never outlive the test for long, whatever happens to it
            for p in progs:
                if libc.syscall(317, 1, 0, ctypes.byref(p)) != 0:
                    os._exit(1)
            os.write(ready_w, b"x")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)

    def release():
        os.close(go_w)
        for _ in range(500):
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    try:
        assert os.read(ready_r, 1) == b"x", "the child could not install its filters"
    except BaseException:
        release()
        raise
    finally:
        os.close(ready_r)
    return pid, release


@local_only("reads the filters of a process of this machine")
def test_dump_filters_returns_every_filter_oldest_first():
    filters = [on_nr(NOSUCH, abi.SECCOMP_RET_ERRNO | 5), ret(abi.SECCOMP_RET_ALLOW)]
    pid, release = _child_with_filters(filters)
    try:
        assert kernel.dump_filters(pid) == filters
    finally:
        release()


@local_only("reads the filters of a process of this machine")
def test_dump_filters_of_an_unfiltered_process_is_einval():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(KernelError) as failed:
            kernel.dump_filters(proc.pid)
        assert failed.value.errno == errno.EINVAL
    finally:
        proc.kill()
        proc.wait()


@local_only("reads the filters of a process of this machine")
def test_dump_filters_of_a_missing_pid_is_esrch():
    with pytest.raises(KernelError) as failed:
        kernel.dump_filters(2 ** 22 + 12345)
    assert failed.value.errno == errno.ESRCH


# --- robustness -------------------------------------------------------------------------------

def test_a_hung_subject_is_killed_and_reported_and_the_oracle_recovers():
    kernel.default_oracle().close()  # on a guest: one qemu at a time
    with Oracle(workers=1, timeout=1.0, answer_notifications=False, kernel=GUEST) as oracle:
        with pytest.raises(KernelError) as hung:
            oracle.run_calls([ret(abi.SECCOMP_RET_USER_NOTIF)], [call(GETPID)], listener=0)
        assert hung.value.errno == errno.ETIMEDOUT
        assert oracle.run_calls([ret(abi.SECCOMP_RET_ERRNO | 1)], [call(GETPID)])[0].data == 1


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


@local_only("kills the local helper's subject through this machine's /proc")
def test_an_idle_subject_killed_from_outside_is_replaced():
    with Oracle(workers=1) as oracle:
        oracle.run_calls([ret(abi.SECCOMP_RET_ERRNO | 1)], [call(GETPID)])
        for subject in _children(oracle.helper_pids()[0]):
            os.kill(subject, signal.SIGKILL)
        time.sleep(0.05)
        assert oracle.run_calls([ret(abi.SECCOMP_RET_ERRNO | 4)], [call(GETPID)])[0].data == 4


@local_only("looks for the local helper's processes in this machine's /proc")
def test_nothing_is_left_running_after_close():
    oracle = Oracle(workers=1)
    oracle.run_calls([ret(abi.SECCOMP_RET_KILL_PROCESS)], [call(GETPID)])
    oracle.run_calls([ret(abi.SECCOMP_RET_KILL_THREAD)], [call(GETPID), call(GETPID)])
    helpers = oracle.helper_pids()
    subjects = [c for h in helpers for c in _children(h)]
    assert len(helpers) == 1 and len(subjects) <= 1
    oracle.close()
    for pid in helpers + subjects:
        assert not os.path.exists(f"/proc/{pid}"), f"process {pid} outlived the oracle"


@local_only("a forked test process would boot a second guest")
def test_a_forked_child_gets_its_own_helpers_and_leaves_the_parents_alone():
    assert one([ret(abi.SECCOMP_RET_ERRNO | 1)], call(GETPID)).data == 1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(30)
            code = 0 if one([ret(abi.SECCOMP_RET_ERRNO | 2)], call(GETPID)).data == 2 else 1
            kernel.default_oracle().close()
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"\x00"
    os.close(r)
    os.waitpid(pid, 0)
    assert one([ret(abi.SECCOMP_RET_ERRNO | 3)], call(GETPID)).data == 3


def test_batches_agree_with_single_runs():
    items = [([ret(abi.SECCOMP_RET_ERRNO | n)], [call(GETPID)] * 3) for n in range(1, 40)]
    results = kernel.run_batch(items)
    assert [[o.data for o in r] for r in results] == [[n] * 3 for n in range(1, 40)]

