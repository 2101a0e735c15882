"""Runtime semantics of one program, each value as the kernel computes it.

Expected values come from kernel-semantics.md §3 and §9 (observed on Linux 6.18 x86_64, where
seccomp runs as x86-64 JIT code) and, where the ``kernel`` fixture can reach seccomp(2), from
the machine's own kernel in the same test.
"""

import errno

import pytest

from bpfsim import SeccompData, VerifyError, run, trace
from bpfsim import opcodes as op
from tests.build import NEG, RET_A, TAX, TXA, alu, jump, ld_abs, ld_imm, ldx_imm, prog, ret, stmt

DATA = SeccompData(1000, "x86_64", 0x00007F0012345863,
                   (0x1122334455667788, 2, 3, 4, 0xABCDEF0012345678, 6))

A_VALUES = [
    pytest.param([ld_abs(0)], 1000, id="ld [0] reads nr"),
    pytest.param([ld_abs(4)], 0xC000003E, id="ld [4] reads arch"),
    pytest.param([ld_abs(8)], 0x12345863, id="ld [8] is the low half of the ip on little-endian"),
    pytest.param([ld_abs(12)], 0x00007F00, id="ld [12] is the high half of the ip"),
    pytest.param([ld_abs(16)], 0x55667788, id="args[0] low word at 16"),
    pytest.param([ld_abs(20)], 0x11223344, id="args[0] high word at 20"),
    pytest.param([ld_abs(52)], 0xABCDEF00, id="args[4] high word at 52"),
    pytest.param([stmt(op.BPF_LD | op.BPF_W | op.BPF_LEN, 5)], 64, id="ld #len loads 64 whatever k"),
    pytest.param([stmt(op.BPF_LDX | op.BPF_W | op.BPF_LEN), TXA], 64, id="ldx #len loads 64"),
    pytest.param([], 0, id="A starts at 0"),
    pytest.param([TXA], 0, id="X starts at 0"),
    pytest.param([ld_imm(0xFFFFFFFF), alu(op.BPF_ADD, 2)], 1, id="add wraps"),
    pytest.param([alu(op.BPF_SUB, 1)], 0xFFFFFFFF, id="sub wraps below zero"),
    pytest.param([ld_imm(0x10000), alu(op.BPF_MUL, 0x10000)], 0, id="mul keeps the low 32 bits"),
    pytest.param([ld_imm(0xFFFFFFFF), TAX, alu(op.BPF_MUL)], 1, id="mul x squares 0xffffffff to 1"),
    pytest.param([ld_imm(1), NEG], 0xFFFFFFFF, id="neg 1"),
    pytest.param([ld_imm(0x80000000), NEG], 0x80000000, id="neg 0x80000000 is itself"),
    pytest.param([ld_imm(0xFFFFFFFF), alu(op.BPF_DIV, 2)], 0x7FFFFFFF, id="div is unsigned"),
    pytest.param([ld_imm(0xFFFFFFFF), alu(op.BPF_DIV, 0x80000000)], 1, id="div by a k with the top bit set"),
    pytest.param([ld_imm(7), alu(op.BPF_DIV, 2)], 3, id="div truncates"),
    pytest.param([ld_imm(0x80000000), alu(op.BPF_RSH, 31)], 1, id="rsh is logical"),
    pytest.param([ld_imm(1), alu(op.BPF_LSH, 31)], 0x80000000, id="lsh 31"),
    pytest.param([ld_imm(1), alu(op.BPF_ADD, 0x80000000)], 0x80000001, id="add k with the top bit set"),
    pytest.param([ld_imm(0xF0F0), alu(op.BPF_AND, 0xFF00)], 0xF000, id="and k"),
    pytest.param([ld_imm(0xF0F0), alu(op.BPF_OR, 0x0F0F)], 0xFFFF, id="or k"),
    pytest.param([ld_imm(0xFFFF), alu(op.BPF_XOR, 0x0F0F)], 0xF0F0, id="xor k"),
    pytest.param([ldx_imm(5), ld_imm(7), alu(op.BPF_SUB)], 2, id="sub x"),
    pytest.param([ldx_imm(0xFFFFFFFF), ld_imm(3), alu(op.BPF_ADD)], 2, id="add x wraps"),
    pytest.param([ldx_imm(0xFF00), ld_imm(0xF0F0), alu(op.BPF_AND)], 0xF000, id="and x"),
    pytest.param([ldx_imm(0x0F0F), ld_imm(0xF0F0), alu(op.BPF_OR)], 0xFFFF, id="or x"),
    pytest.param([ldx_imm(0x0F0F), ld_imm(0xFFFF), alu(op.BPF_XOR)], 0xF0F0, id="xor x"),
    pytest.param([ldx_imm(0x12345678), TXA], 0x12345678, id="txa copies X"),
    pytest.param([ld_imm(0x1234), stmt(op.BPF_ST, 15), ld_imm(0), stmt(op.BPF_LD | op.BPF_MEM, 15)], 0x1234,
                 id="st then ld M[15]"),
    pytest.param([ldx_imm(0x4321), stmt(op.BPF_STX, 0), stmt(op.BPF_LDX | op.BPF_MEM, 0), TXA], 0x4321,
                 id="stx then ldx M[0]"),
    # Shifts by X of 32 or more: the x86-64 JIT shifts by X & 31 (kernel-semantics.md §3.3).
    pytest.param([ldx_imm(32), ld_imm(0x12345678), alu(op.BPF_LSH)], 0x12345678, id="lsh x 32 is lsh 0"),
    pytest.param([ldx_imm(33), ld_imm(0x12345678), alu(op.BPF_LSH)], 0x2468ACF0, id="lsh x 33 is lsh 1"),
    pytest.param([ldx_imm(63), ld_imm(0x12345678), alu(op.BPF_LSH)], 0, id="lsh x 63 is lsh 31"),
    pytest.param([ldx_imm(64), ld_imm(0x12345678), alu(op.BPF_LSH)], 0x12345678, id="lsh x 64 is lsh 0"),
    pytest.param([ldx_imm(0xFFFFFFFF), ld_imm(0x12345678), alu(op.BPF_LSH)], 0, id="lsh x 0xffffffff"),
    pytest.param([ldx_imm(32), ld_imm(0x87654321), alu(op.BPF_RSH)], 0x87654321, id="rsh x 32 is rsh 0"),
    pytest.param([ldx_imm(33), ld_imm(0x87654321), alu(op.BPF_RSH)], 0x43B2A190, id="rsh x 33 is rsh 1"),
    pytest.param([ldx_imm(0xFFFFFFFF), ld_imm(0x87654321), alu(op.BPF_RSH)], 1, id="rsh x 0xffffffff"),
    pytest.param([ldx_imm(3), ld_imm(100), alu(op.BPF_DIV)], 33, id="div x"),
]


