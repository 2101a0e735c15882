"""Path exploration: what a seccomp program returns for every input at once, and when.

A classic BPF program is a DAG (net/core/filter.c:bpf_check_classic accepts forward jumps only),
so it is explored pc by pc in increasing order. The states reaching one pc are merged when the
registers still to be read (liveness from each instruction's reads and writes) agree, and the
inputs that lead there are a condition: a disjunction of conjunctions of literals on the unknown
seccomp_data words, kept small by resolution ((P and l) or (P and not l) is P) and subsumption.
A branch is pruned only where its condition is proved impossible; every condition reported
with a verdict comes with an input found for it, which the caller checks with ``evaluate``.
The work is counted, and a caller's budget ends an exploration as incomplete, never as a guess.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from functools import lru_cache

from . import abi
from . import opcodes
from . import semantics as sem
from .seccomp import precedence
from .verifier import VerifiedProgram

M32 = 0xFFFFFFFF
KNOWN_WORDS = 2  # nr and arch are fixed per question; the instruction pointer and arguments are not
DEFAULT_BUDGET = 200_000  # conjunction-steps, over a whole stack, before an exploration is incomplete


class BudgetExhausted(Exception):
    """The exploration needed more work than its budget allowed."""


def work_counter(budget: int):
    """A callable that counts units of work and raises ``BudgetExhausted`` past ``budget``."""
    left = [budget]

    def work() -> None:
        left[0] -= 1
        if left[0] < 0:
            raise BudgetExhausted
    return work


# -- terms: an int (known) or ("w", index) for an unknown word, or (op, term, operand) -------------

# The arithmetic rows of bpfsim/semantics.py by operation name; a term records the operation, and
# its value is computed by that row's step (the X form, which masks shift amounts as the kernel
# does for X and equals the K form for every constant bpf_check_classic accepts).
_ARITHMETIC = {row.name[:-2]: row for row in sem.ROWS if row.operand == "x" and not row.is_conditional}
_ARITHMETIC_OF_KIND = {row.kind: row.name[:-2] for row in sem.ROWS if row.operand and not row.is_conditional}
_RELATION_OF_KIND = {row.kind: row.condition.split()[1] for row in sem.ROWS if row.is_conditional}
# The operand as an operation uses it: a shift's amount under its row's mask (& 31).
_OPERAND_MASK = {name: row.operand_mask for name, row in _ARITHMETIC.items() if row.operand_mask is not None}
_NO_MEMORY = [0] * 16


def apply(op: str, a: int, b: int) -> int:
    """One arithmetic operation on known 32-bit values, by its row in bpfsim/semantics.py
    (``neg`` takes no operand). A division by 0 is the caller's to rule out."""
    if op == "neg":
        return sem.step(sem.NEG, 0, a, 0, _NO_MEMORY, ())[0]
    return sem.step(_ARITHMETIC[op].kind, 0, a, b, _NO_MEMORY, ())[0]


def alu(op: str, a, b):
    """``a op b`` where either may be a term: folded when known, simplified by identities
    (so ``x - x`` is 0 and ``a + 0`` is ``a``), else a new term."""
    if type(a) is int and type(b) is int:
        return apply(op, a, b)
    if a == b and op in ("sub", "xor"):
        return 0
    if a == b and op in ("and", "or"):
        return a
    if type(b) is int:
        if b == 0 and op in ("add", "sub", "or", "xor", "lsh", "rsh"):
            return a
        if (b == 0 and op in ("and", "mul")) or (b == M32 and op == "or"):
            return b
        if (b == 1 and op in ("mul", "div")) or (b == M32 and op == "and"):
            return a
        if op in ("and", "or", "add") and type(a) is tuple and a[0] == op and type(a[2]) is int:
            return alu(op, a[1], apply(op, a[2], b))  # (t & 3) & 1 is t & 1
    elif type(a) is int and op in ("add", "mul", "and", "or", "xor"):
        return alu(op, b, a)
    return (op, a, b)


