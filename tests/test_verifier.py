"""The kernel's load-time checks: every rejection with the errno and pc the kernel stops at.

Each case id names the kernel function whose check it mirrors (net/core/filter.c
bpf_check_classic / check_load_and_stores, kernel/seccomp.c seccomp_check_filter); the verdicts
are those observed on Linux 6.18 (kernel-semantics.md §9) and re-checked here through seccomp(2)
by the ``kernel`` fixture where available.
"""

import errno

import pytest

from bpfsim import Instruction, Program, VerifyError, verify
from bpfsim import opcodes as op
from bpfsim.semantics import converted_length
from tests.build import RET_A, TAX, alu, jump, ld_abs, ld_imm, prog, ret, stmt

ALLOW = ret(0x7FFF0000)
JEQ = op.BPF_JMP | op.BPF_JEQ | op.BPF_K
ST, LD_MEM, LDX_MEM = op.BPF_ST, op.BPF_LD | op.BPF_MEM, op.BPF_LDX | op.BPF_MEM

REJECTED = [
    pytest.param([], None, id="bpf_check_basics_ok: empty program"),
    pytest.param([ALLOW] * 4097, None, id="bpf_check_basics_ok: 4097 instructions"),
    pytest.param([Instruction(0x0E), ALLOW], 0, id="bpf_check_classic: ret x is not a code"),
    pytest.param([Instruction(0x0116)], 0, id="bpf_check_classic: high bits in a ret code"),
    pytest.param([Instruction(0x0106)], 0, id="bpf_check_classic: 0x0106"),
    pytest.param([Instruction(0xFFFF)], 0, id="bpf_check_classic: 0xffff"),
    pytest.param([Instruction(0x8C), ALLOW], 0, id="bpf_check_classic: 0x8c (neg x)"),
    pytest.param([Instruction(0x0F), ALLOW], 0, id="bpf_check_classic: 0x0f"),
    pytest.param([Instruction(0x18), ALLOW], 0, id="bpf_check_classic: 0x18"),
    pytest.param([Instruction(0x88), ALLOW], 0, id="bpf_check_classic: 0x88"),
    pytest.param([Instruction(0x21), ALLOW], 0, id="bpf_check_classic: 0x21, the internal ldx abs"),
    pytest.param([Instruction(0xB4), ALLOW], 0, id="bpf_check_classic: alu op 0xb0"),
    pytest.param([Instruction(0x55), ALLOW], 0, id="bpf_check_classic: jmp op 0x50"),
    pytest.param([ALLOW, alu(op.BPF_DIV, 0), ALLOW], 1, id="bpf_check_classic: div by constant 0 in dead code"),
    pytest.param([alu(op.BPF_LSH, 32), ALLOW], 0, id="bpf_check_classic: lsh #32"),
    pytest.param([alu(op.BPF_RSH, 32), ALLOW], 0, id="bpf_check_classic: rsh #32"),
    pytest.param([alu(op.BPF_RSH, 0xFFFFFFFF), ALLOW], 0, id="bpf_check_classic: rsh #0xffffffff"),
    pytest.param([stmt(ST, 16), ALLOW], 0, id="bpf_check_classic: st M[16]"),
    pytest.param([stmt(op.BPF_STX, 16), ALLOW], 0, id="bpf_check_classic: stx M[16]"),
    pytest.param([stmt(LD_MEM, 16), ALLOW], 0, id="bpf_check_classic: ld M[16]"),
    pytest.param([jump(JEQ, 0, 2, 0), ALLOW], 0, id="bpf_check_classic: jt past the end"),
    pytest.param([jump(JEQ, 0, 0, 1), ALLOW], 0, id="bpf_check_classic: jf past the end"),
    pytest.param([stmt(op.BPF_JMP | op.BPF_JA, 1), ALLOW], 0, id="bpf_check_classic: ja past the end"),
    pytest.param([stmt(op.BPF_JMP | op.BPF_JA, 0xFFFFFFFF), ALLOW], 0, id="bpf_check_classic: ja 0xffffffff"),
    pytest.param([ld_imm(0)], 0, id="bpf_check_classic: last instruction is not a return"),
    pytest.param([ld_abs(0xFFFFF0FF), ALLOW], 0, id="bpf_check_classic: unknown extension offset"),
    pytest.param([stmt(LD_MEM, 0), RET_A], 0, id="check_load_and_stores: M[0] read before any write"),
    pytest.param([stmt(LDX_MEM, 3), RET_A], 0, id="check_load_and_stores: ldx M[3] before a write"),
    pytest.param([ld_abs(0), jump(JEQ, 1, 0, 1), stmt(ST, 0), stmt(LD_MEM, 0), RET_A], 3,
                 id="check_load_and_stores: store on one branch only"),
    pytest.param([ret(0), stmt(LD_MEM, 0), RET_A], 1, id="check_load_and_stores: dead load after a ret"),
    pytest.param([ld_abs(0), jump(JEQ, 1, 0, 2), stmt(ST, 0), stmt(op.BPF_JMP | op.BPF_JA, 2), ret(0), ret(1),
                  stmt(LD_MEM, 0), RET_A], 6,
                 id="check_load_and_stores: linear quirk rejects a load reachable only after the store"),
    pytest.param([alu(op.BPF_MOD, 3), ALLOW], 0, id="seccomp_check_filter: mod k"),
    pytest.param([alu(op.BPF_MOD), ALLOW], 0, id="seccomp_check_filter: mod x"),
    pytest.param([alu(op.BPF_MOD, 0), ALLOW], 0, id="bpf_check_classic: mod by constant 0 fails first"),
    pytest.param([ld_abs(64), RET_A], 0, id="seccomp_check_filter: ld [64] is past seccomp_data"),
    pytest.param([ld_abs(2), RET_A], 0, id="seccomp_check_filter: ld [2] is unaligned"),
    pytest.param([ld_abs(0xFFFFF000), RET_A], 0, id="seccomp_check_filter: a known socket extension"),
    pytest.param([stmt(op.BPF_LD | op.BPF_H | op.BPF_ABS, 0), RET_A], 0, id="seccomp_check_filter: ldh"),
    pytest.param([stmt(op.BPF_LD | op.BPF_B | op.BPF_ABS, 0), RET_A], 0, id="seccomp_check_filter: ldb"),
    pytest.param([stmt(op.BPF_LD | op.BPF_W | op.BPF_IND, 0), RET_A], 0, id="seccomp_check_filter: ld ind"),
    pytest.param([stmt(op.BPF_LDX | op.BPF_B | op.BPF_MSH, 0), RET_A], 0, id="seccomp_check_filter: ldxb msh"),
    pytest.param([ALLOW, stmt(op.BPF_LD | op.BPF_H | op.BPF_ABS, 0), alu(op.BPF_DIV, 0), ALLOW], 2,
                 id="bpf_check_classic runs over the whole program before seccomp_check_filter"),
]


