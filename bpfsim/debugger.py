"""Step traces of a whole filter stack, and an interactive debugger over them.

``trace_stack`` runs every filter as kernel/seccomp.c:seccomp_run_filters does and explains each
branch and why the winner won; ``Debugger`` walks the traces both ways with breakpoints, and
``DebuggerShell`` is its command loop, modelled on the kernel's tools/bpf/bpf_dbg.
"""

from __future__ import annotations

import cmd
import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import abi
from . import opcodes as op
from . import semantics
from .data import SeccompData
from .errors import BpfsimError, DebuggerError
from .insn import Instruction, hex_or_dec
from .interpreter import Step, Trace, trace
from .formatter import PathFacts, compared_meaning, constant_meaning, format_listing
from .profiles import Kernel
from .program import Program
from .seccomp import FilterChain, Verdict, evaluate, precedence
from .target import Target

_LD_WORD = op.BPF_LD | op.BPF_W | op.BPF_ABS

# How a row's Python template reads in an explanation: registers by name, ``//`` as C's ``/``.
_TEMPLATE_WORDS = re.compile(r"w\[\{k\}\]|\{m\}|\{k\}|\b[ax]\b|//|\bnot ")
_SPELLED = {"//": "/", "not ": "!"}


def _render(template: str, names: dict[str, str]) -> str:
    """A row's template with each register, cell, word and constant replaced by ``names``."""
    return _TEMPLATE_WORDS.sub(lambda m: names.get(m.group(0)) or _SPELLED[m.group(0)], template)


def _value(value: int, field: int | None, data: SeccompData) -> str:
    """A value as the field it came from is read: an nr as ``SeccompData`` shows it (decimal
    below 0x10000) with its syscall, an arch with its AUDIT_ARCH name, anything else in hex."""
    named = constant_meaning(value, PathFacts(a_field=field), abi.arch_name(data.arch))
    shown = str(value) if field == abi.OFFSET_NR and value < 0x10000 else f"{value:#x}"
    return f"{shown} ({named})" if named else shown


def explain_step(step: Step, data: SeccompData, a_holds: int | None = None, *, before: Step | None = None) -> str:
    """Why this step did what it did, read from its row of the table of meaning
    (``semantics.ROWS``) and worked out with the step's values: the statement with the registers
    before it and the result, the comparison behind a branch, the exit a row takes, the return.

    ``a_holds`` is the seccomp_data offset A was loaded from, if any: a constant compared with
    the nr or the arch is then named. ``before`` is the previous step, needed where the row
    writes a register it reads (``None``: the first step, which starts from A = X = 0).
    """
    insn = step.insn
    kind, k, _, _ = semantics.decode((insn,))[0]  # the operand as seccomp runs it (#len is 64)
    row = semantics.ROWS[kind]
    # What the row read: a register it does not write still holds it; one it writes held what
    # the previous step left (A = X = 0 at the start). No row reads the cell it writes.
    a = (before.a if before else 0) if "a" in row.writes else step.a
    x = (before.x if before else 0) if "x" in row.writes else step.x
    mem, words = step.mem, data.words()
    field = insn.k if kind == semantics.LD_ABS else None  # the seccomp_data word it loads
    symbols = {"a": "A", "x": "X", "{k}": f"{k:#x}", "{m}": f"M[{insn.k}]"}
    if field is not None:
        symbols["w[{k}]"] = abi.field_name(field, data.byteorder)
    values = {**symbols, "a": f"{a:#x}", "x": f"{x:#x}"}
    labelled = {**symbols, "a": f"A={a:#x}", "x": f"X={x:#x}"}
    if "m" in row.reads:
        values["{m}"] = f"{mem[insn.k]:#x}"
        labelled["{m}"] = f"M[{insn.k}]={mem[insn.k]:#x}"
    if field is not None:
        values["w[{k}]"] = f"{words[k]:#x}"
    if step.ret is not None and row.exit_if:  # the row's exit taken (an X of 0 in a division)
        return (f"{_render(row.exit_if, labelled)}: {row.exit_reason}, "
                f"the filter returns 0 ({abi.describe_return(0)})")
    if row.is_return:
        source = f"{_render(row.result, labelled)} " if row.reads else ""
        return f"returns {source}{abi.describe_return(step.ret)}"
    if row.is_conditional:
        return _explain_branch(step, row, k, labelled, _a_named(insn, a_holds, data), (a, x, mem, words))
    if row.jump:
        return f"{insn} → pc {step.next_pc}"
    written, computed = row.assignment
    after = step.a if written == "a" else step.x if written == "x" else step.mem[insn.k]
    parts = [_render(computed, symbols)]
    concrete = _render(computed, values)
    if concrete not in parts and concrete != f"{after:#x}":
        parts.append(concrete)
    result = _value(after, field, data)
    if result not in parts:
        parts.append(result)
    text = f"{_render(written, symbols)} = " + " = ".join(parts)
    if row.exact is not None and semantics.value_of(row.exact, k, a, x, mem, words) != after:
        text += " (mod 2^32)"
    return text


