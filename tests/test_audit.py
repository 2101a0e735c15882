"""lint: what is wrong with a filter stack, each behavioural finding with an input that shows it.

Expected findings: on corpus filters, the real cases (sudo's noexec filter has no arch check, so
i386 and x32 execve get through; vsftpd compares three arguments on their low words; libseccomp
leaves an unreachable instruction at the end of Docker's profile) and nothing at warning or above
on the container profiles; on small programs, one case per kind. Every witness is re-run on the
machine's kernel through the ``kernel`` fixture (its guard keeps execve and friends from running).
"""

import errno
import json
from pathlib import Path

import pytest

from bpfsim import Program, SeccompData, evaluate
from bpfsim import opcodes as op
from bpfsim.cli import main
from bpfsim.analysis import policy_row
from bpfsim.audit import KINDS, at_or_above, lint
from bpfsim.semantics import converted_length
from bpfsim.testing import assert_no_findings
from tests.build import jump, ld_abs, ld_imm, prog, ret, stmt

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ALLOW, KILL_PROCESS, ERRNO, TRACE = 0x7FFF0000, 0x80000000, 0x00050000, 0x7FF00000
JEQ = op.BPF_JMP | op.BPF_JEQ | op.BPF_K
X86_64, EXECVE, GETPID = 0xC000003E, 59, 39
CONTAINER_PROFILES = ["moby-default-x86_64", "moby-default-x86_64-bintree", "containers-common-x86_64",
                      "runc-moby-default", "runc-containers-common", "moby-default-x86_64-sys-admin"]


def corpus(name):
    return Program.load(CORPUS / name / "filter.bpf")


def on_x86_64(*insns):
    """Kill calls of other arches and x32 numbers; ``insns`` decide x86_64 calls (A = nr)."""
    return prog(ld_abs(4), jump(JEQ, X86_64, 1, 0), ret(KILL_PROCESS), ld_abs(0),
                jump(op.BPF_JMP | op.BPF_JGE | op.BPF_K, 0x40000000, 0, 1), ret(KILL_PROCESS), *insns)


def kinds(findings):
    return {f.kind for f in findings}


def check_witnesses(stack, findings, kernel):
    for finding in findings:
        if finding.witness is not None:
            kernel.check_verdict(stack, finding.witness, finding.verdict)


def test_sudo_noexec_has_no_arch_check_so_i386_and_x32_execve_get_through(kernel):
    stack = [corpus("sudo-noexec")]
    found = lint(stack)
    assert {"no-arch-check", "compat-bypass", "x32-bypass"} <= kinds(at_or_above(found, "error"))
    compat = next(f for f in found if f.kind == "compat-bypass")
    x32 = next(f for f in found if f.kind == "x32-bypass")
    assert (compat.witness.arch, compat.witness.nr, compat.verdict.action.name) == (0x40000003, 11, "ALLOW")
    assert (x32.witness.nr, x32.verdict.action.name) == (0x40000000 | 520, "ALLOW")
    check_witnesses(stack, found, kernel)


@pytest.mark.parametrize("name", CONTAINER_PROFILES)
def test_container_profiles_warn_only_that_socketcall_bypasses_their_socket_family_check(name, kernel):
    """Docker's refuses socket(AF_ALG) and socket(AF_VSOCK), containers-common's
    socket(AF_NETLINK, ..., NETLINK_AUDIT), but both allow i386's socketcall, whose SYS_SOCKET
    call passes the family in memory (net/socket.c:__sys_socketcall copies the arguments from
    user memory after seccomp has judged the call). The kernel confirms both sides."""
    stack = [corpus(name)]
    found = at_or_above(lint(stack), "warning")
    assert [(f.kind, f.message.split(":")[0], f.arches) for f in found] == [
        ("escape-route", "the argument checks of socket are bypassed through socketcall(SYS_SOCKET)", ("i386",))]
    check_witnesses(stack, found, kernel)
    socket = policy_row(stack, SeccompData("socket", "i386").nr, "i386")
    refused = next(p for p in socket.verdicts if p.verdict.action.name == "ERRNO")
    kernel.check_verdict(stack, refused.witness, refused.verdict)


def test_the_padding_libseccomp_leaves_in_dockers_profile_is_unreachable():
    found = [f for f in lint([corpus("moby-default-x86_64")]) if f.kind == "unreachable"]
    assert [(f.filter, f.pc, f.severity) for f in found] == [(0, 1000, "info")]


