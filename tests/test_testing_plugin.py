"""The pytest plugin: fixtures, assert_verdict and assert_policy, and what a failure shows.

Verdicts are kernel facts (kernel/seccomp.c:seccomp_run_filters and __seccomp_filter); the
pytester runs use the ``bpfsim`` entry point when bpfsim is installed, else ``-p bpfsim.testing``.
"""

import errno
import importlib.metadata

import pytest

from bpfsim import Action, FilterChain, SeccompData, evaluate
from bpfsim import opcodes as op
from bpfsim.testing import assert_policy, assert_verdict, at_zero_args
from tests.build import jump, ld_abs, prog, ret

pytest_plugins = ["pytester"]

ALLOW, KILL_PROCESS, ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
JEQ, JSET = op.BPF_JMP | op.BPF_JEQ | op.BPF_K, op.BPF_JMP | op.BPF_JSET | op.BPF_K
OPENAT, EXECVE = 257, 59

# execve → KILL_PROCESS; openat with (flags & O_ACCMODE) != O_RDONLY → EACCES; the rest ALLOW.
SANDBOX = prog(
    ld_abs(0),
    jump(JEQ, EXECVE, 4, 0),
    jump(JEQ, OPENAT, 0, 4),
    ld_abs(32),
    jump(JSET, 3, 0, 2),
    ret(ERRNO | errno.EACCES),
    ret(KILL_PROCESS),
    ret(ALLOW),
)
EPERM_ALL = prog(ret(ERRNO | errno.EPERM))


@pytest.mark.parametrize("filters, syscall, args, expected", [
    pytest.param([SANDBOX], "openat", [-100, 0, 0], dict(action="ALLOW"), id="read-only open allowed"),
    pytest.param(SANDBOX, "openat", [-100, 0, 1], dict(action="ERRNO", errno=errno.EACCES), id="a single Program"),
    pytest.param(FilterChain([SANDBOX]), OPENAT, [-100, 0, 2], dict(action="errno", data=errno.EACCES),
                 id="a FilterChain and a number"),
    pytest.param([SANDBOX, EPERM_ALL], "execve", [], dict(action="KILL_PROCESS"),
                 id="older kill process outranks a newer errno"),
    pytest.param([EPERM_ALL, SANDBOX], "openat", [0, 0, 1], dict(action="ERRNO", errno=errno.EACCES),
                 id="equal actions: the newest filter's errno"),
])
def test_assert_verdict_passes_and_returns_the_verdict(filters, syscall, args, expected):
    verdict = assert_verdict(filters, syscall, args=args, **expected)
    assert verdict.action.name == expected["action"].upper()


@pytest.mark.parametrize("filters, syscall, args, expected, shown", [
    pytest.param(SANDBOX, "openat", [0, 0, 1], dict(action="ALLOW"),
                 ["expected ALLOW, got Verdict(ERRNO, errno=13 EACCES, filter=0)",
                  "jset #3: A=0x1 & 0x3 = 0x1 → true, pc 5"], id="the deciding trace"),
    pytest.param(SANDBOX, "openat", [0, 0, 1], dict(action="ERRNO", errno=errno.EPERM),
                 ["expected ERRNO errno=1 (EPERM)", "returns ERRNO(13)"], id="wrong errno"),
    pytest.param([SANDBOX, EPERM_ALL], "read", [], dict(action="ALLOW"),
                 ["filter 1 returned ERRNO(1)", "filter 0 returned ALLOW"], id="every filter's return"),
])
def test_assert_verdict_failure_shows_why(filters, syscall, args, expected, shown):
    with pytest.raises(AssertionError) as failure:
        assert_verdict(filters, syscall, args=args, **expected)
    for text in shown:
        assert text in str(failure.value)


def _plugin_args() -> list[str]:
    """The entry point exists only once bpfsim is installed (``make test`` installs it)."""
    installed = any(e.name == "bpfsim" for e in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "bpfsim.testing"]


SANDBOX_TESTS = """
import errno
from bpfsim.testing import assert_verdict

def test_read_only_open(bpfsim_filter):
    assert_verdict(bpfsim_filter("sandbox.bpf"), "openat", args=[-100, 0, 0], action="ALLOW")

def test_write_open(seccomp_chain):
    assert_verdict(seccomp_chain("sandbox.bpf"), "openat", args=[-100, 0, 1], action="ALLOW")
"""


def test_plugin_fixtures_and_a_failure_with_its_trace(pytester):
    (pytester.path / "sandbox.bpf").write_bytes(SANDBOX.to_bytes())
    pytester.makepyfile(test_sandbox=SANDBOX_TESTS)
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*expected ALLOW, got Verdict(ERRNO, errno=13 EACCES, filter=0)*",
        "*jset #3: A=0x1 & 0x3 = 0x1 → true, pc 5*",
        "*filter 0 returned ERRNO(13)*<- chosen*",
    ])


