"""Which arches a stack lets calls through for (bpfsim/arches.py), each answer confirmed by the
kernel for the arches this x86_64 machine can call with (x86_64 and i386)."""

import pytest

from bpfsim import Program, SeccompData, evaluate
from bpfsim.arches import ArchesChecked, arches_checked
from bpfsim.syscalls import syscall_table
from tests.test_corpus import RECORDED, admitted, load_cases, stack

_PASSING = {"ALLOW", "LOG", "TRACE", "USER_NOTIF"}  # the call may run (kernel/seccomp.c:__seccomp_filter)

X86_ONLY = "ld [arch]\njeq #AUDIT_ARCH_X86_64, 0, 1\nret ALLOW\nret KILL_PROCESS\n"
I386_ERRNO = "ld [arch]\njeq #AUDIT_ARCH_I386, 0, 1\nret ERRNO(1)\nret ALLOW\n"
BOTH_THROUGH_X = ("ld [arch]\ntax\nld #0x40000003\njeq x, ok, 0\nld #0xc000003e\njeq x, ok, kill\n"
                  "ok: ret ALLOW\nkill: ret KILL_THREAD\n")
STORED = ("ld [arch]\nst M[3]\nld [nr]\nld M[3]\njeq #AUDIT_ARCH_AARCH64, 0, 1\nret TRACE(1)\n"
          "ret KILL_PROCESS\n")
NO_CHECK = "ld [nr]\njeq #59, 0, 1\nret KILL_PROCESS\nret ALLOW\n"


@pytest.mark.parametrize("texts, expected, getpid_runs_for", [
    pytest.param([X86_ONLY], ArchesChecked(("x86_64", "x32"), False), {"x86_64"}, id="jeq on the arch word"),
    pytest.param([I386_ERRNO], ArchesChecked((), True), {"x86_64"},
                 id="ERRNO for every call of an arch does not let it through"),
    pytest.param([BOTH_THROUGH_X], ArchesChecked(("i386", "x86_64", "x32"), False), {"x86_64", "i386"},
                 id="compared through X"),
    pytest.param([STORED], ArchesChecked(("aarch64",), False), set(),
                 id="kept in scratch memory; TRACE may let it run"),
    pytest.param([NO_CHECK], ArchesChecked((), True), {"x86_64", "i386"}, id="no check: every arch passes"),
    pytest.param([BOTH_THROUGH_X, X86_ONLY], ArchesChecked(("x86_64", "x32"), False), {"x86_64"},
                 id="a stack passes what every filter passes"),
])
def test_the_arches_a_stack_lets_through(texts, expected, getpid_runs_for, kernel):
    programs = [Program.from_asm(text) for text in texts]
    assert arches_checked(programs) == expected
    for arch, nr in (("x86_64", 39), ("i386", 20)):  # getpid
        data = SeccompData(nr, arch)
        verdict = evaluate(programs, data)
        assert verdict.outcome.runs is (arch in getpid_runs_for)
        kernel.check_verdict(programs, data, verdict)


def test_checked_says_whether_the_stack_tells_arches_apart():
    assert ArchesChecked(("x86_64",), True).checked and ArchesChecked((), False).checked
    assert not ArchesChecked((), True).checked


def test_each_arch_is_named_once_in_the_order_the_filters_name_it():
    """runc's stack compares the arch word with the same constants in several places."""
    programs = [Program.load("corpus/runc-moby-default/filter.bpf")]
    assert arches_checked(programs).passed == ("i386", "x86_64", "x32")


X32_TEXTS = {
    "x86_64 paths let any number through": X86_ONLY,
    "x32 numbers refused before any other test": (
        "ld [arch]\njeq #AUDIT_ARCH_X86_64, 0, 3\nld [nr]\njge #0x40000000, 1, 0\nret ALLOW\nret KILL_PROCESS\n"),
    "x32 numbers refused by their bit": (
        "ld [arch]\njeq #AUDIT_ARCH_X86_64, 0, 3\nld [nr]\njset #0x40000000, 1, 0\nret ALLOW\nret KILL_PROCESS\n"),
    "only x32's read (0x40000000) allowed": (
        "ld [arch]\njeq #AUDIT_ARCH_X86_64, 0, 4\nld [nr]\njeq #0x40000000, 1, 0\njge #0x40000000, 1, 0\n"
        "ret ALLOW\nret KILL_PROCESS\n"),
    "the bit masked off, then x86_64's execve refused": (
        "ld [arch]\njeq #AUDIT_ARCH_X86_64, 0, 4\nld [nr]\nand #0xbfffffff\njeq #59, 1, 0\nret ALLOW\n"
        "ret KILL_PROCESS\n"),
}
X32_PASSES = {"x86_64 paths let any number through": True, "x32 numbers refused before any other test": False,
              "x32 numbers refused by their bit": False, "only x32's read (0x40000000) allowed": True,
              "the bit masked off, then x86_64's execve refused": True}


@pytest.mark.parametrize("name", list(X32_TEXTS))
def test_x32_is_inferred_where_the_x86_64_paths_let_x32_numbers_through(name, kernel):
    """x32 calls are AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT set (arch/x86/entry/syscall_64.c:
    do_syscall_x32); x32's getpid (0x40000027) and read (0x40000000) show it on the kernel."""
    programs = [Program.from_asm(X32_TEXTS[name])]
    assert ("x32" in arches_checked(programs).passed) is X32_PASSES[name]
    for nr in (0x40000000, 0x40000027):
        data = SeccompData(nr, "x86_64")
        kernel.check_verdict(programs, data, evaluate(programs, data))


@pytest.mark.parametrize("case_dir", RECORDED, ids=[d.name for d in RECORDED])
def test_x32_is_inferred_exactly_for_the_corpus_stacks_that_let_a_recorded_x32_call_through(case_dir):
    """The kernel's recordings decide: Docker's default and systemd's service stacks let x32 calls
    run on this machine, Chromium's and vsftpd's refuse every one. A stack that never names
    x86_64 (sudo's checks no arch at all) names no x32 either: its calls are judged as this
    machine's, and lint reports the x32 bypass."""
    x32 = syscall_table("x32")
    ran = any(c[0] == "x86_64" and c[1] in x32 and any(name in _PASSING for name, _ in admitted(c[3]))
              for c in load_cases(case_dir)["cases"])
    passed = arches_checked([Program.load(path) for path in stack(case_dir)]).passed
    assert ("x32" in passed) is (ran and "x86_64" in passed)
