"""Attaching a filter is itself a system call: the filters already attached judge it, and
seccomp_prepare_filter wants no_new_privs or CAP_SYS_ADMIN.

Every case is run twice: by ``FilterChain(arch="x86_64")`` and by a forked child of this test
that really makes the seccomp(2) and prctl(2) calls (kernel/seccomp.c decides). The children only
ever install filters that let everything run but the install calls themselves.
"""

import ctypes
import errno
import os
import signal

import pytest

from bpfsim import FilterChain, Program, SeccompError, VerifyError
from bpfsim import abi
from bpfsim import opcodes as op
from bpfsim.kernel import seccomp_unavailable_reason
from bpfsim.seccomp import InstallRefused
from tests.build import jump, ld_abs, prog, ret, stmt

SECCOMP, PRCTL = 317, 157  # x86_64 syscall_64.tbl
PR_SET_NO_NEW_PRIVS = 38
ALLOW, KILL_PROCESS, TRAP, TRACE = 0x7FFF0000, 0x80000000, 0x00030000, 0x7FF00000
ERRNO = 0x00050000
JEQ, JSET = op.BPF_JMP | op.BPF_JEQ | op.BPF_K, op.BPF_JMP | op.BPF_JSET | op.BPF_K
ARG0, ARG1 = 16, 24  # low words of args[0] and args[1] (little-endian)

ALLOW_ALL = prog(ret(ALLOW))
BAD_OPCODE = Program([stmt(0xFFFF)])

pytestmark = pytest.mark.skipif(seccomp_unavailable_reason() is not None,
                                reason=f"needs the kernel's seccomp: {seccomp_unavailable_reason()}")


def on_nr(nr: int, action: int):
    """``action`` for system call ``nr``, ALLOW for every other."""
    return prog(ld_abs(0), jump(JEQ, nr, 0, 1), ret(action), ret(ALLOW))


def on_nr_and_word(nr: int, offset: int, value: int, action: int, test: int = JEQ):
    """``action`` for ``nr`` when the word at ``offset`` passes ``test`` against ``value``."""
    return prog(ld_abs(0), jump(JEQ, nr, 0, 3), ld_abs(offset), jump(test, value, 0, 1), ret(action), ret(ALLOW))


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _kernel(steps, *, no_new_privs=True, drop_caps=False):
    """Make ``steps`` in a forked child: ("seccomp" | "prctl", program or None, flags), where
    None enters strict mode. Returns each step's result, ``0`` or ``-errno``, in order, and the
    signal that ended the child if one did."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only harmless calls, then _exit
        try:
            os.close(read_fd)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            if drop_caps:
                os.setgid(65534)
                os.setuid(65534)  # root's capabilities go with the uid
            if no_new_privs and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
                os._exit(3)
            keep = []
            for via, program, flags in steps:
                raw = b"" if program is None else program.to_bytes()
                buffer = ctypes.create_string_buffer(raw, max(len(raw), 1))
                fprog = _Fprog(len(raw) // 8, ctypes.addressof(buffer))
                keep.append((buffer, fprog))
                if via == "seccomp":
                    operation = abi.SECCOMP_SET_MODE_STRICT if program is None else abi.SECCOMP_SET_MODE_FILTER
                    argument = None if program is None else ctypes.byref(fprog)
                    rc = libc.syscall(ctypes.c_long(SECCOMP), ctypes.c_ulong(operation), ctypes.c_ulong(flags),
                                      argument)
                else:
                    mode = abi.SECCOMP_MODE_STRICT if program is None else abi.SECCOMP_MODE_FILTER
                    rc = libc.syscall(ctypes.c_long(PRCTL), ctypes.c_ulong(abi.PR_SET_SECCOMP), ctypes.c_ulong(mode),
                                      ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0))
                os.write(write_fd, f"{-ctypes.get_errno() if rc < 0 else rc}\n".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        results = [int(line) for line in pipe.read().split()]
    _, status = os.waitpid(pid, 0)
    assert not os.WIFEXITED(status) or os.WEXITSTATUS(status) == 0, "the child could not set no_new_privs"
    return results, (os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)


def _bpfsim(steps, **chain_options):
    """The same steps on a FilterChain: each step's result, and the signal if one ended the thread."""
    chain = FilterChain(arch="x86_64", **chain_options)
    results = []
    for via, program, flags in steps:
        try:
            if program is None:
                chain.set_mode_strict(via=via)
            else:
                chain.attach(program, flags, via=via)
            results.append(0)
        except InstallRefused as refused:
            if refused.verdict.outcome.signal is not None:
                return results, refused.verdict.outcome.signal
            results.append(-refused.errno)
        except (SeccompError, VerifyError) as error:
            results.append(-error.errno)
    return results, None