POLICY_TESTS = """
import errno
from bpfsim.testing import assert_policy

def test_policy(bpfsim_filter):
    assert_policy(bpfsim_filter("sandbox.bpf"),
                  {"execve": "KILL_PROCESS", "read": "ALLOW", "openat": ("ERRNO", errno.EACCES)})
"""


def test_plugin_assert_policy_reports_the_differing_rows(pytester):
    (pytester.path / "sandbox.bpf").write_bytes(SANDBOX.to_bytes())
    pytester.makepyfile(test_policy=POLICY_TESTS)
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*1 syscall(s) differ from the expected x86_64 policy:",
        "*openat*expected ERRNO errno=13 (EACCES) for every argument, got ALLOW when args[[]2] & 0x3 == 0, "
        "e.g. all arguments 0",
        "*jeq #0x101: A=0x101 == 0x101 (openat) → true, pc 3*",
    ])


@pytest.mark.parametrize("expected, default", [
    pytest.param({"execve": "KILL_PROCESS", "read": "ALLOW", 1: "ALLOW"}, None, id="named rows"),
    pytest.param({"execve": "KILL_PROCESS", "openat": {"ALLOW", "ERRNO"}}, "ALLOW", id="a default for the rest"),
    pytest.param({"openat": at_zero_args("ALLOW"), "execve": at_zero_args(Action.KILL_PROCESS)}, None,
                 id="the zero-argument call only, spelled out"),
    pytest.param({"openat": {"ALLOW", ("ERRNO", errno.EACCES)}}, None, id="every verdict the arguments give"),
    pytest.param({"openat": {"ALLOW", "ERRNO"}, "execve": {Action.KILL_PROCESS}}, None,
                 id="sets without errno, and Action members"),
])
def test_assert_policy_passes(expected, default):
    assert_policy([SANDBOX], expected, default=default)


@pytest.mark.parametrize("expected, default, shown", [
    pytest.param({"openat": "ALLOW"}, "ALLOW",
                 "execve               expected ALLOW for every argument, got KILL_PROCESS for every argument",
                 id="the default catches an unnamed row"),
    pytest.param({"openat": "ALLOW"}, None,
                 "openat               expected ALLOW for every argument, got ERRNO errno=13 (EACCES) when "
                 "args[2] & 0x3 != 0, e.g. args[2]=0x1",
                 id="issue 13 item 4: one verdict means every argument vector"),
    pytest.param({"openat": at_zero_args("ERRNO")}, None,
                 "openat               expected ERRNO, got ALLOW for zero arguments", id="a zero-argument check"),
    pytest.param({"openat": {"ALLOW"}}, None,
                 "openat               expected {ALLOW}, the arguments can give {ALLOW, ERRNO errno=13 (EACCES)}",
                 id="a verdict the set does not name"),
    pytest.param({"openat": {"ALLOW", ("ERRNO", errno.EPERM)}}, None, "expected {ALLOW, ERRNO errno=1 (EPERM)}",
                 id="a verdict the arguments cannot give"),
])
def test_assert_policy_failures_name_the_rows(expected, default, shown):
    with pytest.raises(AssertionError) as failure:
        assert_policy([SANDBOX], expected, default=default)
    assert shown in str(failure.value)


COMPARE_TESTS = """
def test_same_filter(bpfsim_filter):
    assert bpfsim_filter("old.bpf") == bpfsim_filter("new.bpf")
"""


def test_a_failed_program_comparison_shows_the_listings_line_by_line(pytester):
    """The issue: the multi-line repr of a loaded filter came out garbled in a failure."""
    (pytester.path / "old.bpf").write_bytes(SANDBOX.to_bytes())
    (pytester.path / "new.bpf").write_bytes(prog(*SANDBOX[:6], ret(ERRNO | errno.EPERM), ret(ALLOW)).to_bytes())
    pytester.makepyfile(test_compare=COMPARE_TESTS)
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*a 8-instruction program == a 8-instruction program",
        "*@@ *",
        "*->>   6  ret #0x80000000   ; KILL_PROCESS",
        "*+>>   6  ret #0x50001      ; ERRNO(1)",
    ])


KERNEL_TESTS = """
def test_the_sandbox_on_this_kernel(bpfsim_kernel, bpfsim_filter):
    sandbox = bpfsim_filter("sandbox.bpf")
    assert bpfsim_kernel.check(sandbox, "openat", args=[-100, 0, 1]).errno == 13
    assert bpfsim_kernel.check(sandbox, "getpid").action.name == "ALLOW"
    bpfsim_kernel.check(sandbox, "execve", args=[0, 0, 0])

def test_a_disagreement_fails(bpfsim_kernel, bpfsim_filter):
    import bpfsim.seccomp
    real = bpfsim.seccomp.evaluate
    def wrong(programs, call, **options):
        return real([bpfsim.Program.from_asm("ret ALLOW")], call)
    bpfsim.seccomp.evaluate = wrong
    try:
        bpfsim_kernel.check(bpfsim_filter("sandbox.bpf"), "openat", args=[-100, 0, 1])
    finally:
        bpfsim.seccomp.evaluate = real
"""


