"""A verified program turned into a Python function ``f(words) -> int`` with the interpreter's answers.

cBPF only jumps forward, so a program is a DAG: straight-line Python with ``if``s and locals for
A, X and M[]; a run of ``jeq #k`` becomes one dict lookup; a large shared tail becomes a function
(through a trampoline when calls nest deeply), so code stays linear in the program's length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from . import interpreter as vm
from .insn import Instruction
from .program import Program

_COPY_LIMIT = 6  # instructions: shared tails up to this size are copied, larger ones called
_MAX_DEPTH = 24  # nested ifs before a branch is moved into a function of its own
_MIN_CHAIN = 5  # jeq instructions in a row before they become one dict lookup
_MAX_CALLS = 64  # nested helper calls on one path before helpers return to a trampoline instead

_STATEMENTS = {  # the interpreter's semantics: 32-bit wrap, shifts by X & 31 as the x86-64 JIT does
    vm.LD_IMM: "a = {k}", vm.LD_MEM: "a = m{k}", vm.LDX_IMM: "x = {k}", vm.LDX_MEM: "x = m{k}",
    vm.LD_ABS: "a = w[{k}]", vm.ST: "m{k} = a", vm.STX: "m{k} = x", vm.TAX: "x = a", vm.TXA: "a = x",
    vm.ADD_K: "a = (a + {k}) & 0xffffffff", vm.SUB_K: "a = (a - {k}) & 0xffffffff",
    vm.MUL_K: "a = (a * {k}) & 0xffffffff", vm.DIV_K: "a //= {k}", vm.AND_K: "a &= {k}",
    vm.OR_K: "a |= {k}", vm.XOR_K: "a ^= {k}", vm.LSH_K: "a = (a << {k}) & 0xffffffff",
    vm.RSH_K: "a >>= {k}", vm.ADD_X: "a = (a + x) & 0xffffffff", vm.SUB_X: "a = (a - x) & 0xffffffff",
    vm.MUL_X: "a = (a * x) & 0xffffffff", vm.AND_X: "a &= x", vm.OR_X: "a |= x", vm.XOR_X: "a ^= x",
    vm.LSH_X: "a = (a << (x & 31)) & 0xffffffff", vm.RSH_X: "a >>= x & 31", vm.NEG: "a = -a & 0xffffffff",
}
_CONDITIONS = {
    vm.JEQ_K: "a == {k}", vm.JGT_K: "a > {k}", vm.JGE_K: "a >= {k}", vm.JSET_K: "a & {k}",
    vm.JEQ_X: "a == x", vm.JGT_X: "a > x", vm.JGE_X: "a >= x", vm.JSET_X: "a & x",
}
_NEGATED = {
    vm.JEQ_K: "a != {k}", vm.JGT_K: "a <= {k}", vm.JGE_K: "a < {k}", vm.JSET_K: "not a & {k}",
    vm.JEQ_X: "a != x", vm.JGT_X: "a <= x", vm.JGE_X: "a < x", vm.JSET_X: "not a & x",
}
_X_OPERAND = frozenset({vm.ADD_X, vm.SUB_X, vm.MUL_X, vm.DIV_X, vm.AND_X, vm.OR_X, vm.XOR_X, vm.LSH_X,
                        vm.RSH_X, vm.JEQ_X, vm.JGT_X, vm.JGE_X, vm.JSET_X})
_MOVES = {  # kind: (registers read, register written); ``m`` stands for the cell M[k]
    vm.LD_IMM: ((), "a"), vm.LD_ABS: ((), "a"), vm.LD_MEM: (("m",), "a"), vm.LDX_IMM: ((), "x"),
    vm.LDX_MEM: (("m",), "x"), vm.ST: (("a",), "m"), vm.STX: (("x",), "m"), vm.TAX: (("a",), "x"),
    vm.TXA: (("x",), "a"), vm.RET_K: ((), None), vm.RET_A: (("a",), None), vm.JA: ((), None),
}


def _successors(kind: int, t: int, f: int, pc: int) -> tuple[int, ...]:
    if kind in (vm.RET_K, vm.RET_A):
        return ()
    if kind == vm.JA:
        return (t,)
    if kind in _CONDITIONS:
        return (t,) if t == f else (t, f)
    return (pc + 1,)


def _effects(kind: int, k: int) -> tuple[set[str], set[str]]:
    """(registers read, registers written) by one instruction, for the liveness of A, X and M[]."""
    reads, writes = _MOVES.get(kind, (("a", "x") if kind in _X_OPERAND else ("a",),
                                      None if kind in _CONDITIONS else "a"))
    cell = f"m{k}"
    return ({cell if r == "m" else r for r in reads},
            set() if writes is None else {cell if writes == "m" else writes})


def jeq_chains(code, cut=frozenset()) -> dict[int, tuple[dict[int, int], int]]:
    """Runs of ``jeq #k`` that fall through to one another (a syscall-number dispatch) in a
    decoded program, keyed by their first pc: ``({k: true target}, pc reached when no k
    matches)``, the first test of a k winning. A run stops before a pc in ``cut``."""
    chains = {}
    pc, n = 0, len(code)
    while pc < n:
        end = pc
        while end < n and code[end][0] == vm.JEQ_K and code[end][3] == end + 1 and (end == pc or end not in cut):
            end += 1
        if end - pc >= _MIN_CHAIN:
            table: dict[int, int] = {}
            for member in range(pc, end):
                table.setdefault(code[member][1], code[member][2])
            chains[pc] = (table, end)
        pc = max(end, pc + 1)
    return chains


def _predecessors(succ: list[tuple[int, ...]]) -> list[int]:
    """How many reachable edges enter each pc."""
    reachable = [False] * len(succ)
    reachable[0] = True
    preds = [0] * len(succ)
    for pc in range(len(succ)):
        if reachable[pc]:
            for s in succ[pc]:
                reachable[s] = True
                preds[s] += 1
    return preds


class _Emitter:
    """Writes the source of one program: a main function ``f`` and helpers ``_b<pc>``."""

    def __init__(self, code):
        self.code = code
        n = len(code)
        self.succ = [_successors(kind, t, f, pc) for pc, (kind, k, t, f) in enumerate(code)]
        preds = _predecessors(self.succ)
        self.chains = jeq_chains(code, {pc for pc in range(n) if preds[pc] > 1})
        for head, (table, end) in self.chains.items():
            counts = Counter(t for t in table.values() if t != end)
            self.succ[head] = (*sorted(counts, key=lambda t: (-counts[t], t)), end)
        preds = _predecessors(self.succ)
        self.live: list[frozenset[str]] = [frozenset()] * n
        self.tree = [0] * n  # instructions on all paths from pc, capped past _COPY_LIMIT
        for pc in range(n - 1, -1, -1):
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
            if kind == vm.RET_K:
                lines.append(f"{pad}return {k}")
                return
            if kind == vm.RET_A:
                lines.append(f"{pad}return a")
                return
            if kind == vm.DIV_X:
                # net/core/filter.c:bpf_convert_filter: division by an X of 0 returns 0.
                lines.append(f"{pad}if not x: return 0")
                lines.append(f"{pad}a //= x")
            elif kind in _STATEMENTS:
                lines.append(pad + _STATEMENTS[kind].format(k=k))
            if pc in self.chains:
                lines.append(f"{pad}j = _t{pc}.get(a, {self.chains[pc][1]})")
                for target in self.succ[pc][:-1]:
                    lines.append(f"{pad}if j == {target}:")
                    self.branch(target, depth + 1, lines)
                pc = self.succ[pc][-1]
            elif len(self.succ[pc]) == 2:
                inner, outer, text = (t, f, _CONDITIONS) if self.tree[t] <= self.tree[f] else (f, t, _NEGATED)
                lines.append(pad + "if " + text[kind].format(k=k) + ":")
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
        lines = [f"_t{head} = {table!r}" for head, (table, end) in self.chains.items()]
        lines.append("def _b(w):" if self.trampoline else "def f(w):")
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

    def source(self) -> str:
        text = self.emit()
        chain: dict[int, int] = {}
        for pc in sorted(self.callees, reverse=True):  # callees lie after their callers
            chain[pc] = 1 + max((chain[c] for c in self.callees[pc]), default=0)
        if chain[-1] <= _MAX_CALLS:
            return text
        self.trampoline = True
        return self.emit()


def source(prog: Sequence[Instruction]) -> str:
    """The Python source behind ``compiled(prog)``, for reading."""
    return _Emitter(vm.decoded(prog)).source()


def _build(prog: Program) -> Callable[[tuple[int, ...]], int]:
    """Source Python refuses to compile (not seen so far) falls back to the interpreter's loop."""
    code = vm.decoded(prog)
    try:
        namespace: dict = {}
        exec(compile(_Emitter(code).source(), f"<bpfsim compiled {prog.name or 'program'}>", "exec"), namespace)
        return namespace["f"]
    except (RecursionError, MemoryError, SyntaxError):
        return lambda words: vm._execute(code, words, None)


def compiled(prog: Sequence[Instruction]) -> Callable[[tuple[int, ...]], int]:
    """``f(words) -> int``, the value ``run(prog, data)`` returns for ``data.words()``; built once
    per Program. Raises ``VerifyError`` where the kernel would not load ``prog``."""
    return Program.of(prog).derived("compiled", _build)
