"""THE table of instruction meaning: what each kind of seccomp instruction does once loaded.

A *kind* is an instruction after the kernel's load-time rewrites: ``seccomp_check_filter``
(kernel/seccomp.c) turns ``ld [k]`` into a 32-bit load of seccomp_data word ``k / 4`` and a
length load into the constant 64, and ``bpf_check_classic`` (net/core/filter.c) guarantees the
rest (constant divisors are not 0, constant shifts are below 32, cells exist, jumps land inside).
Each row gives the statement, the jump condition and its negation, the registers read and
written, the cost in the eBPF instructions ``bpf_convert_filter`` makes of it, and the kernel
function it follows. Its templates are Python over ``a``, ``x`` (the 32-bit registers), ``w``
(the seccomp_data words), ``{m}`` (the cell M[k]) and ``{k}`` (the operand constant).

Everything that executes or reasons about instructions reads this table: the interpreter's loops
are generated from it, the compiler emits its templates, the verifier counts its costs, the
listings follow which rows write A, and the debugger's explanations work its templates out with a
step's values (``value_of``). A new kernel rule about an instruction is written here, once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType

from . import opcodes as op
from .abi import SECCOMP_DATA_SIZE
from .insn import Instruction

M32 = 0xFFFFFFFF

# The kinds, numbered by how often they run in real filters (a syscall-number dispatch is a run of
# jeq; Docker's profile executes jeq in 876 of 888 steps of the bench's calls): generated dispatch
# tests them in this order.
(JEQ_K, LD_ABS, RET_K, JGE_K, JGT_K, JSET_K, AND_K, JA, LD_IMM, RET_A, LD_MEM, ST, OR_K, RSH_K,
 LSH_K, ADD_K, SUB_K, MUL_K, DIV_K, XOR_K, JEQ_X, JGT_X, JGE_X, JSET_X, ADD_X, SUB_X, MUL_X,
 DIV_X, AND_X, OR_X, XOR_X, LSH_X, RSH_X, NEG, LDX_IMM, LDX_MEM, STX, TAX, TXA) = range(39)


def _jump_cost(insn: Instruction) -> int:
    """bpf_convert_filter's conditional jump: one or two eBPF jumps (one when a branch falls
    through; JSET has no negation, so only ``jf == 0`` saves one), plus a move to a temporary when
    a K operand has its top bit set (eBPF would sign-extend the immediate)."""
    top_bit = op.BPF_SRC(insn.code) == op.BPF_K and insn.k & 0x80000000
    falls_through = insn.jf == 0 or (insn.jt == 0 and op.BPF_OP(insn.code) != op.BPF_JSET)
    return (1 if top_bit else 0) + (1 if falls_through else 2)


@dataclass(frozen=True, slots=True)
class Row:
    """One kind. ``statement``/``condition``/``result`` are templates (see the module docstring);
    ``exit_if`` is a condition under which the filter stops and returns 0, for the reason
    ``exit_reason``; ``exact`` is the value a statement that wraps computes before its cut to 32
    bits; ``reads``/``writes`` name ``a``, ``x`` and ``m`` (the cell M[k]); ``cost`` is an int or a
    function of the raw instruction; ``operand`` is ``"k"`` or ``"x"`` for a row with both sources,
    and ``operand_mask`` the mask its operand is used under (a shift's ``& 31``)."""

    kind: int
    name: str
    codes: tuple[int, ...]
    kernel: str
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    statement: str | None = None
    condition: str | None = None
    negation: str | None = None
    result: str | None = None
    exit_if: str | None = None
    exit_reason: str | None = None
    exact: str | None = None
    jump: bool = False
    operand: str | None = None
    operand_mask: int | None = None
    cost: int | Callable[[Instruction], int] = 1

    @property
    def is_conditional(self) -> bool:
        return self.condition is not None

    @property
    def is_return(self) -> bool:
        return self.result is not None

    def cost_of(self, insn: Instruction) -> int:
        return self.cost if isinstance(self.cost, int) else self.cost(insn)

    @property
    def assignment(self) -> tuple[str, str] | None:
        """A statement as (what it writes, the value it computes before any cut to 32 bits)."""
        if self.statement is None:
            return None
        written, value = self.statement.split(" = ", 1)
        return written, self.exact or value


_CONVERT = "net/core/filter.c:bpf_convert_filter"
_SHIFT_MASK = ("over-wide shift amounts are implementation-defined (kernel/bpf/core.c); the x86-64 and "
               "arm64 JITs and the interpreter use the amount modulo 32")


def _both_sources(kinds: tuple[int, int], name: str, code: int, kernel: str, *, expression: str | None = None,
                  condition: str | None = None, negation: str | None = None, wrap: bool = False,
                  operand_mask: int | None = None, zero_exits: bool = False,
                  cost: int | Callable[[Instruction], int] = 1) -> list[Row]:
    """One operation with its K and X variants: ``{v}`` in a template is the operand.

    ``wrap``: the result is cut to 32 bits. ``operand_mask``: the operand is used ``& mask``
    (bpf_check_classic already keeps a constant below it). ``zero_exits``: an X of 0 makes the
    filter return 0 (a constant 0 is refused by bpf_check_classic)."""
    rows = []
    for kind, source, operand in ((kinds[0], op.BPF_K, "{k}"), (kinds[1], op.BPF_X, "x")):
        if operand_mask is not None and source == op.BPF_X:
            operand = f"(x & {operand_mask})"
        fill = lambda text: None if text is None else text.replace("{v}", operand)  # noqa: E731
        statement = value = None
        if expression is not None:
            value = fill(expression)
            statement = f"a = ({value}) & {M32:#x}" if wrap else f"a = {value}"
        reads = frozenset({"a", "x"} if source == op.BPF_X else {"a"})
        rows.append(Row(kind, f"{name}_{'x' if source == op.BPF_X else 'k'}", (code | source,), kernel,
                        reads=reads, writes=frozenset({"a"}) if statement else frozenset(),
                        statement=statement, condition=fill(condition), negation=fill(negation),
                        exit_if="x == 0" if zero_exits and source == op.BPF_X else None,
                        exit_reason="division by zero" if zero_exits and source == op.BPF_X else None,
                        exact=value if wrap else None,
                        operand="x" if source == op.BPF_X else "k", operand_mask=operand_mask,
                        cost=5 if zero_exits and source == op.BPF_X else cost))
    return rows


def _alu(kinds, name, alu_op, expression, **rules) -> list[Row]:
    return _both_sources(kinds, name, op.BPF_ALU | alu_op, _CONVERT, expression=expression, **rules)


def _jmp(kinds, name, jmp_op, condition, negation) -> list[Row]:
    return _both_sources(kinds, name, op.BPF_JMP | jmp_op, _CONVERT, condition=condition, negation=negation,
                         cost=_jump_cost)


_A, _X, _M = frozenset({"a"}), frozenset({"x"}), frozenset({"m"})
_SECCOMP = "kernel/seccomp.c:seccomp_check_filter"

_ROWS: list[Row] = [
    Row(LD_ABS, "ld_abs", (op.BPF_LD | op.BPF_W | op.BPF_ABS,), _SECCOMP + " (a 32-bit load of seccomp_data)",
        writes=_A, statement="a = w[{k}]"),
    Row(LD_IMM, "ld_imm", (op.BPF_LD | op.BPF_W | op.BPF_IMM, op.BPF_LD | op.BPF_W | op.BPF_LEN),
        _SECCOMP + " (ld #len loads the constant 64)", writes=_A, statement="a = {k}"),
    Row(LDX_IMM, "ldx_imm", (op.BPF_LDX | op.BPF_W | op.BPF_IMM, op.BPF_LDX | op.BPF_W | op.BPF_LEN),
        _SECCOMP + " (ldx #len loads the constant 64)", writes=_X, statement="x = {k}"),
    Row(LD_MEM, "ld_mem", (op.BPF_LD | op.BPF_W | op.BPF_MEM,), _CONVERT, reads=_M, writes=_A, statement="a = {m}"),
    Row(LDX_MEM, "ldx_mem", (op.BPF_LDX | op.BPF_W | op.BPF_MEM,), _CONVERT, reads=_M, writes=_X,
        statement="x = {m}"),
    Row(ST, "st", (op.BPF_ST,), _CONVERT, reads=_A, writes=_M, statement="{m} = a"),
    Row(STX, "stx", (op.BPF_STX,), _CONVERT, reads=_X, writes=_M, statement="{m} = x"),
    Row(TAX, "tax", (op.BPF_MISC | op.BPF_TAX,), _CONVERT, reads=_A, writes=_X, statement="x = a"),
    Row(TXA, "txa", (op.BPF_MISC | op.BPF_TXA,), _CONVERT, reads=_X, writes=_A, statement="a = x"),
    Row(NEG, "neg", (op.BPF_ALU | op.BPF_NEG,), _CONVERT, reads=_A, writes=_A, statement=f"a = -a & {M32:#x}",
        exact="-a"),
    Row(JA, "ja", (op.BPF_JMP | op.BPF_JA,), _CONVERT, jump=True),
    # RET K is a move and an exit.
    Row(RET_K, "ret_k", (op.BPF_RET | op.BPF_K,), _CONVERT, result="{k}", cost=2),
    Row(RET_A, "ret_a", (op.BPF_RET | op.BPF_A,), _CONVERT, reads=_A, result="a"),
    *_alu((ADD_K, ADD_X), "add", op.BPF_ADD, "a + {v}", wrap=True),
    *_alu((SUB_K, SUB_X), "sub", op.BPF_SUB, "a - {v}", wrap=True),
    *_alu((MUL_K, MUL_X), "mul", op.BPF_MUL, "a * {v}", wrap=True),
    # "Error with exception code on div/mod by 0": the converted program returns 0 (a zero test,
    # the exit sequence and the division: five eBPF instructions).
    *_alu((DIV_K, DIV_X), "div", op.BPF_DIV, "a // {v}", zero_exits=True),
    *_alu((AND_K, AND_X), "and", op.BPF_AND, "a & {v}"),
    *_alu((OR_K, OR_X), "or", op.BPF_OR, "a | {v}"),
    *_alu((XOR_K, XOR_X), "xor", op.BPF_XOR, "a ^ {v}"),
    # Shift amounts: see _SHIFT_MASK.
    *_alu((LSH_K, LSH_X), "lsh", op.BPF_LSH, "a << {v}", wrap=True, operand_mask=31),
    *_alu((RSH_K, RSH_X), "rsh", op.BPF_RSH, "a >> {v}", operand_mask=31),
    *_jmp((JEQ_K, JEQ_X), "jeq", op.BPF_JEQ, "a == {v}", "a != {v}"),
    *_jmp((JGT_K, JGT_X), "jgt", op.BPF_JGT, "a > {v}", "a <= {v}"),
    *_jmp((JGE_K, JGE_X), "jge", op.BPF_JGE, "a >= {v}", "a < {v}"),
    *_jmp((JSET_K, JSET_X), "jset", op.BPF_JSET, "a & {v}", "not a & {v}"),
]

ROWS: tuple[Row, ...] = tuple(sorted(_ROWS, key=lambda row: row.kind))
"""``ROWS[kind]``: the row of each kind, in frequency order."""

KIND_OF_CODE: dict[int, int] = {code: row.kind for row in ROWS for code in row.codes}
"""The kind of each of the codes seccomp accepts."""

assert len(ROWS) == 39 and [row.kind for row in ROWS] == list(range(39))
assert set(KIND_OF_CODE) == op.SECCOMP_OPCODES


Decoded = tuple[tuple[int, int, int, int], ...]


def decode(prog: Sequence[Instruction]) -> Decoded:
    """(kind, operand, true target, false target) per pc of a *verified* program: the load-time
    rewrites applied (a word index for ``ld [k]``, 64 for ``#len``, a constant shift masked) and
    jump targets made absolute."""
    decoded = []
    for pc, insn in enumerate(prog):
        code, k = insn.code, insn.k
        kind = KIND_OF_CODE[code]
        if op.BPF_MODE(code) == op.BPF_LEN and op.BPF_CLASS(code) in (op.BPF_LD, op.BPF_LDX):
            k = SECCOMP_DATA_SIZE
        elif kind == LD_ABS:
            k //= 4
        elif ROWS[kind].operand == "k" and ROWS[kind].operand_mask is not None:
            k &= ROWS[kind].operand_mask
        targets = (pc + 1 + k, 0) if kind == JA else (pc + 1 + insn.jt, pc + 1 + insn.jf)
        decoded.append((kind, k, *targets))
    return tuple(decoded)


def converted_length(prog: Sequence[Instruction]) -> int:
    """The length of a verified ``prog`` after ``bpf_convert_filter`` (net/core/filter.c) made it
    eBPF, which seccomp_attach_filter counts against MAX_INSNS_PER_PATH: a prologue of three
    (A = 0, X = 0, save ctx) plus each row's cost. The count assumes JIT constant blinding is
    off (net.core.bpf_jit_harden=0), which changes it otherwise."""
    return 3 + sum(ROWS[KIND_OF_CODE[insn.code]].cost_of(insn) for insn in prog)


def successors(pc: int, insn: Instruction) -> tuple[int, ...]:
    """The pcs control may reach after ``insn`` at ``pc`` (true first), for any program, verified
    or not: none after a return, the jump targets after a jump (as the kernel computes them, so
    possibly past the end), else (an undefined code included) the next pc."""
    if insn.opcode is None:
        return (pc + 1,)
    if insn.is_return:
        return ()
    if insn.is_jump:
        return insn.jump_targets(pc)
    return (pc + 1,)


def entries(succ: Sequence[Sequence[int]]) -> list[int]:
    """For a forward-only flow graph given as each pc's successors, how many edges from
    reachable pcs enter each pc; pc 0 is reachable, and so is every pc with an entry. Targets
    past the end are ignored."""
    n = len(succ)
    count = [0] * n
    for pc in range(n):
        if pc == 0 or count[pc]:
            for target in succ[pc]:
                if target < n:
                    count[target] += 1
    return count


def reachable(prog: Sequence[Instruction]) -> list[bool]:
    """Which pcs the first instruction can reach (cBPF jumps only forward)."""
    count = entries([successors(pc, insn) for pc, insn in enumerate(prog)])
    return [pc == 0 or c > 0 for pc, c in enumerate(count)]


def writes_a(code: int) -> bool:
    """Whether an instruction of any classic code (seccomp's or not) may change A."""
    kind = KIND_OF_CODE.get(code)
    if kind is None:
        return op.BPF_CLASS(code) in (op.BPF_LD, op.BPF_ALU) or code not in op.OPCODES
    return "a" in ROWS[kind].writes


def step(kind: int, k: int, a: int, x: int, mem: list[int], words: Sequence[int]) -> tuple[int, int, bool | int | None]:
    """One instruction without its jump: ``(a, x, outcome)`` where ``outcome`` is the truth of a
    condition, the value returned by a return (or by an exit), else ``None``; ``mem`` is updated
    in place. For analyses that drive the table themselves; the interpreter runs generated code."""
    return _step_of(kind)(k, a, x, mem, words)


def _fill(text: str, k: str, cell: str) -> str:
    return text.replace("{k}", k).replace("{m}", cell)


@functools.cache
def _compiled(template: str) -> CodeType:
    return compile(_fill(template, "k", "mem[k]"), "<bpfsim.semantics template>", "eval")


def value_of(template: str, k: int, a: int, x: int, mem: Sequence[int | None] = (), words: Sequence[int] = ()) -> int | bool:
    """One of a row's templates (a condition, an ``exact``, an ``exit_if``) worked out for given
    registers: what explanations show beside the outcome, computed by the rule itself."""
    return eval(_compiled(template), {}, {"k": k, "a": a, "x": x, "mem": mem, "w": words})


def _step_source(row: Row) -> str:
    lines = [f"def _step_{row.name}(k, a, x, mem, w):"]
    if row.exit_if:
        lines.append(f"    if {row.exit_if}: return a, x, 0")
    if row.statement:
        lines.append("    " + _fill(row.statement, "k", "mem[k]"))
    if row.condition:
        lines.append(f"    return a, x, bool({_fill(row.condition, 'k', 'mem[k]')})")
    elif row.result:
        lines.append(f"    return a, x, {_fill(row.result, 'k', 'mem[k]')}")
    else:
        lines.append("    return a, x, None")
    return "\n".join(lines)


def _dispatch_case(row: Row, record: bool) -> list[str]:
    """The body of one kind in the interpreter's loop (indented for the loop's ``if`` chain).
    Locals: ``a``, ``x``, ``mem``, ``w``, ``k``, ``t``, ``f``, ``pc``. The plain loop moves ``pc``
    and goes straight back to the top; the recording one computes ``nxt`` and calls ``record(pc,
    a, x, mem, next_pc, ret)`` after the chain."""
    body: list[str] = []
    if row.exit_if:
        body.append(f"if {row.exit_if}:")
        if record:
            body.append("    record(pc, 0, x, mem, None, 0)")
        body.append("    return 0")
    if row.statement:
        body.append(_fill(row.statement, "k", "mem[k]"))
    if row.result:
        value = _fill(row.result, "k", "mem[k]")
        if record:
            body.append(f"record(pc, a, x, mem, None, {value})")
        body.append(f"return {value}")
        return body
    target = "nxt" if record else "pc"
    if row.condition:
        body.append(f"{target} = t if {_fill(row.condition, 'k', 'mem[k]')} else f")
    elif row.jump:
        body.append(f"{target} = t")
    else:
        body.append("nxt = pc + 1" if record else "pc += 1")
    if not record:
        body.append("continue")
    return body


def loop_source(name: str, record: bool) -> str:
    """Python source of an interpreter loop ``name(code, w[, record]) -> int`` over decoded code:
    one ``if`` per kind, most frequent first (the CPython cases-generator idea). Each kind of the
    plain loop ends in its own jump back, so the path of a ``jeq`` is: fetch, one test of the
    kind, the condition, the new pc."""
    head = f"def {name}(code, w, record):" if record else f"def {name}(code, w):"
    lines = [head, "    a = x = pc = 0", f"    mem = [0] * {op.BPF_MEMWORDS}", "    while True:",
             "        kind, k, t, f = code[pc]"]
    for index, row in enumerate(ROWS):
        keyword = "elif" if record and index else "if"
        lines.append(f"        {keyword} kind == {row.kind}:  # {row.name}")
        lines += ["            " + line for line in _dispatch_case(row, record)]
    if record:
        lines += ["        record(pc, a, x, mem, nxt, None)", "        pc = nxt"]
    return "\n".join(lines) + "\n"


# The generated code is compiled when first used, not at import: a command that never
# interprets (the policy table) does not pay for the loops, nor for the steps of kinds it meets.

def _generated(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<bpfsim.semantics generated>", "exec"), namespace)
    return namespace


@functools.cache
def _step_of(kind: int) -> Callable[..., tuple[int, int, bool | int | None]]:
    row = ROWS[kind]
    return _generated(_step_source(row))[f"_step_{row.name}"]


run_decoded: Callable[[Decoded, Sequence[int]], int]
"""The plain loop: the value a decoded program returns for seccomp_data ``words``."""
trace_decoded: Callable[..., int]
"""The recording loop: calls ``record(pc, a, x, mem, next_pc_or_None, ret_or_None)`` after each
instruction, then returns what ``run_decoded`` would."""


def __getattr__(name: str) -> object:
    """``run_decoded`` and ``trace_decoded``, generated on first use (PEP 562)."""
    if name not in ("run_decoded", "trace_decoded"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loops = _generated(loop_source("run_decoded", False) + "\n\n" + loop_source("trace_decoded", True))
    globals().update(run_decoded=loops["run_decoded"], trace_decoded=loops["trace_decoded"])
    return loops[name]
