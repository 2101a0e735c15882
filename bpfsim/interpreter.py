"""Run one seccomp program: the reference interpreter, and step-by-step traces of it.

It executes a program as the kernel runs it after ``seccomp_check_filter`` (kernel/seccomp.c)
rewrote it: ``ld [k]`` is a native-endian 32-bit load from struct seccomp_data, ``ld #len``
loads the constant 64. Semantics are those of ``bpf_convert_filter`` (net/core/filter.c) and the
x86-64 JIT that runs the result: A and X are 32-bit unsigned and start at 0, arithmetic wraps,
division by an X of 0 makes the filter return 0, shifts by X use X & 31. Those rules are rows of
``semantics.ROWS``; both loops (``run``'s plain one and ``trace``'s recording one) are generated
from that table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from . import abi
from . import opcodes as op
from .data import SeccompData
from .insn import Instruction
from .formatter import format_listing
from .program import Program
from .semantics import run_decoded, trace_decoded
from .verifier import VerifiedProgram, verified


def _words_of(data) -> tuple[int, ...]:
    if isinstance(data, SeccompData):
        return data.words()
    raise TypeError(f"data must be a SeccompData, not {type(data).__name__}")


def run(prog: Sequence[Instruction] | VerifiedProgram, data: SeccompData) -> int:
    """The 32-bit value one program returns for ``data``; ``VerifyError`` if the kernel would not
    load it."""
    return run_decoded(verified(prog).code, _words_of(data))


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

    def changed_cells(self, before: "Step | None") -> str:
        """``M[2]=0x14`` for each scratch cell this step changed (``before``: the previous step,
        ``None`` for the first)."""
        old = before.mem if before else (None,) * op.BPF_MEMWORDS
        return " ".join(f"M[{i}]={v:#x}" for i, (v, was) in enumerate(zip(self.mem, old)) if v != was)

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

    @overload
    def __getitem__(self, index: int) -> Step: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Step]: ...

    def __getitem__(self, index: int | slice) -> Step | Sequence[Step]:
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
        for step, before in zip(self.steps, [None, *self.steps]):
            cells = step.changed_cells(before)
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


def trace(prog: Sequence[Instruction] | VerifiedProgram, data: SeccompData) -> Trace:
    """Run ``prog`` on ``data`` and keep every step (registers after each instruction)."""
    checked = verified(prog)
    prog = Program.of(checked.program)
    steps: list[Step] = []
    written: set[int] = set()
    insns = prog.instructions

    def record(pc, a, x, mem, nxt, ret):
        if insns[pc].code in (op.BPF_ST, op.BPF_STX):
            written.add(insns[pc].k)
        shown = tuple(v if i in written else None for i, v in enumerate(mem))
        steps.append(Step(pc, insns[pc], a, x, shown, nxt, ret))

    ret = trace_decoded(checked.code, _words_of(data), record)
    return Trace(prog, data, steps, ret)