@pytest.mark.parametrize("insns, pc", REJECTED)
def test_rejected_programs(insns, pc, kernel):
    program = prog(*insns)
    with pytest.raises(VerifyError) as caught:
        verify(program)
    assert (caught.value.errno, caught.value.pc) == (errno.EINVAL, pc)
    kernel.check_install(program, errno.EINVAL)


ACCEPTED = [
    pytest.param([ALLOW], id="one return"),
    pytest.param([ALLOW] * 4096, id="4096 instructions"),
    pytest.param([jump(JEQ, 0, 0, 0), ALLOW], id="jeq with both offsets 0"),
    pytest.param([stmt(op.BPF_JMP | op.BPF_JA, 0), ALLOW], id="ja 0"),
    pytest.param([stmt(op.BPF_JMP | op.BPF_JA, 255), *[ALLOW] * 256], id="ja 255"),
    pytest.param([stmt(op.BPF_JMP | op.BPF_JA, 300), *[ALLOW] * 301], id="ja 300 within range"),
    pytest.param([alu(op.BPF_DIV, 1), ALLOW], id="div #1"),
    pytest.param([alu(op.BPF_LSH, 31), ALLOW], id="lsh #31"),
    pytest.param([alu(op.BPF_LSH), ALLOW], id="lsh x is not checked"),
    pytest.param([stmt(ST, 15), ALLOW], id="st M[15]"),
    pytest.param([ld_abs(0), jump(JEQ, 1, 0, 1), stmt(ST, 0), stmt(ST, 0), stmt(LD_MEM, 0), RET_A],
                 id="stores on both paths"),
    pytest.param([stmt(op.BPF_JMP | op.BPF_JA, 1), stmt(LD_MEM, 0), RET_A, ALLOW],
                 id="a dead load skipped by ja is judged valid"),
    pytest.param([stmt(ST, 0), ret(0), stmt(LD_MEM, 0), RET_A], id="store before a ret carries over"),
    pytest.param([ld_abs(0), jump(JEQ, 1, 0, 2), stmt(ST, 0), stmt(op.BPF_JMP | op.BPF_JA, 3), ret(0),
                  stmt(ST, 0), ret(1), stmt(LD_MEM, 0), RET_A],
                 id="a dead store after a ret makes the later load valid"),
    pytest.param([ld_abs(60), RET_A], id="ld [60]"),
    pytest.param([Instruction(0x16, 0, 0, 0x1234)], id="ret a ignores k"),
    pytest.param([Instruction(0x07, 3, 4, 9), ALLOW], id="tax ignores k jt jf"),
    pytest.param([Instruction(0x00, 200, 200, 1), ALLOW], id="ld #k ignores jt jf"),
    pytest.param([Instruction(0x3C, 0, 0, 0), ALLOW], id="div x ignores k"),
    pytest.param([Instruction(0x6C, 0, 0, 99), ALLOW], id="lsh x ignores k"),
    pytest.param([Instruction(0x1D, 0, 0, 0xDEAD), ALLOW], id="jeq x ignores k"),
    pytest.param([Instruction(0x84, 0, 0, 5), ALLOW], id="neg ignores k"),
    pytest.param([Instruction(0x02, 7, 0, 0), ALLOW], id="st ignores jt"),
    pytest.param([Instruction(0x80, 0, 0, 5), RET_A], id="ld #len ignores k"),
    pytest.param([TAX, ALLOW], id="tax"),
]