def _a_named(insn: Instruction, a_holds: int | None, data: SeccompData) -> str:
    return compared_meaning(insn, PathFacts(a_field=a_holds), abi.arch_name(data.arch))


def _explain_branch(step: Step, row: semantics.Row, k: int, labelled: dict[str, str], named: str,
                    registers: tuple) -> str:
    """``jeq #0x3b: A=0x3b == 0x3b (execve) → true, pc 4``: the comparison that held, with its
    operands; a test whose value is not a truth (JSET's ``A & k``) shows that value."""
    insn = step.insn
    a, x, mem, words = registers
    value = semantics.value_of(row.condition, k, a, x, mem, words)
    if isinstance(value, bool):
        test = _render(row.condition if value else row.negation, labelled)
    else:
        test = f"{_render(row.condition, labelled)} = {value:#x}"
    if named:
        test += f" ({named})"
    operand = "x" if row.operand == "x" else f"#{hex_or_dec(insn.k)}"
    outcome = "true" if value else "false"
    if insn.jt == insn.jf:
        return f"{insn.opcode.mnemonic} {operand}: {test} → {outcome}; both branches go to pc {step.next_pc}"
    return f"{insn.opcode.mnemonic} {operand}: {test} → {outcome}, pc {step.next_pc}"


def _a_fields(run: Sequence[Step]) -> list[int | None]:
    """The seccomp_data offset A was loaded from when each step runs (``None``: computed)."""
    holds, fields = None, []
    for step in run:
        fields.append(holds)
        if step.insn.code == _LD_WORD:
            holds = step.insn.k
        elif semantics.writes_a(step.insn.code):
            holds = None
    return fields


def format_step(step: Step, data: SeccompData, before: Step | None, width: int = 0,
                a_holds: int | None = None) -> str:
    """One executed instruction: pc, text, A, X, the scratch cells it changed, and why
    (``before``: the previous step, ``None`` for the first)."""
    cells = step.changed_cells(before)
    why = explain_step(step, data, a_holds, before=before)
    registers = f"A={step.a:#x}".ljust(12) + " " + f"X={step.x:#x}".ljust(12) + (f" {cells}  " if cells else " ")
    line = f"{step.pc:>4}  {str(step.insn):<{width}}  {registers}" + (f"; {why}" if why else "")
    return line.rstrip()


def format_steps(run: Trace) -> list[str]:
    """The step trace of one filter, a line per executed instruction."""
    width = max((len(str(s.insn)) for s in run), default=0)
    return [format_step(step, run.data, before, width, holds)
            for step, before, holds in zip(run, [None, *run], _a_fields(run))]


