"""Which architectures a filter stack lets calls through for, read from its code.

A filter sees the caller's AUDIT_ARCH_* value in ``seccomp_data.arch`` (kernel/seccomp.c:
populate_seccomp_data). For each arch value the stack compares that word with, and for one value it
never names, every path of every filter is followed with the arch fixed and the other words
unknown: the arch passes a filter when some path returns an action that lets the call run or hands
it to a tracer or supervisor. The stack passes an arch that every filter passes.

x32 calls arrive as AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT (bit 30) set in the number
(arch/x86/entry/syscall_64.c: do_syscall_x32); where x86_64 passes, the x86_64 paths are followed
again with the number one of x32's, and x32 passes unless every such path refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import abi
from . import semantics as sem
from .seccomp import Action
from .syscalls import syscall_table
from .verifier import VerifiedProgram, verified

# The actions after which the call may still run (kernel/seccomp.c:__seccomp_filter).
_PASSING = frozenset({Action.ALLOW, Action.LOG, Action.TRACE, Action.USER_NOTIF})
_ARCH_WORD = abi.OFFSET_ARCH // 4
_NR_WORD = abi.OFFSET_NR // 4
_UNNAMED = 0  # no AUDIT_ARCH_* value is 0: it stands for every arch the filters never name
_MOVES = frozenset({sem.LD_MEM, sem.LDX_MEM, sem.ST, sem.STX, sem.TAX, sem.TXA})


@dataclass(frozen=True, slots=True)
class ArchesChecked:
    """``passed``: the named arches (bpfsim's names) whose calls may pass every filter, in the order
    the filters name them, x32 after x86_64; ``others_pass``: calls of an arch no filter names may
    pass too."""

    passed: tuple[str, ...]
    others_pass: bool

    @property
    def checked(self) -> bool:
        """Does the stack tell arches apart at all?"""
        return bool(self.passed) or not self.others_pass


def arches_checked(filters: Sequence) -> ArchesChecked:
    """The arches whose calls may pass ``filters`` (programs the kernel would load, any order)."""
    programs = [verified(f) for f in filters]
    named: list[int] = []
    for prog in programs:
        for value in _walk(prog, None):
            if value not in named and abi.arch_name(value):
                named.append(value)
    passed = []
    for value in named:
        if all(_passes(p, value) for p in programs):
            passed.append(abi.arch_info(value).name)
            if value == _X86_64 and all(_passes(p, value, _x32_numbers()) for p in programs):
                passed.append("x32")
    return ArchesChecked(tuple(passed), all(_passes(p, _UNNAMED) for p in programs))


_X86_64 = abi.arch_info("x86_64").value


def _x32_numbers() -> frozenset[int]:
    """x32's syscall numbers, each with __X32_SYSCALL_BIT (arch/x86/entry/syscalls/syscall_64.tbl)."""
    return frozenset(syscall_table("x32"))


def _passes(prog: VerifiedProgram, arch: int, numbers: frozenset[int] | None = None) -> bool:
    return any(True for _ in _walk(prog, arch, numbers))


def _walk(prog: VerifiedProgram, arch: int | None, numbers: frozenset[int] | None = None):
    """With ``arch`` None: yield each constant compared with the arch word. Else yield once per
    distinct path end that lets a call of ``arch`` pass, its number one of ``numbers`` (None: any).
    Each path follows ``semantics.step`` where the registers it reads are known; a register or
    cell holds a known value (an int), ``"arch"`` (the arch word, with ``arch`` None), a frozenset
    (one of those values: a number, narrowed by each test of it, a chain of ``jeq`` at once by
    its table, ``VerifiedProgram.jeq_chains``) or ``None`` (anything)."""
    code, chains = prog.code, prog.jeq_chains
    seen: set = set()
    pending: list = [(0, None, None, (None,) * 16)]
    word = "arch" if arch is None else arch
    while pending:
        state = pending.pop()
        if state in seen:
            continue
        seen.add(state)
        pc, a, x, mem = state
        kind, k, t, f = code[pc]
        row = sem.ROWS[kind]
        known = all(type(v) is int for v in ((a,) if "a" in row.reads else ()) + ((x,) if "x" in row.reads else ()))
        nxt: tuple[int, ...] = (pc + 1,)
        if row.is_return:
            value = sem.step(kind, k, a, x, [], ())[2]  # the row's result: k, or A (maybe unknown)
            if arch is not None and (type(value) is not int or Action.of(value) in _PASSING):
                yield pc
            continue
        if kind == sem.LD_ABS:
            a = word if k == _ARCH_WORD else numbers if k == _NR_WORD else None
        elif kind in _MOVES:
            cells = list(mem)
            a, x, _ = sem.step(kind, k, a, x, cells, ())
            mem = tuple(cells)
        elif row.jump:
            nxt = (t,)
        elif row.is_conditional:
            operand = x if row.operand == "x" else k
            if arch is None and "arch" in (a, operand) and int in (type(a), type(operand)):
                yield a if type(a) is int else operand
            if type(a) is frozenset and kind == sem.JEQ_K and pc in chains:
                table, end = chains[pc]
                ways: dict = {}
                for v in a:
                    ways.setdefault(table.get(v, end), set()).add(v)
                pending += [(target, frozenset(values), x, mem) for target, values in ways.items()]
                continue
            if type(a) is frozenset and type(operand) is int:
                taken = frozenset(v for v in a if sem.step(kind, k, v, x, [], ())[2])
                pending += [(target, values, x, mem) for target, values in ((t, taken), (f, a - taken)) if values]
                continue
            nxt = ((t,) if sem.step(kind, k, a, x, [], ())[2] else (f,)) if known else (t, f)
        elif known:  # arithmetic on known values (an X of 0 in a division returns 0: never passes)
            a, x, exited = sem.step(kind, k, a, x, [], ())
            if exited is not None:
                continue
        elif type(a) is frozenset and (row.operand != "x" or type(x) is int):
            steps = [sem.step(kind, k, v, x, [], ()) for v in a]
            a = frozenset(result for result, _, exited in steps if exited is None)
            if not a:
                continue
        else:
            a = None
        for target in nxt:
            pending.append((target, a, x, mem))
