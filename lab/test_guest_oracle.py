"""The guest oracle passes the local oracle's outcome checks on each arch (``make lab-test``).

Each lab kernel named in ``$BPFSIM_LAB_KERNELS`` (default: one per arch) is booted once under
qemu and asked what tests/test_kernel.py asks the machine's kernel: every outcome the oracle
distinguishes (ERRNO and its cap, TRAP's siginfo, KILL_THREAD versus KILL_PROCESS, TRACE and
USER_NOTIF with and without tracer or listener, the guard, install errors), with each arch's own
numbers. Expected values come from kernel-semantics.md and the kernel source, not from bpfsim;
the last test then replays a sample of that kernel's recorded corpus live.
"""

import errno
import json
import lzma
import os
import signal
import struct
import sys
from pathlib import Path

import pytest

from bpfsim import abi, distros, guest
from bpfsim import SeccompData
from bpfsim.kernel import KernelInstallError, NOTIF_ERRNO, Oracle
from bpfsim.syscalls import syscall_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from record_corpus import expectation  # noqa: E402  (the recorder's own rendering of an observation)

DEFAULT = "debian-5.10-amd64,debian-6.12-arm64,debian-6.1-s390x"
KERNELS = os.environ.get("BPFSIM_LAB_KERNELS", DEFAULT).split(",")
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7, "s390x": 0x80000016}
SYS_SECCOMP = 1  # si_code (include/uapi/asm-generic/siginfo.h)


def insn(code, jt, jf, k):
    return struct.pack("<HBBI", code, jt, jf, k)


def ret(k):
    return insn(0x06, 0, 0, k)


def on_nr(nr, hit, miss=abi.SECCOMP_RET_ALLOW):
    return insn(0x20, 0, 0, 0) + insn(0x15, 0, 1, nr) + ret(hit) + ret(miss)


class Lab:
    """One booted guest and its arch's numbers."""

    def __init__(self, name):
        self.kernel = guest.lab_kernel(name)
        self.arch = self.kernel.arch
        self.oracle = Oracle(kernel=name)
        numbers = {name: nr for nr, name in syscall_table(self.arch).items()}
        self.getpid, self.gettid, self.kill = numbers["getpid"], numbers["gettid"], numbers["kill"]
        self.nosuch = 5000

    def one(self, filters, call, **kw):
        return self.oracle.run_calls(filters, [call], **kw)[0]

    def call(self, nr, args=()):
        return SeccompData(nr, self.arch, args=args)


@pytest.fixture(scope="module", params=KERNELS)
def lab(request):
    if not guest.kernel_image(distros.DISTRO_KERNELS[request.param]).exists():
        pytest.fail(f"{request.param} is not fetched: run `make lab` first")
    booted = Lab(request.param)
    yield booted
    booted.oracle.close()


def test_errno_is_capped_and_errno_zero_returns_zero(lab):
    for data, seen in ((1, 1), (4095, 4095), (4096, 4095)):
        got = lab.one([ret(abi.SECCOMP_RET_ERRNO | data)], lab.call(lab.getpid))
        assert (got.action, got.data, got.retval) == ("ERRNO", seen, -seen)
    zero = lab.one([ret(abi.SECCOMP_RET_ERRNO)], lab.call(lab.getpid))
    assert (zero.action, zero.retval) == ("ERRNO", 0)


def test_allowed_getpid_runs_unguarded(lab):
    got = lab.one([ret(abi.SECCOMP_RET_ALLOW)], lab.call(lab.getpid))
    assert got.action == "LOG_OR_ALLOW" and not got.guarded and got.retval > 1


def test_the_guard_skips_what_it_lets_through(lab):
    """kernel-semantics §9: a tracer that sets the number to -1 skips the call with ENOSYS."""
    got = lab.one([ret(abi.SECCOMP_RET_ALLOW)], lab.call(lab.getpid), guard=True)
    assert got.action == "LOG_OR_ALLOW" and got.guarded and got.errno == errno.ENOSYS


def test_an_allowed_kill_of_init_never_runs(lab):
    """kill(1, SIGKILL) from the subject would end the guest (and this test with a timeout)."""
    for stack in ([ret(abi.SECCOMP_RET_ALLOW)], [ret(abi.SECCOMP_RET_TRACE | 5)], []):
        assert lab.one(stack, lab.call(lab.kill, (1, signal.SIGKILL))).guarded
    assert lab.one([ret(abi.SECCOMP_RET_ERRNO | 3)], lab.call(lab.getpid)).data == 3  # still alive


def test_trap_siginfo_names_the_call_its_arch_and_address(lab):
    got = lab.one([ret(abi.SECCOMP_RET_TRAP | 0x1234)], lab.call(lab.getpid))
    si = got.siginfo
    assert (got.action, si.si_signo, si.si_code, si.si_errno) == ("TRAP", signal.SIGSYS, SYS_SECCOMP, 0x1234)
    assert (si.si_syscall, si.si_arch) == (lab.getpid, AUDIT_ARCH[lab.arch])
    assert si.si_call_addr == lab.oracle.instruction_pointer(lab.arch)