def test_vsftpd_compares_three_arguments_on_their_low_words(kernel):
    stack = [corpus("vsftpd-prelogin")]
    found = [f for f in lint(stack) if f.kind == "arg-low-word-only"]
    assert sorted((f.pc, f.message.split()[0]) for f in found) == [(37, "args[3]"), (53, "args[1]"), (55, "args[2]")]
    for finding in found:
        index = int(finding.message[5])
        assert finding.witness.args[index] >> 32 == 1 and finding.verdict.action.name == "ALLOW"
    check_witnesses(stack, found, kernel)


CASES = [
    pytest.param([on_x86_64(jump(JEQ, EXECVE, 0, 1), ret(ERRNO | errno.EPERM), ret(ALLOW))],
                 "escape-route", "warning", id="execve denied, execveat allowed"),
    pytest.param([on_x86_64(jump(JEQ, GETPID, 0, 1), ret(TRACE | 7), ret(ALLOW))],
                 "enosys-without-tracer", "warning", id="TRACE without a tracer"),
    pytest.param([on_x86_64(ret(ALLOW))], "permissive-default", "warning", id="every number allowed"),
    pytest.param([on_x86_64(jump(JEQ, GETPID, 0, 1), ret(ERRNO | 1), ret(ALLOW)), on_x86_64(ret(ALLOW))],
                 "never-decides", "warning", id="a newer filter that only allows"),
    pytest.param([on_x86_64(stmt(op.BPF_ST, 3), ret(ERRNO | 1))], "dead-store", "info", id="a store never read"),
    pytest.param([on_x86_64(ld_imm(5), jump(JEQ, 5, 0, 1), ret(ERRNO | 1), ret(ALLOW))], "constant-test", "info",
                 id="a test of a constant"),
]


@pytest.mark.parametrize("stack, kind, severity", CASES)
def test_one_program_per_kind(stack, kind, severity, kernel):
    found = [f for f in lint(stack) if f.kind == kind]
    assert found and {f.severity for f in found} == {severity}
    check_witnesses(stack, found, kernel)


# i386 filters; socketcall's calls are include/uapi/linux/net.h's (SYS_SOCKET 1, SYS_CONNECT 3), ipc's
# include/uapi/linux/ipc.h's (SHMAT 21); the direct calls are i386's since 4.3 and 5.1.
ON_I386 = "arch i386\nld [arch]\njeq #AUDIT_ARCH_I386, 0, kill\nld [nr]\n"
CONNECT_DENIED_SOCKETCALL_FOR_SOCKET = ON_I386 + (
    "jeq #connect, deny, 0\njeq #socketcall, 0, allow\nld [args[0].lo]\njeq #1, allow, deny\n"
    "allow: ret ALLOW\ndeny: ret ERRNO(1)\nkill: ret KILL_PROCESS\n")
CONNECT_DENIED_SOCKETCALL_FOR_CONNECT = CONNECT_DENIED_SOCKETCALL_FOR_SOCKET.replace("jeq #1, allow", "jeq #3, allow")
SOCKET_FOR_AF_UNIX_SOCKETCALL_ALLOWED = ON_I386 + (
    "jeq #socket, 0, allow\nld [args[0].lo]\njeq #1, allow, deny\n"
    "allow: ret ALLOW\ndeny: ret ERRNO(1)\nkill: ret KILL_PROCESS\n")
SHMAT_DENIED_IPC_ALLOWED = ON_I386 + "jeq #shmat, 0, allow\nret ERRNO(1)\nallow: ret ALLOW\nkill: ret KILL_PROCESS\n"


def escape_routes(stack):
    """The escape routes through a multiplexer (io_uring's are another matter)."""
    return [f for f in lint(stack) if f.kind == "escape-route" and ("socketcall(" in f.message or "ipc(" in f.message)]


def test_socketcall_allowed_for_another_call_is_no_sibling_of_a_denied_connect(kernel):
    """A new-user walk: 'connect denied, but socketcall allowed', shown by socketcall(SYS_SOCKET)."""
    stack = [Program.from_asm(CONNECT_DENIED_SOCKETCALL_FOR_SOCKET)]
    assert escape_routes(stack) == []
    for args in ([1], [3]):  # socketcall(SYS_SOCKET) runs, socketcall(SYS_CONNECT) does not
        data = SeccompData("socketcall", "i386", args=args)
        kernel.check_verdict(stack, data, evaluate(stack, data))