CASES = {
    "ERRNO on seccomp(): its install fails, prctl's succeeds": [
        ("seccomp", on_nr(SECCOMP, ERRNO | errno.EACCES), 0), ("seccomp", ALLOW_ALL, 0), ("prctl", ALLOW_ALL, 0)],
    "ERRNO on prctl(): the reverse": [
        ("prctl", on_nr(PRCTL, ERRNO | errno.EPERM), 0), ("prctl", ALLOW_ALL, 0), ("seccomp", ALLOW_ALL, 0)],
    "ERRNO with data 0: the call returns 0 and installs nothing": [
        ("seccomp", on_nr(SECCOMP, ERRNO), 0), ("seccomp", on_nr(SECCOMP, KILL_PROCESS), 0),
        ("seccomp", ALLOW_ALL, 0)],
    "TRACE without a tracer: ENOSYS": [("seccomp", on_nr(SECCOMP, TRACE | 7), 0), ("seccomp", ALLOW_ALL, 0)],
    "KILL_PROCESS on prctl()": [("seccomp", on_nr(PRCTL, KILL_PROCESS), 0), ("prctl", ALLOW_ALL, 0)],
    "TRAP on seccomp(), no handler": [("seccomp", on_nr(SECCOMP, TRAP | 1), 0), ("seccomp", ALLOW_ALL, 0)],
    "the flags are args[1]": [
        ("seccomp", on_nr_and_word(SECCOMP, ARG1, abi.SECCOMP_FILTER_FLAG_LOG, ERRNO | 9, JSET), 0),
        ("seccomp", ALLOW_ALL, abi.SECCOMP_FILTER_FLAG_LOG), ("seccomp", ALLOW_ALL, 0)],
    "the operation is args[0]: strict mode denied by the filter, then by seccomp itself": [
        ("seccomp", on_nr_and_word(SECCOMP, ARG0, abi.SECCOMP_SET_MODE_STRICT, ERRNO | 1), 0),
        ("seccomp", None, 0), ("prctl", None, 0)],
    "prctl's args: PR_SET_SECCOMP, then the mode": [
        ("seccomp", on_nr_and_word(PRCTL, ARG1, abi.SECCOMP_MODE_FILTER, ERRNO | 5), 0),
        ("prctl", ALLOW_ALL, 0), ("seccomp", ALLOW_ALL, 0)],
    "a refused call leaves the stack as it was": [
        ("seccomp", on_nr(SECCOMP, ERRNO | 1), 0), ("seccomp", on_nr(PRCTL, ERRNO | 3), 0), ("prctl", ALLOW_ALL, 0),
        ("prctl", on_nr(PRCTL, ERRNO | 4), 0), ("prctl", ALLOW_ALL, 0)],
}


@pytest.mark.parametrize("steps", CASES.values(), ids=CASES.keys())
def test_install_calls_pass_through_the_attached_filters(steps):
    assert _bpfsim(steps) == _kernel(steps)


def test_the_refusal_says_which_filter_answered_the_call():
    chain = FilterChain(arch="x86_64")
    chain.attach(on_nr(SECCOMP, ERRNO | errno.EACCES))
    with pytest.raises(InstallRefused, match=r"seccomp\(SECCOMP_SET_MODE_FILTER, 0x0\) call itself is answered "
                                             r"by filter 0: fails with errno 13 \(EACCES\)") as refused:
        chain.attach(ALLOW_ALL)
    assert refused.value.errno == errno.EACCES and len(chain) == 1
    chain.attach(on_nr(PRCTL, KILL_PROCESS), via="prctl")
    with pytest.raises(InstallRefused, match="KILL_PROCESS") as killed:
        chain.attach(ALLOW_ALL, via="prctl")
    assert killed.value.errno is None and killed.value.verdict.outcome.signal == signal.SIGSYS


def test_without_an_arch_install_calls_are_judged_as_the_native_arch():
    """Issue #14 item 5: the default chain is an x86_64 thread, whose seccomp() is 317."""
    chain = FilterChain([on_nr(SECCOMP, KILL_PROCESS)])
    with pytest.raises(InstallRefused, match="KILL_PROCESS"):
        chain.attach(ALLOW_ALL)
    assert len(chain) == 1


def test_errno_0_on_the_install_call_returns_0_and_attaches_nothing():
    """Issue #14 item 1: the kernel's seccomp() returns 0 (see the ERRNO with data 0 case above)."""
    chain = FilterChain([on_nr(SECCOMP, ERRNO)])
    assert chain.attach(on_nr(SECCOMP, KILL_PROCESS)) is None
    assert len(chain) == 1 and chain.last_call.retval == 0 and not chain.last_call.ran
    chain.attach(ALLOW_ALL, via="prctl")
    assert len(chain) == 2


def test_bad_install_options_are_reported():
    with pytest.raises(ValueError, match="prctl.*has no flags"):
        FilterChain(arch="x86_64").attach(ALLOW_ALL, abi.SECCOMP_FILTER_FLAG_LOG, via="prctl")
    with pytest.raises(ValueError, match="via must be one of seccomp, prctl"):
        FilterChain(arch="x86_64").attach(ALLOW_ALL, via="ioctl")
    with pytest.raises(abi.UnknownArchError):
        FilterChain(arch="vax")


# seccomp_prepare_filter: the length test (EINVAL), then no_new_privs or CAP_SYS_ADMIN (EACCES),
# then the program's own checks.
PRIVILEGE_CASES = {
    "neither: EACCES": ({"no_new_privs": False, "drop_caps": True}, ALLOW_ALL, -errno.EACCES),
    "neither, empty program: the length test comes first": (
        {"no_new_privs": False, "drop_caps": True}, Program(), -errno.EINVAL),
    "neither, bad opcode: EACCES before the program is checked": (
        {"no_new_privs": False, "drop_caps": True}, BAD_OPCODE, -errno.EACCES),
    "CAP_SYS_ADMIN without no_new_privs": ({"no_new_privs": False}, ALLOW_ALL, 0),
    "no_new_privs without CAP_SYS_ADMIN": ({"drop_caps": True}, ALLOW_ALL, 0),
}


@pytest.mark.parametrize("setup, program, expected", PRIVILEGE_CASES.values(), ids=PRIVILEGE_CASES.keys())
def test_installing_needs_no_new_privs_or_cap_sys_admin(setup, program, expected):
    steps = [("seccomp", program, 0)]
    assert _kernel(steps, **setup) == ([expected], None)
    options = {"no_new_privs": setup.get("no_new_privs", True), "cap_sys_admin": not setup.get("drop_caps")}
    assert _bpfsim(steps, **options) == ([expected], None)