@pytest.mark.parametrize("insns, expected", A_VALUES)
def test_register_a_after(insns, expected, kernel):
    program = prog(*insns, RET_A)
    assert run(program, DATA) == expected
    kernel.check_value(insns, DATA, expected)


@pytest.mark.parametrize("offset", range(0, 64, 4), ids=lambda k: f"ld [{k}]")
def test_every_word_of_seccomp_data(offset, kernel):
    """Each 32-bit word, both halves of every 64-bit arg: native (little-endian) order on x86_64."""
    data = SeccompData(1000, "x86_64", 0, [(0x11111111 * i) << 32 | 0x02020202 * i for i in range(1, 7)])
    words = [1000, 0xC000003E, 0, 0] + [part for i in range(1, 7) for part in (0x02020202 * i, 0x11111111 * i)]
    expected = words[offset // 4]
    assert run(prog(ld_abs(offset), RET_A), data) == expected
    kernel.check_value([ld_abs(offset)], data, expected)


JUMPS = [
    pytest.param(op.BPF_JGT, 0xFFFFFFFF, 0x7FFFFFFF, True, id="jgt is unsigned (0xffffffff > 0x7fffffff)"),
    pytest.param(op.BPF_JGT, 1, 0x80000000, False, id="jgt is unsigned (1 > 0x80000000 is false)"),
    pytest.param(op.BPF_JGT, 5, 5, False, id="jgt equal is false"),
    pytest.param(op.BPF_JGE, 5, 5, True, id="jge equal is true"),
    pytest.param(op.BPF_JGE, 0x7FFFFFFF, 0x80000000, False, id="jge is unsigned"),
    pytest.param(op.BPF_JEQ, 0x80000000, 0x80000000, True, id="jeq with the top bit set"),
    pytest.param(op.BPF_JEQ, 1, 2, False, id="jeq different"),
    pytest.param(op.BPF_JSET, 0x80000001, 0x80000000, True, id="jset top bit"),
    pytest.param(op.BPF_JSET, 0x7FFFFFFF, 0x80000000, False, id="jset no common bit"),
]


@pytest.mark.parametrize("operation, a, operand, taken", JUMPS)
@pytest.mark.parametrize("source", [op.BPF_K, op.BPF_X], ids=["k", "x"])
def test_conditional_jumps_compare_unsigned(operation, a, operand, taken, source, kernel):
    load_x = [ldx_imm(operand)] if source == op.BPF_X else []
    k = 0 if source == op.BPF_X else operand
    program = prog(*load_x, ld_imm(a), jump(op.BPF_JMP | operation | source, k, 1, 0),
                   ret(0x00050000 | 2), ret(0x00050000 | 1))
    expected = 0x00050001 if taken else 0x00050002
    assert run(program, DATA) == expected
    kernel.check_return(program, DATA, expected)


def test_ja_uses_the_32_bit_k_to_skip_far(kernel):
    program = prog(stmt(op.BPF_JMP | op.BPF_JA, 300), *[ret(0x00050002)] * 300, ret(0x00050001))
    assert run(program, DATA) == 0x00050001
    kernel.check_return(program, DATA, 0x00050001)


def test_division_by_x_zero_returns_0_from_the_filter(kernel):
    """net/core/filter.c:bpf_convert_filter emits "return 0" for a zero divisor (KILL_THREAD)."""
    program = prog(ld_imm(7), alu(op.BPF_DIV), ret(0x7FFF0000))
    assert run(program, DATA) == 0
    kernel.check_return(program, DATA, 0)


def test_run_refuses_a_program_the_kernel_would_not_load():
    with pytest.raises(VerifyError) as caught:
        run(prog(ld_abs(2), RET_A), DATA)
    assert (caught.value.errno, caught.value.pc) == (errno.EINVAL, 0)


def test_big_endian_words_put_the_high_half_first():
    """populate_seccomp_data stores u64 args in the CPU's order (kernel-semantics.md §1.5)."""
    data = SeccompData(1, "s390x", 0, (0x1122334455667788,))
    assert run(prog(ld_abs(16), RET_A), data) == 0x11223344
    assert run(prog(ld_abs(20), RET_A), data) == 0x55667788
    assert run(prog(ld_abs(4), RET_A), data) == 0x80000016


def test_trace_records_each_step_and_the_return():
    program = prog(ld_abs(0), jump(op.BPF_JMP | op.BPF_JEQ | op.BPF_K, 1000, 0, 1), ret(0x00050001), ret(0x7FFF0000))
    result = trace(program, DATA)
    assert [s.pc for s in result] == [0, 1, 2]
    assert result[0].a == 1000 and result[1].next_pc == 2
    assert result.ret == 0x00050001 == result[-1].ret
    text = str(result)
    assert "-->" in text and "ERRNO(1)" in text and "covered 3/4" in text


def test_a_trace_line_shows_the_cells_its_step_changed_and_only_those():
    program = prog(ld_imm(1), stmt(op.BPF_ST, 2), ld_imm(2), stmt(op.BPF_ST, 3), RET_A)
    lines = str(trace(program, DATA)).splitlines()
    assert lines[1].endswith("| A=0x1 X=0x0 M[2]=0x1")
    assert lines[3].endswith("| A=0x2 X=0x0 M[3]=0x2")
    assert "M[" not in lines[2] + lines[4]
