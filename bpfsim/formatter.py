"""Instruction text for people: the numbered listing and the comment column every dialect shares.

The comment column says what the code means where the instruction text cannot: the seccomp_data
field a load reads, the syscall or AUDIT_ARCH constant a comparison names, the action a return
takes, absolute jump targets. Names follow what every path to an instruction agrees on
(``path_facts``): the field A holds, and the architecture the path has checked, so that the i386
half of a multi-arch filter names i386 syscalls and a raw filter that checks its arch gets names
without being told the arch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import abi
from . import opcodes as op
from .errors import BpfsimError
from .insn import Instruction
from .semantics import successors, writes_a
from .target import Target, byteorder_of

_JEQ_K = op.BPF_JMP | op.BPF_JEQ | op.BPF_K


@dataclass(frozen=True, slots=True)
class PathFacts:
    """What every path from the first instruction to a pc agrees on: the seccomp_data offset A
    was loaded from (``None``: unknown or computed), and the AUDIT_ARCH value the path compared
    the arch field equal to (``None``: not checked, or the paths disagree)."""

    a_field: int | None = None
    arch: int | None = None


_NOTHING_KNOWN = PathFacts()


def _meet(old: PathFacts | None, new: PathFacts) -> PathFacts:
    if old is None or old == new:
        return new
    return PathFacts(old.a_field if old.a_field == new.a_field else None, old.arch if old.arch == new.arch else None)


def path_facts(prog: Sequence[Instruction]) -> list[PathFacts]:
    """For each pc, what every path to it agrees on (a forward flow: cBPF jumps only forward).
    Dead code knows nothing."""
    n = len(prog)
    state: list[PathFacts | None] = [None] * n
    if n:
        state[0] = _NOTHING_KNOWN
    for pc, insn in enumerate(prog):
        here = state[pc] or _NOTHING_KNOWN
        if insn.code == op.BPF_LD | op.BPF_W | op.BPF_ABS:
            after = PathFacts(insn.k, here.arch)
        elif writes_a(insn.code):
            after = PathFacts(None, here.arch)
        else:
            after = here
        targets = successors(pc, insn)
        for index, target in enumerate(targets):
            if target >= n:
                continue
            facts = after
            if insn.code == _JEQ_K and here.a_field == abi.OFFSET_ARCH and index == 0 and insn.jt != insn.jf:
                facts = PathFacts(after.a_field, insn.k)  # the true branch: arch == k on this path
            state[target] = _meet(state[target], facts)
    return [s or _NOTHING_KNOWN for s in state]


def syscall_arch(facts: PathFacts, arch: str | None) -> str | None:
    """The arch whose table names a syscall number at a pc: the one the path checked, else the
    program's ``arch``. x32 shares x86_64's AUDIT_ARCH value, so a given x32 stays x32."""
    if facts.arch is None:
        return arch
    target = Target.lenient(arch)
    if target is not None and target.audit_arch == facts.arch:
        return arch
    return abi.arch_name(facts.arch)


def constant_meaning(k: int, facts: PathFacts, arch: str | None) -> str:
    """``AUDIT_ARCH_I386`` or ``clone`` for a constant compared with the arch or the nr, else ``""``."""
    if facts.a_field == abi.OFFSET_ARCH:
        name = abi.arch_name(k)
        return f"AUDIT_ARCH_{name.upper()}" if name else ""
    named_by = syscall_arch(facts, arch)
    if facts.a_field == abi.OFFSET_NR and named_by:
        from .syscalls import describe_nr
        try:
            return describe_nr(k, named_by) or ""
        except BpfsimError:  # an arch without a syscall table
            return ""
    return ""


def names_constant(row: op.Opcode | None, a_field: int | None) -> bool:
    """Whether the constant of a BPF_K jump on the field A holds may be named: any comparison
    with the arch names an AUDIT_ARCH value, but only equality with the nr names a syscall (a
    range bound such as the x32 bit is no syscall)."""
    return (row is not None and row.form == op.COND_K
            and (a_field == abi.OFFSET_ARCH or (a_field == abi.OFFSET_NR and row.op == op.BPF_JEQ)))


def compared_meaning(insn: Instruction, facts: PathFacts, arch: str | None) -> str:
    """The name of the constant a BPF_K jump compares A with (``names_constant``), else ``""``."""
    return constant_meaning(insn.k, facts, arch) if names_constant(insn.opcode, facts.a_field) else ""


def _comment(pc: int, insn: Instruction, facts: PathFacts, arch: str | None, byteorder: str, n: int,
             jumps: bool = True) -> str:
    row = insn.opcode
    if row is None:
        return "undefined opcode"
    parts: list[str] = []
    if row.code == op.BPF_LD | op.BPF_W | op.BPF_ABS:
        field = abi.field_name(insn.k, byteorder)
        parts.append(f"A = {field}" if field else "outside seccomp_data")
    elif row.form == op.COND_K:
        parts.append(compared_meaning(insn, facts, arch))
    elif row.is_return and row.form == op.IMM:
        parts.append(abi.describe_return(insn.k))
    if row.is_jump and jumps:
        targets = insn.jump_targets(pc)
        shown = [str(t) if t < n else f"{t} (past the end)" for t in targets]
        if row.form == op.JUMP:
            parts.append(f"goto {shown[0]}")
        else:
            parts.append(f"true: {shown[0]}, false: {shown[1]}")
    return "; ".join(p for p in parts if p)


def annotate(prog: Sequence[Instruction], *, arch: str | None = None, jumps: bool = True) -> list[str]:
    """The comment column of each instruction (the listing's and the disassemblers')."""
    order = byteorder_of(Target.lenient(arch))
    facts = path_facts(prog)
    return [_comment(pc, insn, facts[pc], arch, order, len(prog), jumps) for pc, insn in enumerate(prog)]


def format_listing(prog: Sequence[Instruction], *, raw: bool = False, arch: str | None = None,
                   marks: dict[int, str] | None = None, extra: dict[int, str] | None = None) -> str:
    """Render a listing. ``marks`` puts a marker (``-->``) before chosen pcs; ``extra`` adds text
    after the comment of chosen pcs (a trace uses both)."""
    comments = annotate(prog, arch=arch)
    # Where a jump lands, not where it falls through: a jump's offset 0 is the next line anyway.
    targets = {t for pc, insn in enumerate(prog) for t in insn.jump_targets(pc) if t != pc + 1}
    width = max(3, len(str(max(len(prog) - 1, 0))))
    texts = [str(insn) for insn in prog]
    text_width = max((len(t) for t in texts), default=0)
    lines = []
    for pc, insn in enumerate(prog):
        marker = (marks or {}).get(pc, "")
        jump_in = ">>" if pc in targets else "  "
        head = f"{jump_in} {pc:>{width}}"
        cells = [head if marks is None else f"{marker:>3} {head}"]
        if raw:
            cells.append(f"{insn.code:04x} {insn.jt:3d} {insn.jf:3d} {insn.k:08x}")
        cells.append(texts[pc].ljust(text_width))
        comment = comments[pc]
        more = (extra or {}).get(pc)
        tail = "  ".join(t for t in (f"; {comment}" if comment else "", more or "") if t)
        lines.append("  ".join(cells) + ("  " + tail if tail else ""))
    return "\n".join(line.rstrip() for line in lines)