@dataclass(frozen=True)
class StackTrace:
    """Every filter's trace for one call, the stack's verdict, and why the winning value won."""

    data: SeccompData
    traces: tuple[Trace, ...]
    verdict: Verdict

    @property
    def why(self) -> str:
        """Each filter's return ranked as the kernel ranks them, the chosen one marked."""
        if not self.verdict.returns:
            return self.verdict.reason
        ranked = sorted(range(len(self.traces)), key=lambda i: (precedence(self.traces[i].ret), -i))
        lines = ["the filters' returns ranked as the kernel ranks them, winner first: the lowest signed "
                 "action wins and ties go to the newest (kernel/seccomp.c:seccomp_run_filters):"]
        for i in ranked:
            ret = self.traces[i].ret
            mark = "  <- chosen" if i == self.verdict.filter else ""
            lines.append(f"  filter {i} returned {abi.describe_return(ret):<20} "
                         f"(s32 action {precedence(ret):#x}){mark}")
        if self.verdict.filter is None:
            lines.append("  no filter returned anything ranked below ALLOW, so the initial "
                         "SECCOMP_RET_ALLOW stands")
        return "\n".join(lines)

    def _text(self, shown) -> str:
        parts = [f"{self.data!r}"]
        if not self.verdict.returns:
            shown = ()  # the call never reached the filters
        for i in sorted(shown, reverse=True):
            run = self.traces[i]
            origin = f" ({run.program.name})" if run.program.name else ""
            parts.append(f"filter {i}{origin}:")
            parts.extend(format_steps(run))
            parts.append(f"  returned {abi.describe_return(run.ret)} ({run.ret:#010x})")
        parts.append(f"verdict: {self.verdict}\noutcome: {self.verdict.outcome}")
        parts.append(self.why)
        return "\n".join(parts)

    def brief(self) -> str:
        """Only the deciding filter's steps (every filter's when none decided), then the ranking."""
        return self._text([self.verdict.filter] if self.verdict.filter is not None else range(len(self.traces)))

    def __str__(self) -> str:
        return self._text(range(len(self.traces)))

    def __repr__(self) -> str:
        return f"<StackTrace {self.data!r}: {self.verdict!r}>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def _chain_options(filters, kernel, tracer: bool, listener: int | None, threads: int, after_trace: bool) -> dict:
    if isinstance(filters, FilterChain):
        listener = filters.listener if listener is None else listener
        threads = filters.threads
        kernel = filters.kernel if kernel is None else kernel
    return dict(kernel=kernel, tracer=tracer, listener=listener, threads=threads, after_trace=after_trace)


def trace_stack(filters: Sequence[Sequence[Instruction]] | FilterChain, data: SeccompData, *,
                kernel: Kernel | str | None = None, tracer: bool = False,
                listener: int | None = None, threads: int = 1, after_trace: bool = False) -> StackTrace:
    """Trace every filter (install order, oldest first) on ``data`` and evaluate the stack
    (the options are ``evaluate``'s)."""
    programs = [Program.of(f) for f in filters]
    verdict = evaluate(programs, data, **_chain_options(filters, kernel, tracer, listener, threads, after_trace))
    return StackTrace(data, tuple(trace(p, data) for p in programs), verdict)


# A breakpoint's operator is spelled as pseudo-C spells a jump's, and means what that jump's row
# says: its condition, or its negation for the operator of the false branch.
_TESTS = {symbol: row.negation if negated else row.condition
          for jump, pair in op.PSEUDO_C_COMPARISONS.items()
          for row in [semantics.ROWS[semantics.KIND_OF_CODE[op.BPF_JMP | jump | op.BPF_K]]]
          for symbol, negated in zip(pair, (False, True)) if symbol}
