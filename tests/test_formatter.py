"""The comment column names syscalls by the arch each path checked (#13 item 6).

Expected names are the kernel's syscall tables (Linux 6.18): arch/x86/entry/syscalls/syscall_32.tbl
``120 i386 clone`` and ``173 i386 rt_sigreturn``; syscall_64.tbl ``120 common getresgid``. The filter is
runc's build of Docker's default profile (corpus/runc-moby-default), which checks AUDIT_ARCH_X86_64 and
AUDIT_ARCH_I386 and has an x86_64 half and an i386 half.
"""

import re
from pathlib import Path

import pytest

from bpfsim import Instruction, Program
from bpfsim.formatter import annotate, path_facts

MULTI_ARCH = Program.load(Path(__file__).resolve().parent.parent / "corpus" / "runc-moby-default" / "filter.bpf")
AUDIT_ARCH_I386, AUDIT_ARCH_X86_64 = 0x40000003, 0xC000003E


def pcs_comparing(k: int) -> dict[int, int | None]:
    """Each ``jeq #k`` on the nr, with the AUDIT_ARCH its paths checked."""
    facts = path_facts(MULTI_ARCH)
    return {pc: facts[pc].arch for pc, insn in enumerate(MULTI_ARCH)
            if insn.code == 0x15 and insn.k == k and facts[pc].a_field == 0}


def test_the_filter_has_both_halves():
    halves = set(pcs_comparing(0x78).values())
    assert halves == {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386}


@pytest.mark.parametrize("arch", [None, "x86_64", "i386"])
def test_each_half_is_named_by_the_arch_its_paths_checked(arch):
    comments = annotate(MULTI_ARCH, arch=arch)
    for pc, checked in pcs_comparing(0x78).items():
        expected = "clone" if checked == AUDIT_ARCH_I386 else "getresgid"
        assert comments[pc].split(";")[0] == expected, (pc, comments[pc])


def test_every_dialect_names_the_i386_half_as_i386():
    i386_pcs = [pc for pc, checked in pcs_comparing(0x78).items() if checked == AUDIT_ARCH_I386]
    c_lines = {int(m[1]): m[2] for m in re.finditer(r"/\* (\d+): ([^;*]*)", MULTI_ARCH.to_c())}
    assert all(c_lines[pc] == "clone" for pc in i386_pcs)
    listing = MULTI_ARCH.listing().splitlines()
    assert all(re.search(rf"\b{pc}\s.*; clone;", listing[pc]) for pc in i386_pcs)
    pseudo_c = MULTI_ARCH.to_asm(dialect="pseudo_c")
    assert "if (A == 0x78) goto L0242" in pseudo_c  # the text has no arch line: numbers stay numbers
    assert re.search(r"0x78\)? goto \w+\s+# clone \(i386\)", pseudo_c)
    assert re.search(r"0x78\)? goto \w+\s+# getresgid \(x86_64\)", pseudo_c)
    assert Program.from_asm(pseudo_c) == MULTI_ARCH


def test_a_name_in_pseudo_c_text_is_the_arch_lines_own():
    """With ``arch x86_64`` the x86_64 half names its numbers in the text (they assemble back to
    the same numbers); the i386 half keeps numbers, named in the comment."""
    text = MULTI_ARCH.to_asm(arch="x86_64", dialect="pseudo_c")
    assert "if (A == getresgid)" in text and re.search(r"0x78\)? goto \w+\s+# clone \(i386\)", text)
    assert Program.from_asm(text) == MULTI_ARCH


def test_paths_that_disagree_on_the_arch_name_nothing():
    """``ld [4]; jeq #i386, 0, 1; ld [0]; jeq #120 ...``: pc 2 is reached from both branches."""
    prog = Program([Instruction(0x20, 0, 0, 4), Instruction(0x15, 0, 0, AUDIT_ARCH_I386),
                    Instruction(0x20, 0, 0, 0), Instruction(0x15, 0, 1, 120),
                    Instruction(0x06, 0, 0, 0), Instruction(0x06, 0, 0, 0x7FFF0000)])
    assert path_facts(prog)[3].arch is None
    assert annotate(prog)[3] == "true: 4, false: 5"
    assert annotate(prog, arch="i386")[3].startswith("clone;")


def test_a_listing_marks_where_jumps_land_but_not_a_jumps_own_next_line():
    """libseccomp's chains are `jeq #k, N, 0`: every false branch is the next line, and marking
    those would put `>>` on nearly every line (a new-user walk)."""
    prog = Program.from_asm("ld [nr]\njeq #1, 2, 0\njeq #2, 1, 0\nret ERRNO(1)\nja 0\nret ALLOW")
    marked = [line.split()[1] for line in prog.listing().splitlines() if line.startswith(">>")]
    assert marked == ["4"]
