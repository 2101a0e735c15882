"""Run one seccomp program: the reference interpreter, and step-by-step traces of it.

It executes a program as the kernel runs it after ``seccomp_check_filter`` (kernel/seccomp.c)
rewrote it: ``ld [k]`` is a native-endian 32-bit load from struct seccomp_data, ``ld #len``
loads the constant 64. Semantics are those of ``bpf_convert_filter`` (net/core/filter.c) and the
x86-64 JIT that runs the result: A and X are 32-bit unsigned and start at 0, arithmetic wraps,
division by an X of 0 makes the filter return 0, shifts by X use X & 31. There is one execution
loop; ``run`` drives it without recording and ``trace`` records every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import abi
from . import opcodes as op
from .data import SeccompData
from .insn import Instruction
from .program import Program, format_listing
from .verifier import verify

_M32 = 0xFFFFFFFF

# Decoded kinds, numbered so the most frequent in real filters are tested first.
(LD_ABS, JEQ_K, RET_K, JGE_K, JGT_K, JSET_K, AND_K, JA, LD_IMM, RET_A, LD_MEM, ST, OR_K, RSH_K,
 LSH_K, ADD_K, SUB_K, MUL_K, DIV_K, XOR_K, JEQ_X, JGT_X, JGE_X, JSET_X, ADD_X, SUB_X, MUL_X,
 DIV_X, AND_X, OR_X, XOR_X, LSH_X, RSH_X, NEG, LDX_IMM, LDX_MEM, STX, TAX, TXA) = range(39)

_KIND_OF_CODE = {
    op.BPF_LD | op.BPF_W | op.BPF_ABS: LD_ABS,
    op.BPF_LD | op.BPF_IMM: LD_IMM, op.BPF_LD | op.BPF_MEM: LD_MEM,
    op.BPF_LDX | op.BPF_IMM: LDX_IMM, op.BPF_LDX | op.BPF_MEM: LDX_MEM,
    op.BPF_ST: ST, op.BPF_STX: STX, op.BPF_MISC | op.BPF_TAX: TAX, op.BPF_MISC | op.BPF_TXA: TXA,
    op.BPF_RET | op.BPF_K: RET_K, op.BPF_RET | op.BPF_A: RET_A,
    op.BPF_JMP | op.BPF_JA: JA, op.BPF_ALU | op.BPF_NEG: NEG,
}
for _name, _kinds in {
    op.BPF_ADD: (ADD_K, ADD_X), op.BPF_SUB: (SUB_K, SUB_X), op.BPF_MUL: (MUL_K, MUL_X),
    op.BPF_DIV: (DIV_K, DIV_X), op.BPF_AND: (AND_K, AND_X), op.BPF_OR: (OR_K, OR_X),
    op.BPF_XOR: (XOR_K, XOR_X), op.BPF_LSH: (LSH_K, LSH_X), op.BPF_RSH: (RSH_K, RSH_X),
}.items():
    _KIND_OF_CODE[op.BPF_ALU | _name | op.BPF_K], _KIND_OF_CODE[op.BPF_ALU | _name | op.BPF_X] = _kinds
for _name, _kinds in {op.BPF_JEQ: (JEQ_K, JEQ_X), op.BPF_JGT: (JGT_K, JGT_X),
                      op.BPF_JGE: (JGE_K, JGE_X), op.BPF_JSET: (JSET_K, JSET_X)}.items():
    _KIND_OF_CODE[op.BPF_JMP | _name | op.BPF_K], _KIND_OF_CODE[op.BPF_JMP | _name | op.BPF_X] = _kinds


_LEN_LOADS = {op.BPF_LD | op.BPF_W | op.BPF_LEN: LD_IMM, op.BPF_LDX | op.BPF_W | op.BPF_LEN: LDX_IMM}


def _decode(prog: Program) -> tuple[tuple[int, int, int, int], ...]:
    """(kind, operand, true target, false target) per pc, with the seccomp load-time rewrites
    applied (``ld [k]`` becomes a word index, ``#len`` the constant 64) and absolute targets."""
    decoded = []
    for pc, insn in enumerate(prog):
        code, k = insn.code, insn.k
        if code in _LEN_LOADS:
            # kernel/seccomp.c:seccomp_check_filter rewrites a length load to the constant 64.
            kind, k = _LEN_LOADS[code], abi.SECCOMP_DATA_SIZE
        else:
            kind = _KIND_OF_CODE[code]
        if kind == LD_ABS:
            k //= 4
        elif kind in (LSH_K, RSH_K):
            k &= 31  # guaranteed below 32 by bpf_check_classic
        if kind == JA:
            targets = (pc + 1 + k, 0)
        else:
            targets = (pc + 1 + insn.jt, pc + 1 + insn.jf)
        decoded.append((kind, k, *targets))
    return tuple(decoded)


def _verified_decoding(prog: Program):
    verify(prog)
    return _decode(prog)


def decoded(prog: Sequence[Instruction]):
    """The verified, decoded form of ``prog``, computed once per Program."""
    return Program.of(prog).derived("interpreter", _verified_decoding)


def _execute(code, words, record) -> int:
    """THE loop. ``record(pc, a, x, mem, next_pc_or_None, ret_or_None)`` is called after each
    instruction when it is not ``None``."""
    a = x = 0
    mem = [0] * op.BPF_MEMWORDS
    pc = 0
    while True:
        kind, k, t, f = code[pc]
        nxt = pc + 1
        if kind == LD_ABS:
            a = words[k]
        elif kind == JEQ_K:
            nxt = t if a == k else f
        elif kind == RET_K:
            if record is not None:
                record(pc, a, x, mem, None, k)
            return k
        elif kind == JGE_K:
            nxt = t if a >= k else f
        elif kind == JGT_K:
            nxt = t if a > k else f
        elif kind == JSET_K:
            nxt = t if a & k else f
        elif kind == AND_K:
            a &= k
        elif kind == JA:
            nxt = t
        elif kind == LD_IMM:
            a = k
        elif kind == RET_A:
            if record is not None:
                record(pc, a, x, mem, None, a)
            return a
        elif kind == LD_MEM:
            a = mem[k]
        elif kind == ST:
            mem[k] = a
        elif kind == OR_K:
            a |= k
        elif kind == RSH_K:
            a >>= k
        elif kind == LSH_K:
            a = (a << k) & _M32
        elif kind == ADD_K:
            a = (a + k) & _M32
        elif kind == SUB_K:
            a = (a - k) & _M32
        elif kind == MUL_K:
            a = (a * k) & _M32
        elif kind == DIV_K:
            a //= k
        elif kind == XOR_K:
            a ^= k
        elif kind == JEQ_X:
            nxt = t if a == x else f
        elif kind == JGT_X:
            nxt = t if a > x else f
        elif kind == JGE_X:
            nxt = t if a >= x else f
        elif kind == JSET_X:
            nxt = t if a & x else f
        elif kind == ADD_X:
            a = (a + x) & _M32
        elif kind == SUB_X:
            a = (a - x) & _M32
        elif kind == MUL_X:
            a = (a * x) & _M32
        elif kind == DIV_X:
            if x == 0:
                # net/core/filter.c:bpf_convert_filter: "Error with exception code on div/mod
                # by 0" -- the program returns 0, i.e. SECCOMP_RET_KILL_THREAD.
                if record is not None:
                    record(pc, 0, x, mem, None, 0)
                return 0
            a //= x
        elif kind == AND_X:
            a &= x
        elif kind == OR_X:
            a |= x
        elif kind == XOR_X:
            a ^= x
        elif kind == LSH_X:
            # Over-wide shift amounts are implementation-defined (kernel/bpf/core.c); the x86-64
            # and arm64 JITs and the interpreter use the amount modulo 32.
            a = (a << (x & 31)) & _M32
        elif kind == RSH_X:
            a >>= x & 31
        elif kind == NEG:
            a = -a & _M32
        elif kind == LDX_IMM:
            x = k
        elif kind == LDX_MEM:
            x = mem[k]
        elif kind == STX:
            mem[k] = x
        elif kind == TAX:
            x = a
        else:  # TXA
            a = x
        if record is not None:
            record(pc, a, x, mem, nxt, None)
        pc = nxt


def _words_of(data) -> tuple[int, ...]:
    if isinstance(data, SeccompData):
        return data.words()
    raise TypeError(f"data must be a SeccompData, not {type(data).__name__}")


def run(prog: Sequence[Instruction], data: SeccompData) -> int:
    """The 32-bit value one program returns for ``data``; ``VerifyError`` if the kernel would not
    load it."""
    return _execute(decoded(prog), _words_of(data), None)


@dataclass(frozen=True, slots=True)
class Step:
    """The machine right after executing ``insn`` at ``pc``; ``next_pc`` is ``None`` after a return."""

    pc: int
    insn: Instruction
    a: int
    x: int
    mem: tuple[int | None, ...]
    next_pc: int | None = None
    ret: int | None = None

    def __repr__(self) -> str:
        cells = " ".join(f"M[{i}]={v:#x}" for i, v in enumerate(self.mem) if v is not None)
        after = f"ret {self.ret:#010x}" if self.ret is not None else f"next {self.next_pc}"
        return f"Step(pc={self.pc} [{self.insn}] A={self.a:#x} X={self.x:#x}{' ' + cells if cells else ''} {after})"


class Trace(Sequence[Step]):
    """Every step of one run, the value returned, and what the run touched."""

    def __init__(self, prog: Program, data: SeccompData, steps: Sequence[Step], ret: int):
        self.program = prog
        self.data = data
        self.steps = tuple(steps)
        self.ret = ret

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index):
        return self.steps[index]

    @property
    def covered(self) -> list[int]:
        return sorted({s.pc for s in self.steps})

    @property
    def words_read(self) -> list[int]:
        """Byte offsets of the seccomp_data words the run loaded."""
        return sorted({s.insn.k for s in self.steps if s.insn.code == op.BPF_LD | op.BPF_W | op.BPF_ABS})

    def summary(self) -> str:
        arch = abi.arch_info(self.data.arch)
        fields = ", ".join(abi.field_name(k, arch.byteorder) for k in self.words_read) or "nothing"
        return (f"returned {abi.describe_return(self.ret)} ({self.ret:#010x}) after {len(self.steps)} "
                f"steps, covered {len(self.covered)}/{len(self.program)} instructions "
                f"({_ranges(self.covered)}), read seccomp_data {fields}")

    def __str__(self) -> str:
        extra = {}
        previous_mem: tuple = (None,) * op.BPF_MEMWORDS
        for step in self.steps:
            cells = " ".join(f"M[{i}]={v:#x}" for i, (v, old) in enumerate(zip(step.mem, previous_mem))
                             if v != old)
            previous_mem = step.mem
            extra[step.pc] = f"| A={step.a:#x} X={step.x:#x}" + (f" {cells}" if cells else "")
        marks = {s.pc: "-->" for s in self.steps}
        arch = abi.arch_name(self.data.arch)
        listing = format_listing(self.program, arch=arch, marks=marks, extra=extra)
        return f"{listing}\n{self.summary()}"

    def __repr__(self) -> str:
        return f"<Trace {self.data!r}: {self.summary()}>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def _ranges(pcs: list[int]) -> str:
    spans, start = [], None
    for i, pc in enumerate(pcs):
        if start is None:
            start = pc
        if i + 1 == len(pcs) or pcs[i + 1] != pc + 1:
            spans.append(str(start) if start == pc else f"{start}-{pc}")
            start = None
    return ", ".join(spans)


def trace(prog: Sequence[Instruction], data: SeccompData) -> Trace:
    """Run ``prog`` on ``data`` and keep every step (registers after each instruction)."""
    prog = Program.of(prog)
    code = decoded(prog)
    steps: list[Step] = []
    written: set[int] = set()
    insns = prog.instructions

    def record(pc, a, x, mem, nxt, ret):
        if insns[pc].code in (op.BPF_ST, op.BPF_STX):
            written.add(insns[pc].k)
        shown = tuple(v if i in written else None for i, v in enumerate(mem))
        steps.append(Step(pc, insns[pc], a, x, shown, nxt, ret))

    ret = _execute(code, _words_of(data), record)
    return Trace(prog, data, steps, ret)