@pytest.mark.parametrize("insns", ACCEPTED)
def test_accepted_programs(insns, kernel):
    program = prog(*insns)
    assert verify(program) is None
    kernel.check_install(program, None)


def test_verify_error_shows_pc_and_instruction():
    with pytest.raises(VerifyError) as caught:
        verify(prog(ld_abs(2), RET_A))
    assert caught.value.check == "seccomp_check_filter"
    assert str(caught.value).startswith("EINVAL: pc 0: ") and "[ld [2]]" in str(caught.value)


CONVERTED = [
    # Lengths measured on 6.18 by bisecting the path limit (kernel-semantics.md §2.5).
    pytest.param([ALLOW], 5, id="ret k"),
    pytest.param([RET_A], 4, id="ret a"),
    pytest.param([ld_abs(0), jump(JEQ, 0, 0, 1), ALLOW, ALLOW], 9, id="jeq with jt 0"),
    pytest.param([jump(JEQ, 0, 1, 0), ALLOW, ALLOW], 8, id="jeq with jf 0"),
    pytest.param([jump(JEQ, 0, 1, 2), ALLOW, ALLOW, ALLOW], 11, id="jeq with both offsets"),
    pytest.param([jump(JEQ, 0x80000000, 0, 1), ALLOW, ALLOW], 9, id="jeq with a top-bit k"),
    pytest.param([jump(op.BPF_JMP | op.BPF_JSET | op.BPF_K, 1, 0, 1), ALLOW, ALLOW], 9, id="jset with jt 0"),
    pytest.param([alu(op.BPF_DIV), RET_A], 9, id="div x"),
    pytest.param([stmt(op.BPF_LD | op.BPF_W | op.BPF_LEN), RET_A], 5, id="ld #len"),
    pytest.param([stmt(op.BPF_JMP | op.BPF_JA, 0), RET_A], 5, id="ja"),
]


@pytest.mark.parametrize("insns, length", CONVERTED)
def test_converted_length_counts_ebpf_instructions(insns, length):
    assert converted_length(prog(*insns)) == length


def test_a_program_that_failed_fails_again():
    """verify remembers only a pass, so a refused Program is refused every time it is asked."""
    bad = Program([Instruction(0xFFFF, 0, 0, 0)])
    for _ in range(2):
        with pytest.raises(VerifyError):
            verify(bad)