def evaluate_term(term, words, fill: int = 0) -> int:
    """The value of ``term`` when the unknown words are ``words`` (index → value), others ``fill``."""
    if type(term) is int:
        return term
    if term[0] == "w":
        return words.get(term[1], fill)
    op, a, b = term
    a, b = evaluate_term(a, words, fill), evaluate_term(b, words, fill)
    if op == "div" and b == 0:
        return 0  # only reached by a condition's other side; the program never divides by 0
    return apply(op, a, b)


def words_of(term) -> set:
    if type(term) is int:
        return set()
    if term[0] == "w":
        return {term[1]}
    return words_of(term[1]) | words_of(term[2])


def substitute(term, pins: dict):
    """``term`` with the pinned words replaced by their values, simplified."""
    if type(term) is not tuple or not pins:
        return term  # a constant, or a dead register (None)
    if term[0] == "w":
        return pins.get(term[1], term)
    return alu(term[0], substitute(term[1], pins), substitute(term[2], pins))


# -- literals: (term, relation, operand) -------------------------------------------------------

COMPLEMENT = {"==": "!=", "!=": "==", ">": "<=", "<=": ">", ">=": "<", "<": ">=", "&": "!&", "!&": "&"}
_MIRROR = {"==": "==", "!=": "!=", ">": "<", "<": ">", ">=": "<=", "<=": ">=", "&": "&", "!&": "!&"}


def compare(rel: str, a: int, b: int) -> bool:
    if rel == "==":
        return a == b
    if rel == "!=":
        return a != b
    if rel == ">":
        return a > b
    if rel == "<=":
        return a <= b
    if rel == ">=":
        return a >= b
    if rel == "<":
        return a < b
    if rel == "&":
        return bool(a & b)
    return not a & b


def literal(term, rel: str, operand):
    """The fact ``term rel operand``: True or False when it is decided, else a normalized literal
    (a term on the left; a mask folded into a bit test; ``t + k == c`` as ``t == c - k``)."""
    if type(term) is int and type(operand) is int:
        return compare(rel, term, operand)
    if type(term) is int:
        term, rel, operand = operand, _MIRROR[rel], term
    if term == operand:
        if rel in ("&", "!&"):
            return literal(term, "!=" if rel == "&" else "==", 0)
        return rel in ("==", ">=", "<=")
    if type(operand) is int:
        if rel in ("==", "!="):
            while type(term) is tuple and term[0] in ("add", "sub", "xor") and type(term[2]) is int:
                op, term, k = term
                operand = (operand - k) & M32 if op == "add" else (operand + k) & M32 if op == "sub" else operand ^ k
        if rel in ("&", "!&"):
            while type(term) is tuple and term[0] == "and" and type(term[2]) is int:
                term, operand = term[1], operand & term[2]
            if operand == 0:
                return rel == "!&"
        if (rel == ">" and operand == M32) or (rel == "<" and operand == 0):
            return False
        if (rel == "<=" and operand == M32) or (rel == ">=" and operand == 0):
            return True
        if (rel == "<=" and operand == 0) or (rel == "<" and operand == 1):  # unsigned: only 0
            return (term, "==", 0)
        if (rel == ">" and operand == 0) or (rel == ">=" and operand == 1):
            return (term, "!=", 0)
    return (term, rel, operand)


def holds(lit, words, fill: int = 0) -> bool:
    term, rel, operand = lit
    return compare(rel, evaluate_term(term, words, fill), evaluate_term(operand, words, fill))


def negate(lit):
    term, rel, operand = lit
    return (term, COMPLEMENT[rel], operand)


def _pin(lit):
    """(word, value) when ``lit`` says a word equals a constant."""
    term, rel, c = lit
    if rel == "==" and type(c) is int and type(term) is tuple and term[0] == "w":
        return (term[1], c)
    return None


# -- domains: what one term may be under the literals of a conjunction ---------------------------
# (lo, hi, bits set, bits clear, values excluded, masks of which some bit is set)

FULL = (0, M32, 0, 0, frozenset(), frozenset())


