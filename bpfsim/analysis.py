"""Questions about filters answered for every input at once: the policy table of a filter stack.

For each syscall number of an architecture the stack's verdict is computed as ``evaluate`` does
(kernel/seccomp.c:seccomp_run_filters) for zero arguments, and every filter is explored
symbolically with nr and arch fixed and the instruction pointer and argument words unknown, so
the table can say whether the verdict can change with them, and which verdicts are possible.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from . import abi
from . import semantics as vm
from .data import SeccompData
from .profiles import Kernel
from .program import Program
from .seccomp import Action, evaluate, precedence
from .syscalls import syscall_table
from .verifier import verified

_M32 = 0xFFFFFFFF
_KNOWN_WORDS = 2  # nr and arch; the instruction pointer and the arguments are unknown
EXPLORATION_BUDGET = 50_000  # instructions explored per syscall, over the whole stack, before giving up
_MAX_STATES = 256  # joint paths carried from one filter to the next before their facts are dropped
_WITNESS_TRIES = 64

# A value is an int (known) or a term: ("w", index) for an unknown word, or (kind, term, operand).
# A domain bounds what a term may be on one path: (lo, hi, bits set, bits clear, values excluded,
# masks of which some bit is set).
_FULL = (0, _M32, 0, 0, frozenset(), frozenset())
_EQ, _NE, _GT, _LE, _GE, _LT, _SET, _CLEAR = range(8)
_BRANCHES = {  # a K jump on a term A: (relation when taken, relation when not)
    vm.JEQ_K: (_EQ, _NE), vm.JGT_K: (_GT, _LE), vm.JGE_K: (_GE, _LT), vm.JSET_K: (_SET, _CLEAR),
}
_MIRRORED = {  # an X jump with A known and X a term: the relation seen from X
    vm.JEQ_X: (_EQ, _NE), vm.JGT_X: (_LT, _GE), vm.JGE_X: (_LE, _GT), vm.JSET_X: (_SET, _CLEAR),
}
_X_JUMPS = {vm.JEQ_X: vm.JEQ_K, vm.JGT_X: vm.JGT_K, vm.JGE_X: vm.JGE_K, vm.JSET_X: vm.JSET_K}
_ALU = {
    vm.ADD_K: lambda a, b: (a + b) & _M32, vm.SUB_K: lambda a, b: (a - b) & _M32,
    vm.MUL_K: lambda a, b: (a * b) & _M32, vm.DIV_K: lambda a, b: a // b, vm.AND_K: lambda a, b: a & b,
    vm.OR_K: lambda a, b: a | b, vm.XOR_K: lambda a, b: a ^ b, vm.LSH_K: lambda a, b: (a << b) & _M32,
    vm.RSH_K: lambda a, b: a >> b,
}
_ALU.update({
    vm.ADD_X: _ALU[vm.ADD_K], vm.SUB_X: _ALU[vm.SUB_K], vm.MUL_X: _ALU[vm.MUL_K], vm.AND_X: _ALU[vm.AND_K],
    vm.OR_X: _ALU[vm.OR_K], vm.XOR_X: _ALU[vm.XOR_K], vm.LSH_X: lambda a, b: (a << (b & 31)) & _M32,
    vm.RSH_X: lambda a, b: a >> (b & 31),
})
_COMPARE = {vm.JEQ_K: lambda a, b: a == b, vm.JGT_K: lambda a, b: a > b, vm.JGE_K: lambda a, b: a >= b,
            vm.JSET_K: lambda a, b: bool(a & b)}
_JUMPS = frozenset(_BRANCHES) | frozenset(_X_JUMPS)
_JEQ_K, _LD_ABS = vm.JEQ_K, vm.LD_ABS
_ALU_X = frozenset({vm.ADD_X, vm.SUB_X, vm.MUL_X, vm.AND_X, vm.OR_X, vm.XOR_X, vm.LSH_X, vm.RSH_X})
_ZEROING = {vm.AND_K, vm.MUL_K, vm.AND_X, vm.MUL_X}  # an unknown times or and 0 is 0


_NONE = frozenset()
_RANGES = {  # what a computed value can be, from the operation and its constant operand k
    vm.AND_K: lambda k: (0, k, 0, ~k & _M32, _NONE, _NONE),
    vm.OR_K: lambda k: (k, _M32, k, 0, _NONE, _NONE),
    vm.RSH_K: lambda k: (0, _M32 >> (k & 31), 0, ~(_M32 >> (k & 31)) & _M32, _NONE, _NONE),
    vm.LSH_K: lambda k: (0, (_M32 << (k & 31)) & _M32, 0, (1 << (k & 31)) - 1, _NONE, _NONE),
    vm.DIV_K: lambda k: (0, _M32 // k, 0, 0, _NONE, _NONE),
}
_RANGES.update({vm.AND_X: _RANGES[vm.AND_K], vm.OR_X: _RANGES[vm.OR_K], vm.RSH_X: _RANGES[vm.RSH_K],
                vm.LSH_X: _RANGES[vm.LSH_K]})


def _domain(facts: dict, term):
    """What the path knows about ``term``: its facts, else the range of its operation."""
    dom = facts.get(term)
    if dom is not None:
        return dom
    if term[0] in _RANGES and type(term[2]) is int and term[2]:
        return _RANGES[term[0]](term[2])
    return _FULL


def _satisfies(v: int, dom) -> bool:
    lo, hi, ones, zeros, excluded, some = dom
    return (lo <= v <= hi and v & ones == ones and not v & zeros and v not in excluded
            and all(v & m for m in some))


def _feasible(dom) -> bool:
    """False only when no 32-bit value fits ``dom`` (sound, not complete, for large ranges)."""
    lo, hi, ones, zeros, excluded, some = dom
    lo, hi = max(lo, ones), min(hi, ~zeros & _M32)
    if lo > hi or ones & zeros or any(not m & ~zeros for m in some):
        return False
    if hi - lo <= 64 + len(excluded):
        return any(_satisfies(v, dom) for v in range(lo, hi + 1))
    return True


def _constrain(dom, relation: int, c: int):
    lo, hi, ones, zeros, excluded, some = dom
    if relation == _EQ:
        lo, hi = max(lo, c), min(hi, c)
    elif relation == _NE:
        excluded = excluded | {c}
    elif relation == _GT:
        lo = max(lo, c + 1)
    elif relation == _LE:
        hi = min(hi, c)
    elif relation == _GE:
        lo = max(lo, c)
    elif relation == _LT:
        hi = min(hi, c - 1)
    elif relation == _SET:
        if c and not c & (c - 1):
            ones |= c
        else:
            some = some | {c}
    else:
        zeros |= c
    return lo, hi, ones, zeros, excluded, some


def _decide(kind: int, a, x, k: int):
    """A jump's outcome: True/False when the path decides it, else [(taken, term, relation, c)]."""
    if kind in _BRANCHES:
        if type(a) is int:
            return _COMPARE[kind](a, k)
        yes, no = _BRANCHES[kind]
        return [(True, a, yes, k), (False, a, no, k)]
    if type(a) is int and type(x) is int:
        return _COMPARE[_X_JUMPS[kind]](a, x)
    if type(a) is int:
        yes, no = _MIRRORED[kind]
        return [(True, x, yes, a), (False, x, no, a)]
    if type(x) is int:
        yes, no = _BRANCHES[_X_JUMPS[kind]]
        return [(True, a, yes, x), (False, a, no, x)]
    if a == x and kind != vm.JSET_X:
        return kind != vm.JGT_X
    return [(True, None, None, None), (False, None, None, None)]