def test_connect_denied_while_socketcall_connect_is_allowed_is_shown_by_socketcall_connect(kernel):
    stack = [Program.from_asm(CONNECT_DENIED_SOCKETCALL_FOR_CONNECT)]
    [found] = escape_routes(stack)
    assert found.message == "connect denied, but socketcall(SYS_CONNECT) allowed" and found.arches == ("i386",)
    assert (found.witness.nr, found.witness.args[0], found.verdict.action.name) == (102, 3, "ALLOW")
    check_witnesses(stack, [found], kernel)


def test_socket_checks_of_its_family_are_bypassed_through_socketcall(kernel):
    """socket(AF_UNIX) only, but socketcall(SYS_SOCKET, args) passes whatever family is in memory."""
    stack = [Program.from_asm(SOCKET_FOR_AF_UNIX_SOCKETCALL_ALLOWED)]
    [found] = escape_routes(stack)
    assert found.message.startswith("the argument checks of socket are bypassed through socketcall(SYS_SOCKET)")
    assert (found.witness.nr, found.witness.args[0], found.verdict.action.name) == (102, 1, "ALLOW")
    check_witnesses(stack, [found], kernel)
    inet = SeccompData("socket", "i386", args=[2])  # AF_INET, refused when asked directly
    kernel.check_verdict(stack, inet, evaluate(stack, inet))


def test_shmat_denied_while_ipc_shmat_is_allowed(kernel):
    stack = [Program.from_asm(SHMAT_DENIED_IPC_ALLOWED)]
    [found] = escape_routes(stack)
    assert found.message == "shmat denied, but ipc(SHMAT) allowed"
    assert (found.witness.nr, found.witness.args[0], found.verdict.action.name) == (117, 21, "ALLOW")
    check_witnesses(stack, [found], kernel)


def test_ipc_refused_for_shmat_by_an_exact_compare_still_does_shmat_with_a_version(kernel):
    """ipc/syscall.c:ksys_ipc: version = call >> 16; call &= 0xffff, and SHMAT refuses version 1 only."""
    stack = [Program.from_asm(ON_I386 + "jeq #shmat, deny, 0\njeq #ipc, 0, allow\nld [args[0].lo]\n"
                                        "jeq #21, deny, allow\nallow: ret ALLOW\ndeny: ret ERRNO(1)\n"
                                        "kill: ret KILL_PROCESS\n")]
    [found] = escape_routes(stack)
    assert found.message == ("shmat denied, but ipc(SHMAT) (as args[0]=0x20015, which the kernel reads as SHMAT) "
                             "allowed")
    assert (found.witness.args[0], found.verdict.action.name) == (2 << 16 | 21, "ALLOW")
    check_witnesses(stack, [found], kernel)


ALL_ARCHES = ["x86_64", "x32", "i386", "aarch64", "arm", "riscv64", "s390x", "ppc64le", "ppc64", "mipsel64",
              "loongarch64"]


def test_with_every_arch_judged_a_finding_is_reported_once_for_the_arches_whose_paths_reach_it(kernel):
    """vsftpd kills every arch but x86_64 at pc 2: its low-word findings are x86_64's alone."""
    stack = [corpus("vsftpd-prelogin")]
    found = [f for f in lint(stack, ALL_ARCHES) if f.kind == "arg-low-word-only"]
    assert sorted((f.pc, f.arches) for f in found) == [(37, ("x86_64",)), (53, ("x86_64",)), (55, ("x86_64",))]
    assert all(f.witness is not None for f in found)
    check_witnesses(stack, found, kernel)


