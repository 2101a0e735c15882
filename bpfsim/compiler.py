"""A decoded, verified program turned into a Python function ``f(words) -> int`` with the
interpreter's answers; every statement and condition it emits is a template of ``semantics.ROWS``.

cBPF only jumps forward, so a program is a DAG: straight-line Python with ``if``s and locals for
A, X and M[]; a run of ``jeq #k`` becomes one dict lookup; a large shared tail becomes a function
(through a trampoline when calls nest deeply), so code stays linear in the program's length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence, Set

from . import semantics
from .semantics import JEQ_K, ROWS, Decoded, entries

_COPY_LIMIT = 6  # instructions: shared tails up to this size are copied, larger ones called
_MAX_DEPTH = 24  # nested ifs before a branch is moved into a function of its own
_MIN_CHAIN = 5  # jeq instructions in a row before they become one dict lookup
_MAX_CALLS = 64  # nested helper calls on one path before helpers return to a trampoline instead


def _successors(kind: int, t: int, f: int, pc: int) -> tuple[int, ...]:
    row = ROWS[kind]
    if row.is_return:
        return ()
    if row.jump:
        return (t,)
    if row.is_conditional:
        return (t,) if t == f else (t, f)
    return (pc + 1,)


def _effects(kind: int, k: int) -> tuple[Set[str], Set[str]]:
    """(registers read, registers written) by one instruction, for the liveness of A, X and M[]."""
    row = ROWS[kind]
    if "m" not in row.reads and "m" not in row.writes:
        return row.reads, row.writes
    cell = f"m{k}"
    return ({cell if r == "m" else r for r in row.reads}, {cell if r == "m" else r for r in row.writes})


def _text(template: str, k: int) -> str:
    """A table template with the operand and the cell of this instruction filled in."""
    return template.replace("{k}", str(k)).replace("{m}", f"m{k}")


def jeq_chains(code, cut=frozenset()) -> dict[int, tuple[dict[int, int], int]]:
    """Runs of ``jeq #k`` that fall through to one another (a syscall-number dispatch) in a
    decoded program, keyed by their first pc: ``({k: true target}, pc reached when no k
    matches)``, the first test of a k winning. A run stops before a pc in ``cut``."""
    chains = {}
    pc, n = 0, len(code)
    while pc < n:
        end = pc
        while end < n and code[end][0] == JEQ_K and code[end][3] == end + 1 and (end == pc or end not in cut):
            end += 1
        if end - pc >= _MIN_CHAIN:
            table: dict[int, int] = {}
            for member in range(pc, end):
                table.setdefault(code[member][1], code[member][2])
            chains[pc] = (table, end)
        pc = max(end, pc + 1)
    return chains


class _Emitter:
    """Writes the source of one program: a main function ``f`` and helpers ``_b<pc>``."""

    def __init__(self, code):
        self.code = code
        n = len(code)
        self.succ = [_successors(kind, t, f, pc) for pc, (kind, k, t, f) in enumerate(code)]
        preds = entries(self.succ)
        self.chains = jeq_chains(code, {pc for pc in range(n) if preds[pc] > 1})
        for head, (table, end) in self.chains.items():
            counts = Counter(t for t in table.values() if t != end)
            self.succ[head] = (*sorted(counts, key=lambda t: (-counts[t], t)), end)
        preds = entries(self.succ)
        self.live: list[frozenset[str]] = [frozenset()] * n
        self.tree = [0] * n  # instructions on all paths from pc, capped past _COPY_LIMIT
        for pc in range(n - 1, -1, -1):
            if not preds[pc] and pc:  # unreachable, such as a jeq inside a chain: never emitted
                continue
            kind, k = code[pc][0], code[pc][1]
            reads, writes = _effects(kind, k)
            out = set().union(*(self.live[s] for s in self.succ[pc]))
            self.live[pc] = frozenset(reads | (out - writes))
            self.tree[pc] = min(_COPY_LIMIT + 1, 1 + sum(self.tree[s] for s in self.succ[pc]))
        self.shared = {pc for pc in range(n) if preds[pc] > 1 and self.tree[pc] > _COPY_LIMIT}
        self.trampoline = False

    def call(self, pc: int) -> str:
        if pc not in self.callees:
            self.callees[pc] = set()
            self.functions.append(pc)
        self.callees[self.current].add(pc)
        args = ", ".join(["w", *sorted(self.live[pc])])
        return f"return (_b{pc}, ({args},))" if self.trampoline else f"return _b{pc}({args})"

    def block(self, pc: int, depth: int, lines: list[str], start: bool) -> None:
        """Emit the code from ``pc`` until every path has returned."""
        pad = "    " * depth
        while True:
            if not start and pc in self.shared:
                lines.append(pad + self.call(pc))
                return
            start = False
            kind, k, t, f = self.code[pc]
            row = ROWS[kind]
            if row.result is not None:
                lines.append(f"{pad}return {_text(row.result, k)}")
                return
            if row.exit_if is not None:
                lines.append(f"{pad}if {row.exit_if}: return 0")
            if row.statement is not None:
                lines.append(pad + _text(row.statement, k))
            if pc in self.chains:
                lines.append(f"{pad}j = _t{pc}.get(a, {self.chains[pc][1]})")
                for target in self.succ[pc][:-1]:
                    lines.append(f"{pad}if j == {target}:")
                    self.branch(target, depth + 1, lines)
                pc = self.succ[pc][-1]
            elif len(self.succ[pc]) == 2:
                inner, outer, test = (t, f, row.condition) if self.tree[t] <= self.tree[f] else (f, t, row.negation)
                lines.append(f"{pad}if {_text(test, k)}:")
                self.branch(inner, depth + 1, lines)
                pc = outer
            else:
                pc = self.succ[pc][0]

    def branch(self, pc: int, depth: int, lines: list[str]) -> None:
        """The body of an ``if``: inline, or a call once the nesting gets deep."""
        if depth >= _MAX_DEPTH and pc not in self.shared:
            lines.append("    " * depth + self.call(pc))
        else:
            self.block(pc, depth, lines, False)

    def emit(self) -> str:
        self.functions: list[int] = []
        self.callees: dict[int, set[int]] = {-1: set()}
        self.current = -1
        lines = ["def _b(w):" if self.trampoline else "def f(w):"]
        entry = sorted(self.live[0])
        if entry:
            lines.append("    " + " = ".join(entry) + " = 0")
        self.block(0, 1, lines, True)
        done = 0
        while done < len(self.functions):
            self.current = pc = self.functions[done]
            done += 1
            lines.append(f"def _b{pc}({', '.join(['w', *sorted(self.live[pc])])}):")
            self.block(pc, 1, lines, True)
        if self.trampoline:
            lines += ["def f(w):", "    r = _b(w)", "    while r.__class__ is tuple:", "        r = r[0](*r[1])",
                      "    return r"]
        return "\n".join(lines) + "\n"

    def tables(self) -> dict[str, dict[int, int]]:
        """The jeq chains' tables by the names the functions use: given to them as values, since
        Python compiles a dict display of hundreds of numbers ten times slower than the code."""
        return {f"_t{head}": table for head, (table, end) in self.chains.items()}

    def source(self) -> str:
        """The functions' text; it reads the tables (``tables``) as globals."""
        text = self.emit()
        chain: dict[int, int] = {}
        for pc in sorted(self.callees, reverse=True):  # callees lie after their callers
            chain[pc] = 1 + max((chain[c] for c in self.callees[pc]), default=0)
        if chain[-1] <= _MAX_CALLS:
            return text
        self.trampoline = True
        return self.emit()


def source(code: Decoded) -> str:
    """The Python source of a decoded program's function, for reading: its tables, then its code."""
    emitter = _Emitter(code)
    return "".join(f"{name} = {table!r}\n" for name, table in emitter.tables().items()) + emitter.source()


def build(code: Decoded, name: str = "program") -> Callable[[Sequence[int]], int]:
    """``f(words) -> int`` for a decoded, verified program. Source Python refuses to compile
    (not seen so far) falls back to the table's plain interpreter loop."""
    try:
        emitter = _Emitter(code)
        namespace: dict = emitter.tables()
        exec(compile(emitter.source(), f"<bpfsim compiled {name}>", "exec"), namespace)
        return namespace["f"]
    except (RecursionError, MemoryError, SyntaxError):
        return lambda words: semantics.run_decoded(code, words)
