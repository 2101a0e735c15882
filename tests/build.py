"""Tiny instruction constructors for tests that must not depend on the assembler under test."""

from bpfsim import opcodes as op
from bpfsim.insn import Instruction
from bpfsim.program import Program


def stmt(code: int, k: int = 0) -> Instruction:
    return Instruction(code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> Instruction:
    return Instruction(code, jt, jf, k & 0xFFFFFFFF)


def ld_abs(offset: int) -> Instruction:
    return stmt(op.BPF_LD | op.BPF_W | op.BPF_ABS, offset)


def ld_imm(k: int) -> Instruction:
    return stmt(op.BPF_LD | op.BPF_IMM, k)


def ldx_imm(k: int) -> Instruction:
    return stmt(op.BPF_LDX | op.BPF_IMM, k)


def alu(operation: int, k: int | None = None) -> Instruction:
    """``alu(BPF_ADD, 5)`` is ``add #5``; ``alu(BPF_ADD)`` is ``add x``."""
    if k is None:
        return stmt(op.BPF_ALU | operation | op.BPF_X)
    return stmt(op.BPF_ALU | operation | op.BPF_K, k)


def ret(k: int) -> Instruction:
    return stmt(op.BPF_RET | op.BPF_K, k)


RET_A = stmt(op.BPF_RET | op.BPF_A)
TAX = stmt(op.BPF_MISC | op.BPF_TAX)
TXA = stmt(op.BPF_MISC | op.BPF_TXA)
NEG = stmt(op.BPF_ALU | op.BPF_NEG)


def prog(*insns: Instruction) -> Program:
    return Program(insns)