def _natural(term):
    """The range a term's own operation allows (``t & 0xff`` is at most 0xff)."""
    if type(term) is tuple and term[0] != "w" and type(term[2]) is int:
        op, k = term[0], term[2]
        if op == "and":
            return (0, k, 0, ~k & M32, frozenset(), frozenset())
        if op == "or":
            return (k, M32, k, 0, frozenset(), frozenset())
        k &= _OPERAND_MASK.get(op, M32)
        if op == "rsh":
            return (0, M32 >> k, 0, ~(M32 >> k) & M32, frozenset(), frozenset())
        if op == "lsh":
            return (0, (M32 << k) & M32, 0, (1 << k) - 1, frozenset(), frozenset())
        if op == "div" and k:
            return (0, M32 // k, 0, 0, frozenset(), frozenset())
    return FULL


def constrain(dom, rel: str, c: int):
    lo, hi, ones, zeros, excluded, some = dom
    if rel == "==":
        lo, hi = max(lo, c), min(hi, c)
    elif rel == "!=":
        excluded = excluded | {c}
    elif rel == ">":
        lo = max(lo, c + 1)
    elif rel == "<=":
        hi = min(hi, c)
    elif rel == ">=":
        lo = max(lo, c)
    elif rel == "<":
        hi = min(hi, c - 1)
    elif rel == "&":
        if not c & (c - 1):
            ones |= c
        else:
            some = some | {c}
    else:
        zeros |= c
    return lo, hi, ones, zeros, excluded, some


def satisfies(v: int, dom) -> bool:
    lo, hi, ones, zeros, excluded, some = dom
    return (lo <= v <= hi and v & ones == ones and not v & zeros and v not in excluded
            and all(v & m for m in some))


def _possible(dom) -> bool:
    """False only when no 32-bit value fits ``dom`` (exact for small ranges)."""
    lo, hi, ones, zeros, excluded, some = dom
    lo, hi = max(lo, ones), min(hi, ~zeros & M32)
    if lo > hi or ones & zeros or any(not m & ~zeros for m in some):
        return False
    if hi - lo <= 64 + len(excluded):
        return any(satisfies(v, dom) for v in range(lo, hi + 1))
    return True


def domains(conj) -> dict | None:
    """Each term's domain under ``conj``, with ``(w & m) == c`` also read as bits of ``w``;
    None when a literal is false once the words pinned by others are put in."""
    pins: dict = {}
    for lit in conj:
        pin = _pin(lit)
        if pin:
            if pins.setdefault(pin[0], pin[1]) != pin[1]:
                return None
    found: dict = {}
    for lit in conj:
        term, rel, operand = lit
        if pins and (words_of(term) | words_of(operand)) <= pins.keys():
            if not holds(lit, pins):
                return None
            continue
        if type(operand) is not int:
            continue
        found[term] = constrain(found.get(term) or _natural(term), rel, operand)
        if rel == "==" and type(term) is tuple and term[0] == "and" and type(term[2]) is int:
            if operand & ~term[2]:
                return None
            word = term[1]
            dom = found.get(word) or _natural(word)
            lo, hi, ones, zeros, excluded, some = dom
            found[word] = (lo, hi, ones | operand, zeros | (term[2] & ~operand), excluded, some)
    return found


def feasible(conj) -> bool:
    """False only when ``conj`` is proved impossible."""
    found = domains(conj)
    return found is not None and all(_possible(dom) for dom in found.values())


# -- conditions: sets of conjunctions (frozensets of literals) ---------------------------------

TRUE = frozenset({frozenset()})


def conjunction_order(conj) -> tuple:
    """A sort key that puts conjunctions in the same order in every run, the shortest first (a
    frozenset's own order, and so its repr, follows string hashes, which change from run to run)."""
    return len(conj), sorted(map(repr, conj))


def simplify(dnf: set) -> set:
    """An equivalent, smaller disjunction: resolution and subsumption until nothing changes."""
    dnf = set(dnf)
    if len(dnf) < 2:
        return dnf
    changed = True
    while changed:
        changed = False
        sizes = {len(c) for c in dnf}
        for conj in sorted(dnf, key=conjunction_order):  # the same result in every run
            # A partner has the same size (P and not l) or one less (P itself).
            if conj not in dnf or not (len(conj) - 1 in sizes or sum(len(c) == len(conj) for c in dnf) > 1):
                continue
            for lit in sorted(conj, key=repr):
                rest = conj - {lit}
                partner = rest | {negate(lit)}
                if partner in dnf or rest in dnf:
                    dnf.discard(conj)
                    dnf.discard(partner)
                    dnf.add(rest)
                    changed = True
                    break
        if len(dnf) > 1:
            minimal = sorted(dnf, key=len)
            kept = [c for i, c in enumerate(minimal) if not any(o < c for o in minimal[:i])]
            changed |= len(kept) != len(dnf)
            dnf = set(kept)
    return dnf


def conjoin(a: set, b: set, work) -> set:
    """``a and b``, dropping conjunctions proved impossible."""
    out = set()
    for x in a:
        for y in b:
            work()
            conj = x
            for lit in sorted(y, key=repr):
                conj = add_literal(conj, lit)
                if conj is None:
                    break
            else:
                out.add(conj)
    return simplify(out)


# -- one program ---------------------------------------------------------------------------

_A, _X = 1, 2  # liveness bits; scratch cell i is bit i + 2
_NO_CELLS = (None,) * 16


def liveness_bits(names: frozenset, k: int) -> int:
    """Registers named as in bpfsim/semantics.py (``a``, ``x``, ``m`` for M[k]) as liveness bits."""
    return (_A if "a" in names else 0) | (_X if "x" in names else 0) | (1 << (k + 2) if "m" in names else 0)


@lru_cache(maxsize=256)
def _liveness_of(prog: VerifiedProgram) -> list[int]:
    """``liveness`` once per verified program (cached by identity, which hashes fast)."""
    return liveness(prog.code)


def liveness(code: sem.Decoded) -> list[int]:
    """The registers read before being written on some path from each pc (the reads and writes
    of each row of bpfsim/semantics.py)."""
    live = [0] * len(code)
    for pc in range(len(code) - 1, -1, -1):
        kind, k, t, f = code[pc]
        row = sem.ROWS[kind]
        if row.is_return:
            after = 0
        elif row.jump:
            after = live[t]
        elif row.is_conditional:
            after = live[t] | live[f]
        else:
            after = live[pc + 1]
        live[pc] = liveness_bits(row.reads, k) | (after & ~liveness_bits(row.writes, k))
    return live


class _Frontier:
    """States waiting at each pc, merged by their live registers; conditions are unioned."""

    def __init__(self, live: list[int]):
        self.live = live
        self.waiting: dict[int, dict] = {}
        self.order: list[int] = []

    def add(self, pc: int, a, x, mem: tuple, dnf) -> None:
        live = self.live[pc]
        a = a if live & _A else None
        x = x if live & _X else None
        cells = live >> 2
        mem = _NO_CELLS if not cells else tuple(v if cells >> i & 1 else None for i, v in enumerate(mem))
        at = self.waiting.get(pc)
        if at is None:
            at = self.waiting[pc] = {}
            heapq.heappush(self.order, pc)
        key = (a, x, mem)
        if key in at:
            at[key].update(dnf)
        else:
            at[key] = set(dnf)

    def pop(self):
        pc = heapq.heappop(self.order)
        return pc, self.waiting.pop(pc)


def explore(prog: VerifiedProgram, known: Sequence[int], work, branches: dict | None = None) -> dict:
    """Every value ``prog`` may return when words 0 and 1 are ``known[:2]`` (``()``: unknown too),
    with its condition: ``{value: set of conjunctions}``; a value is an int, or a term for
    ``ret a`` of a computed A. ``work()`` is called per unit of work (and raises to stop).
    ``branches``, if given, collects each conditional jump's pc → the outcomes some input takes."""
    code, chains = prog.code, prog.jeq_chains
    frontier = _Frontier(_liveness_of(prog))
    leaves: dict = {}
    known = known[:KNOWN_WORDS]
    words = (*known, *(("w", i) for i in range(len(known), 16)))  # what ld [k] reads: a value or a term
    if branches is None:
        branches = {}
    frontier.add(0, 0, 0, (0,) * 16, TRUE)
    while frontier.order:
        pc, states = frontier.pop()
        kind, k, t, f = code[pc]
        for (a, x, mem), dnf in states.items():
            if len(dnf) > 1:
                dnf = simplify(dnf)
            for _ in range(len(dnf)):
                work()
            _step(frontier, leaves, chains, pc, kind, k, t, f, a, x, mem, dnf, words, branches)
    return {value: simplify(dnf) for value, dnf in leaves.items()}


def _step(frontier, leaves, chains, pc, kind, k, t, f, a, x, mem, dnf, words, branches) -> None:
    """One instruction for one merged state, by its row in bpfsim/semantics.py: a condition
    becomes a literal, arithmetic a term, and moves run the row's own step on the values."""
    row = sem.ROWS[kind]
    if row.is_return:
        leaves.setdefault(k if row.result == "{k}" else a, set()).update(dnf)
        return
    if row.is_conditional:
        taken = branches.setdefault(pc, set())
        if kind == sem.JEQ_K and type(a) is int and pc in chains:
            table, end = chains[pc]
            frontier.add(table.get(a, end), a, x, mem, dnf)
            return
        if t == f:
            taken.update((True, False))
            frontier.add(t, a, x, mem, dnf)
            return
        fact = literal(a, _RELATION_OF_KIND[kind], x if row.operand == "x" else k)
        if fact is True or fact is False:
            taken.add(fact)
            frontier.add(t if fact else f, a, x, mem, dnf)
            return
        for outcome, target, lit in ((True, t, fact), (False, f, negate(fact))):
            if _branch(frontier, target, a, x, mem, dnf, lit):
                taken.add(outcome)
        return
    if row.jump:
        frontier.add(t, a, x, mem, dnf)
        return
    if row.exit_if is not None:  # an X of 0 makes the program return 0 (see the row)
        if type(x) is int and x == 0:
            leaves.setdefault(0, set()).update(dnf)
            return
        if type(x) is not int:
            zero = {c for c in (add_literal(c, (x, "==", 0)) for c in dnf) if c is not None}
            if zero:
                leaves.setdefault(0, set()).update(zero)
            _branch(frontier, pc + 1, alu(_ARITHMETIC_OF_KIND[kind], a, x), x, mem, dnf, (x, "!=", 0))
            return
    if kind in _ARITHMETIC_OF_KIND:
        a = alu(_ARITHMETIC_OF_KIND[kind], a, x if row.operand == "x" else k)
    elif kind == sem.NEG:
        a = apply("neg", a, 0) if type(a) is int else alu("sub", 0, a)
    else:  # a load, store or move: the row's step on the values as they are
        cells = list(mem)
        a, x, _ = sem.step(kind, k, a, x, cells, words)
        mem = tuple(cells)
    frontier.add(pc + 1, a, x, mem, dnf)


def add_literal(conj: frozenset, lit) -> frozenset | None:
    """``conj and lit`` kept short: None when proved impossible; a literal that the pinned words
    or the other literals on its term decide is left out, and so are the ones it implies."""
    pins = dict(p for p in map(_pin, conj) if p)
    if pins:
        fact = literal(substitute(lit[0], pins), lit[1], substitute(lit[2], pins))
        if fact is True or fact is False:
            return conj if fact else None
        lit = fact
    same = [o for o in conj if o[0] == lit[0]]
    if lit[1] == "!=" and type(lit[2]) is int and all(type(o[2]) is int for o in same):
        # Excluding one value changes this term's domain only, and implies no other literal.
        dom = _natural(lit[0])
        for term, rel, c in same:
            dom = constrain(dom, rel, c)
        if not satisfies(lit[2], dom):
            return conj
        return conj | {lit} if _possible(constrain(dom, "!=", lit[2])) else None
    if same and not feasible(frozenset(same) | {negate(lit)}):
        return conj
    joined = conj | {lit}
    if not feasible(joined):
        return None
    if lit[1] == "!=":  # excludes one value: implies no other literal
        return joined
    if lit[1] == "==" and type(lit[2]) is int:  # pins the term: the others on it hold (joined is feasible)
        return joined - {o for o in same if type(o[2]) is int}
    implied = {o for o in same if not feasible(frozenset({lit, negate(o)}))}
    return joined - implied


def _branch(frontier, target, a, x, mem, dnf, lit) -> bool:
    """The states of ``dnf`` that can also meet ``lit``, sent to ``target`` (True when there
    are some); a literal that pins a word puts its value into the registers and the others."""
    pin = _pin(lit)
    sent = False
    for conj in dnf:
        joined = add_literal(conj, lit)
        if joined is None:
            continue
        sent = True
        if pin is None or joined is conj:
            frontier.add(target, a, x, mem, {joined})
            continue
        word, value = pin
        pins = {word: value}
        kept = {(("w", word), "==", value)}
        for other in joined:
            fact = literal(substitute(other[0], pins), other[1], substitute(other[2], pins))
            if fact is False:
                break
            if fact is not True:
                kept.add(fact)
        else:
            frontier.add(target, substitute(a, pins), substitute(x, pins),
                         tuple(substitute(v, pins) for v in mem), {frozenset(kept)})
    return sent


# -- a stack of programs -------------------------------------------------------------------

def _outranks(term, current: int, rel: str):
    """The literal "the action of ``term`` ``rel`` the action of ``current``" in the kernel's
    signed order (kernel/seccomp.c ``ACTION_ONLY``), as an unsigned compare with the sign flipped."""
    flipped = ((current & 0xFFFF0000) ^ 0x80000000)
    return literal(alu("xor", alu("and", term, 0xFFFF0000), 0x80000000), rel, flipped)


def _choose(current, value) -> list:
    """kernel/seccomp.c:seccomp_run_filters, one filter further (newest first): ``value`` replaces
    the value chosen so far only when its action is strictly more severe. With a computed value
    (a term) each outcome comes with the literal it needs, or None where nothing is known."""
    if type(value) is int and type(current) is int:
        return [(value if precedence(value) < precedence(current) else current, None)]
    if type(value) is int or type(current) is not int:
        return [(current, None), (value, None)]
    return [(choice, fact) for choice, fact in ((value, _outranks(value, current, "<")),
                                                (current, _outranks(value, current, ">=")))
            if fact is not False]


def stack_outcomes(programs: Sequence[VerifiedProgram], known: Sequence[int], work) -> dict:
    """``{value chosen: condition}`` over a stack (install order), newest filter first."""
    states: dict = {0x7FFF0000: set(TRUE)}  # SECCOMP_RET_ALLOW until a filter says otherwise
    for prog in reversed(programs):
        leaves = explore(prog, known, work)
        following: dict = {}
        for current, dnf in states.items():
            for value, condition in leaves.items():
                both = conjoin(dnf, condition, work)
                for chosen, fact in _choose(current, value):
                    met = both
                    if fact is not None and fact is not True:
                        met = {c for c in (add_literal(c, fact) for c in both) if c is not None}
                    following.setdefault(chosen, set()).update(met)
        states = {value: simplify(dnf) for value, dnf in following.items() if dnf}
    return states


class _UnknownWordRead(Exception):
    """A run read a seccomp_data word that the question leaves unknown."""


class _KnownWords:
    """The words a run may read: the known ones; reading any other ends the run."""

    __slots__ = ("known",)

    def __init__(self, known: Sequence[int]):
        self.known = known

    def __getitem__(self, index: int) -> int:
        if index < len(self.known):
            return self.known[index]
        raise _UnknownWordRead


def decided_outcomes(programs: Sequence[VerifiedProgram], known: Sequence[int]) -> dict | None:
    """``stack_outcomes`` found without exploring when the known words decide it: each program's
    compiled function runs on them alone, and none reads another word, so every input with
    these known words takes the same path in each program (``{value chosen: TRUE}``). None
    when some program reads an unknown word. The exploration it replaces would have done at
    most ``len(program) + 1`` units of work per program."""
    words = _KnownWords(known[:KNOWN_WORDS])
    chosen = 0x7FFF0000  # SECCOMP_RET_ALLOW until a filter says otherwise, as in stack_outcomes
    for prog in reversed(programs):
        try:
            value = prog.function(words)
        except _UnknownWordRead:
            return None
        ((chosen, _),) = _choose(chosen, value)
    return {chosen: set(TRUE)}


def solve(conj, fill: int = 0) -> dict | None:
    """Word values (index → value) meeting every literal of ``conj``, found one word at a time
    from the domains and by inverting simple operations; None when none was found."""
    found = domains(conj)
    if found is None:
        return None
    words: dict = {}
    for term, dom in found.items():
        if type(term) is tuple and term[0] == "w":
            value = pick(dom)
            if value is not None:
                words[term[1]] = value
    for _ in range(4):
        wrong = [lit for lit in sorted(conj, key=repr) if not holds(lit, words, fill)]
        if not wrong:
            return words
        for term, rel, operand in wrong:
            target = evaluate_term(operand, words, fill)
            want = constrain(found.get(term) or _natural(term), rel, target)
            if not _solve(term, want, words, found, fill) and type(operand) is not int:
                value = evaluate_term(term, words, fill)
                _solve(operand, constrain(FULL, _MIRROR[rel], value), words, found, fill)
    return words if all(holds(lit, words, fill) for lit in conj) else None


def pick(dom) -> int | None:
    """A value that fits ``dom``, looked for near its bounds and required bits."""
    lo, hi, ones, zeros, excluded, some = dom
    start = max(lo, ones) | ones
    allowed = ~zeros & M32
    candidates = [start, lo, start & allowed, ones | allowed & -allowed, hi, ones | allowed, ones]
    candidates += [start | (m & ~zeros & -(m & ~zeros)) for m in some]
    for base in candidates:
        for v in range(base, min(base + len(excluded) + 2, M32 + 1)):
            if satisfies(v, dom):
                return v
    return None


_INVERSES = {  # op: (bits the result must have set and clear for k, the operand from the result)
    "and": (lambda k: (0, ~k & M32), lambda v, old, k: v | (old & ~k & M32)),
    "or": (lambda k: (k, 0), lambda v, old, k: v),
    "xor": (lambda k: (0, 0), lambda v, old, k: v ^ k),
    "add": (lambda k: (0, 0), lambda v, old, k: (v - k) & M32),
    "sub": (lambda k: (0, 0), lambda v, old, k: (v + k) & M32),
    "lsh": (lambda k: (0, (1 << k) - 1), lambda v, old, k: v >> k | (old & ~(M32 >> k) & M32)),
    "rsh": (lambda k: (0, ~(M32 >> k) & M32), lambda v, old, k: v << k & M32 | (old & ((1 << k) - 1))),
}


def _solve(term, dom, words: dict, found: dict, fill: int) -> bool:
    """Choose words so that ``term`` fits ``dom``, keeping the current value when it already fits."""
    if type(term) is int:
        return satisfies(term, dom)
    if satisfies(evaluate_term(term, words, fill), dom):
        return True
    if term[0] == "w":
        own = found.get(term)
        joint = dom if own is None else (max(dom[0], own[0]), min(dom[1], own[1]), dom[2] | own[2],
                                         dom[3] | own[3], dom[4] | own[4], dom[5] | own[5])
        value = pick(joint)
        if value is None:
            value = pick(dom)
        if value is not None:
            words[term[1]] = value
        return value is not None
    op, inner, k = term
    if op not in _INVERSES or type(k) is not int or type(inner) is int:
        return False
    extra, inverse = _INVERSES[op]
    k &= _OPERAND_MASK.get(op, M32)
    ones, zeros = extra(k)
    lo, hi, set_bits, clear_bits, excluded, some = dom
    value = pick((lo, hi, set_bits | ones, clear_bits | zeros, excluded, some))
    if value is None:
        return False
    operand = inverse(value, evaluate_term(inner, words, fill), k)
    return _solve(inner, (operand, operand, 0, 0, frozenset(), frozenset()), words, found, fill)


# -- conditions as text ------------------------------------------------------------------

_OP_TEXT = {name: opcodes.PSEUDO_C_OPERATORS[code] for code, name in opcodes.ALU_MNEMONICS.items()}  # add: +


def _word_name(index: int, byteorder: str) -> tuple[str, bool]:
    """The field a seccomp_data word belongs to, and whether it is the field's high half."""
    if index < 2:
        return ("nr", "arch")[index], False
    field = "instruction_pointer" if index < 4 else f"args[{(index - 4) // 2}]"
    return field, (index % 2 == 1) == (byteorder == "little")


def _term_text(term, byteorder: str, masked: bool = False, wide: frozenset = frozenset()) -> str:
    """C-like text: a low half is ``(u32)args[i]`` unless a mask makes the cast redundant or
    the high half is known to be 0 (``wide``), a high half is ``args[i] >> 32``."""
    if type(term) is int:
        return f"{term:#x}"
    if term[0] == "w":
        field, high = _word_name(term[1], byteorder)
        if high:
            return f"({field} >> 32)"
        return field if masked or term[1] in wide else f"(u32){field}"
    op, a, b = term
    if op == "sub" and a == 0:
        return f"-{_term_text(b, byteorder, False, wide)}"
    inner = op == "and" and type(b) is int
    return f"({_term_text(a, byteorder, inner, wide)} {_OP_TEXT[op]} {_term_text(b, byteorder, False, wide)})"


def term_text(term, byteorder: str) -> str:
    """A computed value as C-like text on the seccomp_data fields."""
    return _term_text(term, byteorder)


def _literal_text(lit, byteorder: str, wide: frozenset) -> str:
    term, rel, operand = lit
    if (rel in ("<", ">=") and type(operand) is int and type(term) is tuple and term[0] == "xor"
            and term[2] == 0x80000000 and type(term[1]) is tuple and term[1][0] == "and"
            and term[1][2] == 0xFFFF0000):  # an action compared in the kernel's order (_outranks)
        action = abi.ACTION_NAMES.get(operand ^ 0x80000000, f"{operand ^ 0x80000000:#x}")
        returned = _term_text(term[1][1], byteorder, False, wide)
        return f"{returned} {'outranks' if rel == '<' else 'does not outrank'} {action}"
    if rel in ("&", "!&"):
        test = "!= 0" if rel == "&" else "== 0"
        if type(term) is tuple and term[0] == "w" and type(operand) is int:
            field, high = _word_name(term[1], byteorder)
            mask = operand << 32 if high else operand
            return f"{field} & {mask:#x} {test}"
        return f"{_term_text(term, byteorder, True, wide)} & {_term_text(operand, byteorder)} {test}"
    text = _term_text(term, byteorder, False, wide)
    return f"{text.removeprefix('(').removesuffix(')') if text.startswith('(') and ' ' in text else text} " \
           f"{rel} {_term_text(operand, byteorder, False, wide)}"


def conjunction_text(conj, byteorder: str) -> str:
    """``conj`` as readable predicates on the seccomp_data fields, joined by ``&&``; a field
    whose two halves are pinned reads as one 64-bit comparison (``args[0] == 0xffffffff``), and
    a low half needs no ``(u32)`` cast where the high half is pinned to 0."""
    if not conj:
        return "always"
    pins = {}
    for lit in conj:
        if lit[1] == "==" and type(lit[2]) is int and type(lit[0]) is tuple and lit[0][0] == "w":
            pins[lit[0][1]] = lit
    parts, used, wide = [], set(), set()
    for index, lit in sorted(pins.items()):
        field, high = _word_name(index, byteorder)
        partner = index - 1 if (index % 2 == 1) == (byteorder == "little") else index + 1
        if high and partner in pins:
            low = pins[partner][2]
            parts.append(f"{field} == {(lit[2] << 32) | low:#x}")
            used |= {lit, pins[partner]}
        elif high and lit[2] == 0:
            wide.add(partner)
    parts += sorted(_literal_text(lit, byteorder, frozenset(wide)) for lit in conj if lit not in used)
    return " && ".join(parts)


def condition_text(dnf, byteorder: str) -> str:
    """A condition (conjunctions joined by ``||``) as text."""
    texts = sorted(conjunction_text(conj, byteorder) for conj in dnf)
    if len(texts) == 1:
        return texts[0]
    return " || ".join(f"({t})" if " && " in t else t for t in texts)
