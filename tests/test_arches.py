"""Which arches a stack lets calls through for (bpfsim/arches.py), each answer confirmed by the
kernel for the arches this x86_64 machine can call with (x86_64 and i386)."""

import pytest

from bpfsim import Program, SeccompData, evaluate
from bpfsim.arches import ArchesChecked, arches_checked

X86_ONLY = "ld [arch]\njeq #AUDIT_ARCH_X86_64, 0, 1\nret ALLOW\nret KILL_PROCESS\n"
I386_ERRNO = "ld [arch]\njeq #AUDIT_ARCH_I386, 0, 1\nret ERRNO(1)\nret ALLOW\n"
BOTH_THROUGH_X = ("ld [arch]\ntax\nld #0x40000003\njeq x, ok, 0\nld #0xc000003e\njeq x, ok, kill\n"
                  "ok: ret ALLOW\nkill: ret KILL_THREAD\n")
STORED = ("ld [arch]\nst M[3]\nld [nr]\nld M[3]\njeq #AUDIT_ARCH_AARCH64, 0, 1\nret TRACE(1)\n"
          "ret KILL_PROCESS\n")
NO_CHECK = "ld [nr]\njeq #59, 0, 1\nret KILL_PROCESS\nret ALLOW\n"


@pytest.mark.parametrize("texts, expected, getpid_runs_for", [
    pytest.param([X86_ONLY], ArchesChecked(("x86_64",), False), {"x86_64"}, id="jeq on the arch word"),
    pytest.param([I386_ERRNO], ArchesChecked((), True), {"x86_64"},
                 id="ERRNO for every call of an arch does not let it through"),
    pytest.param([BOTH_THROUGH_X], ArchesChecked(("i386", "x86_64"), False), {"x86_64", "i386"},
                 id="compared through X"),
    pytest.param([STORED], ArchesChecked(("aarch64",), False), set(),
                 id="kept in scratch memory; TRACE may let it run"),
    pytest.param([NO_CHECK], ArchesChecked((), True), {"x86_64", "i386"}, id="no check: every arch passes"),
    pytest.param([BOTH_THROUGH_X, X86_ONLY], ArchesChecked(("x86_64",), False), {"x86_64"},
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
    assert arches_checked(programs).passed == ("i386", "x86_64")