class _Unbounded(Exception):
    """The exploration of a stack for one syscall went over its budget."""


ANY = None  # in a set of possible return values: some value computed from unknown words


def possible_returns(prog: Program, words: Sequence[int], budget: int = EXPLORATION_BUDGET) -> set:
    """Every value ``prog`` may return when the first two seccomp_data words (nr, arch) are
    ``words[:2]`` and the others are anything; ``ANY`` stands for a value computed from them.

    Every path is explored with the facts its jumps establish about unknown values; a branch
    is pruned only when those facts rule it out, so the set may hold values no input reaches
    (where facts about different terms interact) but never misses one.
    """
    return {value for value, _ in _explore(prog, words, {}, budget)[0]}


def _explore(prog: Program, words: Sequence[int], facts: dict, budget: int) -> tuple[list, int]:
    """The (value, facts) of every path of ``prog`` that ``facts`` allow, and the steps taken."""
    checked = verified(prog)
    code, chains = checked.code, checked.jeq_chains
    known = tuple(words[:_KNOWN_WORDS])
    found: dict = {}

    def leaf(value, facts) -> None:
        found.setdefault((value, frozenset(facts.items())), (value, facts))

    steps = 0
    stack = [(0, 0, 0, (0,) * 16, facts)]
    while stack:
        pc, a, x, mem, facts = stack.pop()
        while True:
            steps += 1
            if steps > budget:
                raise _Unbounded
            kind, k, t, f = code[pc]
            if kind == _JEQ_K and type(a) is int:
                if pc in chains:
                    table, end = chains[pc]
                    pc = table.get(a, end)
                else:
                    pc = t if a == k else f
                continue
            pc += 1
            if kind == _LD_ABS:
                a = known[k] if k < _KNOWN_WORDS else ("w", k)
            elif kind in _JUMPS:
                outcome = _decide(kind, a, x, k)
                if outcome is True or outcome is False:
                    pc = t if outcome else f
                    continue
                branches = []
                for taken, term, relation, c in outcome:
                    if term is None:
                        branches.append((taken, facts))
                        continue
                    dom = _constrain(_domain(facts, term), relation, c)
                    if _feasible(dom):
                        branches.append((taken, {**facts, term: dom}))
                if not branches:
                    break
                for taken, known_facts in branches[1:]:
                    stack.append((t if taken else f, a, x, mem, known_facts))
                taken, facts = branches[0]
                pc = t if taken else f
            elif kind == vm.RET_K:
                leaf(k, facts)
                break
            elif kind == vm.RET_A:
                leaf(_resolve(a, facts), facts)
                break
            elif kind == vm.JA:
                pc = t
            elif kind == vm.LD_IMM:
                a = k
            elif kind == vm.LDX_IMM:
                x = k
            elif kind == vm.LD_MEM:
                a = mem[k]
            elif kind == vm.LDX_MEM:
                x = mem[k]
            elif kind == vm.ST:
                mem = mem[:k] + (a,) + mem[k + 1:]
            elif kind == vm.STX:
                mem = mem[:k] + (x,) + mem[k + 1:]
            elif kind == vm.TAX:
                x = a
            elif kind == vm.TXA:
                a = x
            elif kind == vm.NEG:
                a = -a & _M32 if type(a) is int else (kind, a, 0)
            elif kind == vm.DIV_X:
                if type(x) is int:
                    if x == 0:
                        leaf(0, facts)  # net/core/filter.c:bpf_convert_filter: "return 0"
                        break
                    a = a // x if type(a) is int else (kind, a, x)
                else:
                    zero = _constrain(_domain(facts, x), _EQ, 0)
                    if _feasible(zero):
                        leaf(0, {**facts, x: zero})
                    facts = {**facts, x: _constrain(_domain(facts, x), _NE, 0)}
                    if not _feasible(facts[x]):
                        break
                    a = (kind, a, x)
            else:
                operand = x if kind in _ALU_X else k
                if type(a) is int and type(operand) is int:
                    a = _ALU[kind](a, operand)
                elif kind in _ZEROING and operand == 0:
                    a = 0
                else:
                    a = (kind, a, operand)
    return list(found.values()), steps