def test_a_filter_for_i386_alone_is_no_x86_64_policy_that_i386_calls_bypass(kernel):
    """A new-user walk: an i386-only filter kills every x86_64 call its filters judge, so its
    i386 calls are its policy, not a compat bypass of x86_64's, even with every arch judged."""
    i386 = 0x40000003
    stack = [prog(ld_abs(4), jump(JEQ, i386, 1, 0), ret(KILL_PROCESS), ld_abs(0), jump(JEQ, 20, 0, 1),
                  ret(ALLOW), ret(ERRNO | errno.EPERM))]
    assert "compat-bypass" not in kinds(lint(stack, ALL_ARCHES))
    for nr in (GETPID, EXECVE):
        kernel.check_verdict(stack, SeccompData(nr), evaluate(stack, SeccompData(nr)))
    kernel.check_verdict(stack, SeccompData(20, "i386"), evaluate(stack, SeccompData(20, "i386")))
    assert evaluate(stack, SeccompData(20, "i386")).action.name == "ALLOW"
    assert evaluate(stack, SeccompData(GETPID)).action.name == "KILL_PROCESS"


def test_a_low_word_compare_without_an_arch_check_applies_to_every_little_endian_64_bit_arch(kernel):
    """args[0]'s low half is word 4 where the arch is little-endian, its high half where it is
    big-endian (struct seccomp_data holds u64 args in the arch's order: include/uapi/linux/seccomp.h);
    x32 calls pass 64-bit registers (arch/x86/entry/syscall_64.c: do_syscall_x32)."""
    stack = [prog(ld_abs(16), jump(JEQ, 1, 0, 1), ret(ALLOW), ret(ERRNO | errno.EPERM))]
    [found] = [f for f in lint(stack, ALL_ARCHES) if f.kind == "arg-low-word-only"]
    assert found.arches == ("x86_64", "x32", "aarch64", "riscv64", "ppc64le", "mipsel64", "loongarch64")
    assert (found.witness.args[0], found.verdict.action.name) == (1 << 32 | 1, "ALLOW")
    check_witnesses(stack, [found], kernel)


def test_a_filter_the_kernel_refuses_is_a_finding_with_its_errno():
    unaligned = prog(ld_abs(2), ret(ALLOW))
    [found] = lint([unaligned])
    assert (found.kind, found.filter, found.pc, found.severity) == ("kernel-refuses", 0, 0, "error")
    assert "errno 22 (EINVAL)" in found.message


def test_a_filter_whose_install_call_the_older_filters_refuse():
    """seccomp(2) to attach the second filter is itself judged by the first (kernel/seccomp.c)."""
    [found] = lint([on_x86_64(ret(ERRNO | 1)), on_x86_64(ret(ALLOW))])
    assert (found.kind, found.filter) == ("kernel-refuses", 1) and "errno 1 (EPERM)" in found.message


def test_the_path_budget_is_the_kernels_count():
    """kernel/seccomp.c:seccomp_attach_filter: converted lengths plus 4 per filter, of 32768."""
    stack = [on_x86_64(ret(ALLOW)), on_x86_64(ret(ALLOW))]
    [budget] = [f for f in lint(stack) if f.kind == "path-budget"]
    used = sum(converted_length(p) + 4 for p in stack)
    assert f"uses {used} of the 32768" in budget.message


def test_an_exhausted_budget_says_so():
    found = lint([on_x86_64(ld_imm(5), jump(JEQ, 5, 0, 1), ret(ERRNO | 1), ret(ALLOW))], budget=1)
    assert "incomplete" in kinds(found) and "constant-test" not in kinds(found)


def test_json_shape_and_fail_on(capsys):
    path = str(CORPUS / "sudo-noexec" / "filter.bpf")
    assert main(["lint", path, "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert all(list(f) == ["kind", "severity", "filter", "pc", "message", "witness", "arches"] for f in found)
    assert {f["kind"] for f in found} <= set(KINDS)
    witness = next(f["witness"] for f in found if f["kind"] == "x32-bypass")
    assert list(witness) == ["arch", "nr", "args", "instruction_pointer", "verdict"]
    assert witness["verdict"]["action"] == "ALLOW"
    vsftpd = str(CORPUS / "vsftpd-prelogin" / "filter.bpf")
    assert main(["lint", vsftpd]) == 0
    assert main(["lint", vsftpd, "--fail-on", "warning"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "4 finding(s), 3 at or above warning"


def test_assert_no_findings():
    allowed_everything = [on_x86_64(ret(ALLOW))]
    with pytest.raises(AssertionError, match="permissive-default"):
        assert_no_findings(allowed_everything)
    assert_no_findings(allowed_everything, allow=["permissive-default"])
    with pytest.raises(ValueError, match="unknown finding kind"):
        assert_no_findings(allowed_everything, allow=["typo"])