def test_kill_thread_spares_the_process_and_kill_process_does_not(lab):
    stack = [on_nr(lab.nosuch, abi.SECCOMP_RET_KILL_THREAD, abi.SECCOMP_RET_ERRNO | 5)]
    outs = lab.oracle.run_calls(stack, [lab.call(lab.getpid), lab.call(lab.nosuch), lab.call(lab.getpid)])
    assert [o.action for o in outs] == ["ERRNO", "KILL_THREAD", "ERRNO"]
    for value in (abi.SECCOMP_RET_KILL_PROCESS, 0x10000000):  # unknown actions kill the process
        outs = lab.oracle.run_calls([on_nr(lab.nosuch, value, abi.SECCOMP_RET_ERRNO | 5)],
                                    [lab.call(lab.nosuch), lab.call(lab.getpid)])
        assert [o.action for o in outs] == ["KILL_PROCESS", "ERRNO"] and outs[0].signal == signal.SIGSYS


def test_trace_and_user_notif_with_and_without_their_peer(lab):
    alone = lab.one([ret(abi.SECCOMP_RET_TRACE | 0x1001)], lab.call(lab.getpid))
    assert alone.errno == errno.ENOSYS and alone.admits("TRACE", 0x1001)
    traced = lab.one([ret(abi.SECCOMP_RET_TRACE | 0x1001)], lab.call(lab.getpid, (7,)), tracer=True)
    assert (traced.action, traced.data, traced.errno) == ("TRACE", 0x1001, errno.ENOSYS)
    unheard = lab.one([ret(abi.SECCOMP_RET_USER_NOTIF)], lab.call(lab.getpid))
    assert unheard.errno == errno.ENOSYS and unheard.admits("USER_NOTIF")
    heard = lab.one([ret(abi.SECCOMP_RET_USER_NOTIF)], lab.call(lab.getpid, (1, 2)), listener=0)
    assert heard.action == "USER_NOTIF" and heard.errno == NOTIF_ERRNO


def test_seccomp_data_is_laid_out_in_the_arch_byte_order(lab):
    """include/uapi/linux/seccomp.h: args are u64 in the arch's order, so on big-endian s390x
    ``ld [16]`` reads the high word of args[0] (the issue's prototype saw 10 for 0xA00000014)."""
    arg = 0x0000000A00000014
    low_first = lab.arch != "s390x"
    for offset, want in ((16, 20 if low_first else 10), (20, 10 if low_first else 20)):
        prog = (insn(0x20, 0, 0, offset) + insn(0x54, 0, 0, 0xFFFF) + insn(0x44, 0, 0, abi.SECCOMP_RET_TRACE)
                + insn(0x16, 0, 0, 0))
        got = lab.one([prog], lab.call(lab.getpid, (arg,)), tracer=True)
        assert (got.action, got.data) == ("TRACE", want)
    notified = lab.one([ret(abi.SECCOMP_RET_USER_NOTIF)], lab.call(lab.getpid, (arg,)), listener=0).seccomp_data
    assert (notified.nr, notified.arch, notified.instruction_pointer, notified.args[0]) == (
        lab.getpid, AUDIT_ARCH[lab.arch], lab.oracle.instruction_pointer(lab.arch), arg)


def test_install_errors(lab):
    assert lab.oracle.install_result([insn(0xFFFF, 0, 0, 0)]) == errno.EINVAL
    with pytest.raises(KernelInstallError) as refused:
        lab.oracle.run_calls([ret(abi.SECCOMP_RET_ALLOW), b"\x00" * 8], [lab.call(lab.getpid)])
    assert (refused.value.errno, refused.value.index) == (errno.EINVAL, 1)
    assert lab.oracle.check_programs([ret(0) * 4096, ret(0) * 4097]) == [None, errno.EINVAL]
    flags = [abi.SECCOMP_FILTER_FLAG_NEW_LISTENER] * 2
    assert lab.oracle.install_error([ret(abi.SECCOMP_RET_ALLOW)] * 2, flags) == (1, errno.EBUSY)


def test_a_sample_of_the_recorded_corpus_is_what_the_guest_says_now(lab):
    """corpus/lab/<kernel>.json.xz was recorded on this guest: a sample of it, asked again live,
    gets the same answers (the kernel is deterministic for these inputs)."""
    path = Path(__file__).resolve().parent.parent / "corpus" / "lab" / f"{lab.kernel.name}.json.xz"
    if not path.exists():
        pytest.fail(f"no recording of {lab.kernel.name}: make corpus-record KERNEL={lab.kernel.name}")
    recorded = json.loads(lzma.decompress(path.read_bytes()))
    for stack in recorded["stacks"][::12]:
        blobs = [bytes.fromhex(recorded["filters"][i]) for i in stack["filters"]]
        sample = stack["cases"][::40]
        calls = [SeccompData(nr, arch, args=args) for arch, nr, args, _ in sample]
        seen = lab.oracle.run_calls(blobs, calls, tracer=stack["tracer"], listener=stack["listener"])
        assert [expectation(o) for o in seen] == [expect for *_, expect in sample], stack["origin"]