def _resolve(value, facts):
    """A term the facts pin to one value is that value; any other term is ``ANY``."""
    if type(value) is int:
        return value
    lo, hi, *_ = dom = _domain(facts, value)
    return lo if lo == hi and _satisfies(lo, dom) else ANY


def _pick(dom) -> int | None:
    """A value that fits ``dom``, looked for near its bounds and required bits."""
    lo, hi, ones, zeros, excluded, some = dom
    start = max(lo, ones) | ones
    allowed = ~zeros & _M32
    candidates = [lo, hi, start, start & allowed, ones | allowed & -allowed, ones | allowed]
    candidates += [start | (m & ~zeros & -(m & ~zeros)) for m in some]
    for base in candidates:
        for v in range(base, min(base + len(excluded) + 2, _M32 + 1)):
            if _satisfies(v, dom):
                return v
    return None


_INVERSES = {  # kind: (extra (bits set, bits clear) the result must have, the operand from the
    # result, the operand's previous value and k)
    vm.AND_K: (lambda k: (0, ~k & _M32), lambda v, old, k: v | (old & ~k & _M32)),
    vm.OR_K: (lambda k: (k, 0), lambda v, old, k: v),
    vm.XOR_K: (lambda k: (0, 0), lambda v, old, k: v ^ k),
    vm.ADD_K: (lambda k: (0, 0), lambda v, old, k: (v - k) & _M32),
    vm.SUB_K: (lambda k: (0, 0), lambda v, old, k: (v + k) & _M32),
    vm.LSH_K: (lambda k: (0, (1 << k) - 1), lambda v, old, k: v >> k | (old & ~(_M32 >> k) & _M32)),
    vm.RSH_K: (lambda k: (0, ~(_M32 >> k) & _M32), lambda v, old, k: v << k | (old & ((1 << k) - 1))),
}