def test_the_kernel_fixture_runs_a_users_cases_on_this_kernel(pytester, kernel):
    """The issue asked for the cross-check in one line; where seccomp is unusable it skips with why."""
    write_open = SeccompData(OPENAT, args=[-100, 0, 1])
    kernel.check_verdict([SANDBOX], write_open, evaluate([SANDBOX], write_open))
    (pytester.path / "sandbox.bpf").write_bytes(SANDBOX.to_bytes())
    pytester.makepyfile(test_kernel_cases=KERNEL_TESTS)
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the kernel saw ERRNO(13)*bpfsim says Verdict(ALLOW*"])


def test_the_kernel_fixture_skips_with_the_reason_where_seccomp_is_unusable(pytester, monkeypatch):
    import bpfsim.kernel
    # The in-process run's conftest replaces this function in the one bpfsim.kernel module:
    # restore it afterwards, or every later kernel-checked test of this session skips.
    monkeypatch.setattr(bpfsim.kernel, "seccomp_unavailable_reason", bpfsim.kernel.seccomp_unavailable_reason)
    pytester.makeconftest("""
import bpfsim.kernel
bpfsim.kernel.seccomp_unavailable_reason = lambda: "seccomp is off in this container"
""")
    pytester.makepyfile(test_skip="def test_case(bpfsim_kernel):\n    raise AssertionError('not reached')\n")
    result = pytester.runpytest("-rs", *_plugin_args())
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*the machine's kernel cannot check bpfsim here: seccomp is off in this container*"])


def test_assert_policy_traces_an_input_that_gets_the_unexpected_verdict(kernel):
    """A new-user walk: the failure traced the all-zero call, which got the expected ALLOW, so
    the trace under 'expected ALLOW ... got ERRNO' showed no failure at all."""
    with pytest.raises(AssertionError) as failure:
        assert_policy(SANDBOX, {"openat": "ALLOW"})
    text = str(failure.value)
    assert "the first one, traced with an input that gets it:" in text
    traced = text.split("traced with an input that gets it:", 1)[1]
    assert "ERRNO(13)" in traced and "ALLOW" not in traced.splitlines()[-1]
    write_open = SeccompData(OPENAT, args=(0, 0, 1))  # O_WRONLY: the kernel refuses it with EACCES
    kernel.check_verdict([SANDBOX], write_open, evaluate([SANDBOX], write_open))


TWO_FILTERS_C = """
#ifndef DENY_ERRNO
#define DENY_ERRNO EPERM
#endif
static struct sock_filter allow_all[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
static struct sock_filter deny_getpid[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | DENY_ERRNO),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
"""

NAMED_FILTER_TESTS = """
import errno
from bpfsim.testing import assert_verdict

def test_file_colon_symbol(bpfsim_filter):
    assert_verdict(bpfsim_filter("filters.c:deny_getpid"), "getpid", action="ERRNO", errno=errno.EPERM)

def test_symbol_keyword(bpfsim_filter):
    assert_verdict(bpfsim_filter("filters.c", symbol="allow_all"), "getpid", action="ALLOW")

def test_the_filters_arch_and_macros(bpfsim_filter):
    # aarch64 numbers __NR_getpid 172 (include/uapi/asm-generic/unistd.h); -D DENY_ERRNO=EACCES
    aarch64 = bpfsim_filter("filters.c:deny_getpid", arch="aarch64", defines={"DENY_ERRNO": "EACCES"})
    assert aarch64[1].k == 172 and aarch64[2].k & 0xFFFF == errno.EACCES

def test_a_dump_directory_is_a_stack(seccomp_chain):
    assert_verdict(seccomp_chain("dumped"), "getpid", action="ERRNO", errno=errno.EPERM)
    assert_verdict("dumped", "getpid", action="ERRNO", errno=errno.EPERM)

def test_a_stack_is_not_one_filter(bpfsim_filter):
    bpfsim_filter("dumped")
"""


def test_the_fixtures_name_filters_as_the_command_line_does(pytester, kernel):
    """A new-user walk: bpfsim_filter("app.c:SYMBOL") said "cannot read it: No such file", and the
    fixture had no symbol= either, though every FILTER on the command line may be FILE:SYMBOL or a
    directory bpfsim dump wrote."""
    deny_getpid = prog(ld_abs(0), jump(JEQ, 39, 0, 1), ret(ERRNO | errno.EPERM), ret(ALLOW))
    (pytester.path / "filters.c").write_text(TWO_FILTERS_C)
    (pytester.path / "dumped").mkdir()
    (pytester.path / "dumped" / "0000.bpf").write_bytes(deny_getpid.to_bytes())
    (pytester.path / "dumped" / "0001.bpf").write_bytes(prog(ret(ALLOW)).to_bytes())
    pytester.makepyfile(test_named=NAMED_FILTER_TESTS)
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*dumped: a stack of 2 filters; name one of its files*"])
    stack = [deny_getpid, prog(ret(ALLOW))]
    kernel.check_verdict(stack, SeccompData("getpid"), evaluate(stack, SeccompData("getpid")))