_OPERATORS = "|".join(re.escape(symbol) for symbol in sorted(_TESTS, key=len, reverse=True))
_CONDITION = re.compile(rf"^\s*(a|x|pc|m\[\s*(\d+)\s*\])\s*({_OPERATORS})\s*(\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    """``A == 0x3b``, ``M[2] & 4``, ``pc >= 7``: one register compared with a constant."""

    register: str
    cell: int | None
    operator: str
    value: int

    @classmethod
    def parse(cls, text: str) -> "Condition":
        match = _CONDITION.match(text)
        if not match:
            raise DebuggerError(f"cannot read condition {text!r}: write REG OP VALUE with REG one of "
                                f"A, X, M[i], pc and OP one of {' '.join(_TESTS)}")
        register, cell, operator, value = match.groups()
        if cell is not None and int(cell) >= op.BPF_MEMWORDS:
            raise DebuggerError(f"M[{cell}] does not exist (M[0]..M[{op.BPF_MEMWORDS - 1}])")
        number = _number(value)
        if not 0 <= number <= 0xFFFFFFFF:  # A, X and M[] are 32-bit, pc is below 4096
            raise DebuggerError(f"{value} can never match: registers hold 0..0xffffffff")
        return cls(register.lower()[0] if cell else register.lower(), None if cell is None else int(cell),
                   operator, number)

    def holds(self, pc: int | None, a: int, x: int, mem: Sequence[int | None]) -> bool:
        current = {"a": a, "x": x, "pc": pc, "m": None if self.cell is None else mem[self.cell]}[self.register]
        return current is not None and bool(semantics.value_of(_TESTS[self.operator], self.value, current, 0))

    def __str__(self) -> str:
        name = f"M[{self.cell}]" if self.cell is not None else self.register.upper().replace("PC", "pc")
        return f"{name} {self.operator} {self.value:#x}"


def _number(text: str) -> int:
    """A number as C writes it (``abi.c_integer``)."""
    try:
        return abi.c_integer(text)
    except ValueError as error:
        raise DebuggerError(str(error)) from None


class Debugger:
    """Step through a filter stack forwards and backwards, as bpf_dbg does for socket filters.

    The position counts executed instructions of the current filter (0 = before the first);
    ``a``, ``x``, ``mem`` and ``pc`` describe the machine there. Mutating methods return the
    debugger, so the REPL shows where it stopped.
    """

    def __init__(self, filters: Sequence[Sequence[Instruction]] | FilterChain, data: SeccompData, *,
                 kernel: Kernel | str | None = None, tracer: bool = False, listener: int | None = None,
                 threads: int = 1, after_trace: bool = False) -> None:
        self.programs = [Program.of(f) for f in filters]
        if not self.programs:
            raise DebuggerError("no filter to debug")
        self.options = _chain_options(filters, kernel, tracer, listener, threads, after_trace)
        self.breakpoints: list[int | Condition] = []
        self.filter = len(self.programs) - 1  # seccomp_run_filters starts with the newest
        self.stopped_by: str | None = None
        self.set_input(data)

    # -- input -------------------------------------------------------------------------------------
    def set_input(self, data: SeccompData | None = None, *, nr: int | str | None = None, args=None,
                  arg: tuple[int, int] | None = None, ip: int | None = None, arch=None) -> "Debugger":
        """Change the call (a syscall name is looked up in the arch's table) and rerun."""
        data = data or self.data
        if arch is not None:
            target = Target.of(arch)
            data = data.replace(nr=data.nr & ~abi.X32_SYSCALL_BIT if target.native_x86_64 else data.nr, arch=target)
        if nr is not None:
            # An x32 call stays one: its names and numbers are x32's (SeccompData adds the bit).
            data = data.replace(nr=_nr_or_name(nr), arch=data.target)
        if args is not None:
            data = data.replace(args=tuple(args))
        if arg is not None:
            index, value = arg
            if not 0 <= index < 6:
                raise DebuggerError(f"argument index {index} is not 0..5")
            data = data.replace(args=data.args[:index] + (value,) + data.args[index + 1:])
        if ip is not None:
            data = data.replace(instruction_pointer=ip)
        self.data = data
        return self.rerun()

    def rerun(self) -> "Debugger":
        """Run the stack again on the current input and go back to the start of the current filter."""
        self.stack = trace_stack(self.programs, self.data, **self.options)
        self.position = 0
        self.stopped_by = None
        return self

    def select(self, index: int) -> "Debugger":
        """Debug filter ``index`` (install order) from its start."""
        if not 0 <= index < len(self.programs):
            raise DebuggerError(f"no filter {index}: the stack has filters 0..{len(self.programs) - 1}")
        self.filter, self.position, self.stopped_by = index, 0, None
        return self

    # -- state -------------------------------------------------------------------------------------
    @property
    def trace(self) -> Trace:
        return self.stack.traces[self.filter]

    @property
    def program(self) -> Program:
        return self.programs[self.filter]

    @property
    def verdict(self) -> Verdict:
        return self.stack.verdict

    @property
    def finished(self) -> bool:
        return self.position == len(self.trace)

    @property
    def pc(self) -> int | None:
        """The next instruction to execute, ``None`` once the filter returned."""
        return None if self.finished else self.trace[self.position].pc

    @property
    def ret(self) -> int | None:
        return self.trace.ret if self.finished else None

    @property
    def last_step(self) -> Step | None:
        return self.trace[self.position - 1] if self.position else None

    @property
    def a(self) -> int:
        return self.last_step.a if self.position else 0

    @property
    def x(self) -> int:
        return self.last_step.x if self.position else 0

    @property
    def mem(self) -> tuple[int | None, ...]:
        """Scratch cells, ``None`` where nothing was stored yet (check_load_and_stores forbids reading them)."""
        return self.last_step.mem if self.position else (None,) * op.BPF_MEMWORDS

    def registers(self) -> str:
        where = f"pc={self.pc}" if not self.finished else f"returned {abi.describe_return(self.ret)} ({self.ret:#010x})"
        return f"A={self.a:#010x} X={self.x:#010x} {where}"

    def memory(self) -> str:
        return "  ".join(f"M[{i}]={'-' if v is None else f'{v:#x}'}" for i, v in enumerate(self.mem))

    # -- moving ------------------------------------------------------------------------------------
    def step(self, n: int = 1) -> "Debugger":
        """Execute ``n`` instructions (breakpoints do not stop a step)."""
        self.position = min(len(self.trace), self.position + max(n, 0))
        self.stopped_by = "returned" if self.finished else None
        return self

    def back(self, n: int = 1) -> "Debugger":
        """Undo ``n`` instructions; the trace keeps every earlier state."""
        self.position = max(0, self.position - max(n, 0))
        self.stopped_by = None
        return self

    def run(self) -> "Debugger":
        """Continue until a breakpoint's pc, a condition becoming true, or the return."""
        while not self.finished:
            held = self._holding()
            self.position += 1
            hit = self._hit(held)
            if hit:
                self.stopped_by = hit
                return self
        self.stopped_by = "returned"
        return self

    def _holding(self) -> set[int]:
        return {i for i, bp in enumerate(self.breakpoints)
                if isinstance(bp, Condition) and bp.holds(self.pc, self.a, self.x, self.mem)}

    def _hit(self, held: set[int]) -> str | None:
        for i, bp in enumerate(self.breakpoints):
            if isinstance(bp, int) and bp == self.pc:
                return f"breakpoint at pc {bp}"
            if isinstance(bp, Condition) and i not in held and bp.holds(self.pc, self.a, self.x, self.mem):
                return f"condition {bp}"
        return None

    # -- breakpoints -------------------------------------------------------------------------------
    def break_at(self, pc: int) -> int:
        """Stop ``run`` before the instruction at ``pc``; returns the breakpoint's number."""
        if not 0 <= pc < len(self.program):
            raise DebuggerError(f"pc {pc} is outside filter {self.filter} (0..{len(self.program) - 1})")
        self.breakpoints.append(pc)
        return len(self.breakpoints) - 1

    def break_if(self, condition: str) -> int:
        """Stop ``run`` where a condition such as ``"A == 0x3b"`` becomes true; returns its number."""
        self.breakpoints.append(Condition.parse(condition))
        return len(self.breakpoints) - 1

    def delete(self, number: int | None = None) -> None:
        """Remove breakpoint ``number``, or all of them."""
        if number is None:
            self.breakpoints.clear()
        elif 0 <= number < len(self.breakpoints):
            del self.breakpoints[number]
        else:
            raise DebuggerError(f"no breakpoint {number}")

    # -- text --------------------------------------------------------------------------------------
    def listing(self, around: int | None = None) -> str:
        """The current filter's listing with ``-->`` at pc and ``*`` at breakpoints; ``around``
        limits it to that many lines either side of pc."""
        marks = {bp: "*" for bp in self.breakpoints if isinstance(bp, int)}
        if self.pc is not None:
            marks[self.pc] = "*->" if self.pc in marks else "-->"
        lines = format_listing(self.program, arch=abi.arch_name(self.data.arch), marks=marks).split("\n")
        if around is None or self.pc is None:
            return "\n".join(lines)
        return "\n".join(lines[max(0, self.pc - around):self.pc + around + 1])

    def where(self) -> str:
        """The last executed step explained, then the next instruction or the return value."""
        lines = []
        if self.position:
            before = self.trace[self.position - 2] if self.position > 1 else None
            holds = _a_fields(self.trace[:self.position])[-1]
            lines.append(format_step(self.last_step, self.data, before, a_holds=holds))
        if self.finished:
            lines.append(f"filter {self.filter} returned {abi.describe_return(self.ret)} ({self.ret:#010x})")
        else:
            lines.append(f"{self.pc:>4}  {self.program[self.pc]}  <- next")
        return "\n".join(lines)

    def __str__(self) -> str:
        head = f"filter {self.filter} of {len(self.programs)}, {self.data!r}"
        return f"{head}\n{self.listing()}\n{self.registers()}"

    def __repr__(self) -> str:
        return f"<Debugger filter {self.filter}, step {self.position}/{len(self.trace)}, {self.registers()}>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def _nr_or_name(nr: int | str) -> int | str:
    try:
        return nr if isinstance(nr, int) else int(nr, 0)
    except ValueError:
        return nr


class DebuggerShell(cmd.Cmd):
    """The ``bpfsim debug`` command loop; writes only to the ``stdout`` it is given."""

    intro = "bpfsim debugger: step, back, run, break, list, regs, mem, set, filter, verdict, help, quit"
    prompt = "(bpfsim) "

    def __init__(self, debugger: Debugger, stdin=None, stdout=None):
        super().__init__(stdin=stdin, stdout=stdout)
        self.use_rawinput = stdin is None
        self.debugger = debugger

    def _say(self, text: str) -> None:
        self.stdout.write(text + "\n")

    def onecmd(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except (BpfsimError, ValueError) as error:
            self._say(f"error: {error}")
            return False

    def emptyline(self) -> bool:
        return False

    def get_names(self) -> list[str]:
        """The commands ``help`` lists: not ``EOF``, which is how cmd reports the end of input."""
        return [name for name in super().get_names() if name != "do_EOF"]

    def default(self, line: str) -> bool:
        self._say(f"unknown command {line.split()[0]!r}; type help")
        return False

    def _count(self, arg: str) -> int:
        count = _number(arg) if arg.strip() else 1
        if count < 1:
            raise DebuggerError(f"{count} is not a count of instructions (1 or more)")
        return count

    def do_step(self, arg: str) -> None:
        """step [N]: execute N instructions (default 1)."""
        self._say(self.debugger.step(self._count(arg)).where())

    do_s = do_step

    def do_back(self, arg: str) -> None:
        """back [N]: undo N instructions (default 1)."""
        self._say(self.debugger.back(self._count(arg)).where())

    def do_run(self, arg: str) -> None:
        """run: continue to the next breakpoint or to the return (alias: continue)."""
        debugger = self.debugger.run()
        if debugger.stopped_by != "returned":
            self._say(f"stopped: {debugger.stopped_by}")
        self._say(debugger.where())

    do_continue = do_c = do_run

    def do_break(self, arg: str) -> None:
        """break N | break if COND | break: stop before pc N, where COND becomes true (A == 0x3b), or list."""
        arg = arg.strip()
        if not arg:
            shown = [f"{i}: {'pc ' + str(bp) if isinstance(bp, int) else 'if ' + str(bp)}"
                     for i, bp in enumerate(self.debugger.breakpoints)]
            self._say("\n".join(shown) or "no breakpoints")
            return
        if arg.startswith("if "):
            number = self.debugger.break_if(arg[3:])
        else:
            number = self.debugger.break_at(_number(arg))
        self._say(f"breakpoint {number}: {arg}")

    do_b = do_breakpoint = do_break

    def do_delete(self, arg: str) -> None:
        """delete [N]: remove breakpoint N, or all."""
        self.debugger.delete(_number(arg) if arg.strip() else None)

    def do_regs(self, arg: str) -> None:
        """regs: A, X and pc (or the return value)."""
        self._say(self.debugger.registers())

    def do_mem(self, arg: str) -> None:
        """mem: the 16 scratch cells ('-' where nothing was stored)."""
        self._say(self.debugger.memory())

    def do_dump(self, arg: str) -> None:
        """dump: registers and scratch memory (bpf_dbg's name)."""
        self._say(f"{self.debugger.registers()}\n{self.debugger.memory()}")

    def do_list(self, arg: str) -> None:
        """list [all]: the listing around pc, or all of it."""
        if arg.strip() not in ("", "all"):
            raise DebuggerError(f"list takes nothing or 'all', not {arg.strip()!r}")
        self._say(self.debugger.listing(None if arg.strip() == "all" else 5))

    def do_disassemble(self, arg: str) -> None:
        """disassemble: the whole listing (bpf_dbg's name)."""
        self._say(self.debugger.listing())

    def do_set(self, arg: str) -> None:
        """set nr NR|NAME, set arg I VALUE, set ip VALUE, set arch ARCH: change the call and rerun."""
        words = arg.split()
        if len(words) == 2 and words[0] in ("nr", "ip", "arch"):
            key, value = words
            changes = {"nr": value} if key == "nr" else {"arch": value} if key == "arch" else {"ip": _number(value)}
        elif len(words) == 3 and words[0] == "arg":
            try:  # O_WRONLY|O_CREAT, numbered by the call's arch
                value = abi.argument_value(words[2], self.debugger.data.target.name)
            except ValueError as error:
                raise DebuggerError(str(error)) from None
            changes = {"arg": (_number(words[1]), value)}
        else:
            self._say("usage: set nr NR | set arg I VALUE | set ip VALUE | set arch ARCH")
            return
        self._say(repr(self.debugger.set_input(**changes).data))

    def do_rerun(self, arg: str) -> None:
        """rerun: start the current filter again."""
        self._say(self.debugger.rerun().where())

    def do_filter(self, arg: str) -> None:
        """filter [N]: debug filter N (install order; the newest runs first), or show which."""
        if arg.strip():
            self.debugger.select(_number(arg))
        self._say(f"filter {self.debugger.filter} of {len(self.debugger.programs)}\n{self.debugger.where()}")

    do_select = do_filter

    def do_verdict(self, arg: str) -> None:
        """verdict: the whole stack's verdict and why."""
        stack = self.debugger.stack
        self._say(f"verdict: {stack.verdict}\noutcome: {stack.verdict.outcome}\n{stack.why}")

    def do_quit(self, arg: str) -> bool:
        """quit: leave the debugger."""
        return True

    do_q = do_exit = do_quit

    def do_EOF(self, arg: str) -> bool:
        self._say("")
        return True