def _value_of(term, words: dict) -> int | None:
    """The value of ``term`` under the words chosen so far, or ``None``."""
    if term[0] == "w":
        return words.get(term[1])
    kind, inner, k = term
    if kind not in _INVERSES or type(k) is not int or type(inner) is not tuple:
        return None
    value = _value_of(inner, words)
    return None if value is None else _ALU[kind](value, k)


def _solve(term, dom, words: dict) -> bool:
    """Choose unknown words so that ``term`` fits ``dom``, keeping words already chosen if they fit."""
    current = _value_of(term, words)
    if current is not None and _satisfies(current, dom):
        return True
    if term[0] == "w":
        value = _pick(dom)
        if value is not None:
            words[term[1]] = value
        return value is not None
    kind, inner, k = term
    if kind not in _INVERSES or type(k) is not int or type(inner) is not tuple:
        return False
    extra, inverse = _INVERSES[kind]
    ones, zeros = extra(k)
    lo, hi, set_bits, clear_bits, excluded, some = dom
    value = _pick((lo, hi, set_bits | ones, clear_bits | zeros, excluded, some))
    if value is None:
        return False
    operand = inverse(value, _value_of(inner, words) or 0, k)
    return _solve(inner, (operand, operand, 0, 0, frozenset(), frozenset()), words)


def _input_for(facts: dict, data: SeccompData, fill: int) -> SeccompData:
    """``data`` with its unknown words set to ``fill``, then chosen to fit the path's facts where
    they can be solved one at a time; the input is evaluated, so a wrong guess costs nothing."""
    words: dict[int, int] = {}
    for term, dom in sorted(facts.items(), key=lambda item: item[0][0] == "w"):
        _solve(term, dom, words)
    values = list(data.words()[:_KNOWN_WORDS]) + [fill] * (len(data.words()) - _KNOWN_WORDS)
    for index, value in words.items():
        values[index] = value
    order = "<" if data.byteorder == "little" else ">"
    return SeccompData.from_bytes(struct.pack(order + "16I", *values), byteorder=data.byteorder)


def _witnesses(programs: Sequence[Program], data: SeccompData, ret: int, outcomes: list, kernel: Kernel) -> tuple:
    """Inputs for ``data``'s nr with distinct verdicts, by evaluation: the zero-args input first.
    Each joint path is tried with its other unknown words 0, all ones, then 1."""
    found = {_key(ret, kernel): data}
    tries = [(facts, fill) for fill in (0, _M32, 1) for _, facts in outcomes][:_WITNESS_TRIES]
    for facts, fill in tries:
        candidate = _input_for(facts, data, fill)
        if candidate != data:
            found.setdefault(_key(evaluate(programs, candidate, kernel=kernel).ret, kernel), candidate)
    return tuple(found.values())


def _choose(current, value) -> tuple:
    """kernel/seccomp.c:seccomp_run_filters, one filter further: ``value`` replaces the value
    chosen so far only when its action is strictly more severe (``ANY`` may be anything)."""
    if value is ANY:
        return (current, ANY) if current is ANY or precedence(current) > -(1 << 31) else (current,)
    if current is ANY:
        return (ANY, value)
    return (value if precedence(value) < precedence(current) else current,)


def _stack_outcomes(programs: Sequence[Program], words: Sequence[int], budget: int) -> list:
    """(value chosen, facts) of every joint path through the filters, newest first, each filter
    explored under the facts the newer ones established on that path."""
    states = [(abi.SECCOMP_RET_ALLOW, {})]
    for prog in reversed(programs):
        following: dict = {}
        for current, facts in states:
            leaves, steps = _explore(prog, words, facts, budget)
            budget -= steps
            for value, leaf_facts in leaves:
                for chosen in _choose(current, value):
                    following.setdefault((chosen, frozenset(leaf_facts.items())), (chosen, leaf_facts))
        states = list(following.values())
        if len(states) > _MAX_STATES:  # forget the facts (sound) rather than multiply paths
            states = list({chosen: (chosen, {}) for chosen, _ in states}.values())
    return states


def _key(ret, kernel) -> tuple:
    return (Action.of(ret, kernel), ret & abi.SECCOMP_RET_DATA)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """The verdict of a filter stack for one syscall number, for zero arguments and ip 0.

    ``depends_on_args``: some arguments or instruction pointer may give another verdict (action
    or data), found by exploring every path: False is a proof that none does; True may
    over-approximate where facts about different computed values interact. ``possible`` is
    every return value the stack may choose for this nr; ``unbounded`` says some are computed
    from the arguments (``RET A``) or the exploration gave up, so ``possible`` is not all of them.
    ``witnesses``: inputs with pairwise different verdicts, each checked by ``evaluate``, the
    zero-args input first; two or more confirm the dependence.
    """

    nr: int
    name: str | None
    action: Action
    data: int
    errno: int | None
    depends_on_args: bool
    ret: int
    filter: int | None
    possible: tuple[int, ...] = ()
    unbounded: bool = False
    witnesses: tuple[SeccompData, ...] = ()

    def as_dict(self) -> dict:
        """The object ``bpfsim table --json`` prints (CONTRACT.md)."""
        return {"nr": self.nr, "name": self.name, "action": self.action.name, "data": self.data,
                "errno": self.errno, "depends_on_args": self.depends_on_args}


def policy_row(programs: Sequence[Program], nr: int, arch="x86_64", name: str | None = None, *,
               kernel: Kernel | str | None = None, budget: int = EXPLORATION_BUDGET) -> PolicyRow:
    """One row of the policy table: the verdict for ``nr`` on ``kernel`` and whether arguments can change it."""
    kernel = Kernel.of(kernel)
    data = SeccompData(nr, arch)
    verdict = evaluate(programs, data, kernel=kernel)
    possible: set = {verdict.ret}
    outcomes: list = []
    if verdict.filter is not None or verdict.returns:  # else a call that bypasses the filters
        try:
            outcomes = _stack_outcomes(programs, data.words(), budget)
            possible = {chosen for chosen, _ in outcomes}
        except _Unbounded:
            possible = {verdict.ret, ANY}
    unbounded = ANY in possible
    depends = unbounded or len({_key(r, kernel) for r in possible if r is not ANY}) > 1
    return PolicyRow(nr, name, verdict.action, verdict.data, verdict.errno, depends, verdict.ret, verdict.filter,
                     tuple(sorted(r for r in possible if r is not ANY)), unbounded,
                     _witnesses(programs, data, verdict.ret, outcomes, kernel) if depends else (data,))


def policy_table(filters: Sequence, arch="x86_64", *, kernel: Kernel | str | None = None,
                 budget: int = EXPLORATION_BUDGET) -> list[PolicyRow]:
    """The verdict of ``filters`` (install order) on ``kernel`` (default: the newest bpfsim
    models) for every syscall number in ``arch``'s table.

    The arch word is fixed to that arch's AUDIT_ARCH value, so only its own numbers are listed
    (``"x32"`` lists x32's numbers, with the x32 bit, under AUDIT_ARCH_X86_64). ``budget``:
    instructions explored per number, over the whole stack, before a row is reported as unbounded.
    """
    programs = [verified(f) for f in filters]
    kernel = Kernel.of(kernel)
    return [policy_row(programs, nr, arch, name, kernel=kernel, budget=budget)
            for nr, name in syscall_table(arch).items()]
