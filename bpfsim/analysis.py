"""Questions about filters answered for every input at once: the policy table of a filter stack.

For each syscall number of an architecture the stack's verdict is computed as ``evaluate`` does
(kernel/seccomp.c:seccomp_run_filters) for zero arguments, and the stack is explored (bpfsim/
explore.py) with nr and arch fixed and the instruction pointer and argument words unknown: every
verdict the call can get, the condition on those words under which it gets it, and an input
that shows it, checked by ``evaluate``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from . import abi
from . import explore
from .data import SeccompData
from .profiles import Kernel
from .program import Program
from .seccomp import Action, Verdict, evaluate
from .syscalls import syscall_table
from .target import Target
from .verifier import verified

EXPLORATION_BUDGET = explore.DEFAULT_BUDGET
_WITNESS_TRIES = 8  # conjunctions of one condition tried for an input


def input_with(words: dict, data: SeccompData, fill: int) -> SeccompData:
    """``data`` with its unknown words set to ``words``, the others to ``fill``."""
    values = [words.get(i, fill) for i in range(16)]
    values[:explore.KNOWN_WORDS] = data.words()[:explore.KNOWN_WORDS]
    order = "<" if data.byteorder == "little" else ">"
    return SeccompData.from_bytes(struct.pack(order + "16I", *values), byteorder=data.byteorder)


def _shown_by(programs, value, dnf, data: SeccompData, kernel: Kernel) -> tuple[SeccompData, Verdict] | None:
    """An input meeting ``dnf`` on which the stack returns ``value`` (for a computed value: the
    value computed), or None when none was found."""
    if explore.TRUE == dnf or frozenset() in dnf:
        tries = [(frozenset(), 0)]
    else:
        tries = [(conj, fill) for conj in sorted(dnf, key=explore.conjunction_order)[:_WITNESS_TRIES]
                 for fill in (0, explore.M32)]
    for conj, fill in tries:
        words = explore.solve(conj, fill)
        if words is None:
            continue
        candidate = input_with(words, data, fill)
        verdict = evaluate(programs, candidate, kernel=kernel)
        wanted = value if type(value) is int else explore.evaluate_term(value, words, fill)
        if verdict.ret == wanted:
            return candidate, verdict
    return None


@dataclass(frozen=True, slots=True)
class Possibility:
    """One verdict a syscall can get, the condition under which the stack chooses it, and an
    input that shows it (``witness``, with ``verdict`` from ``evaluate``; both None when the
    exploration found the condition possible but no input for it: an unconfirmed verdict).
    ``ret`` is None for a value the filter computes from the arguments (``ret a``)."""

    ret: int | None
    condition: str
    witness: SeccompData | None
    verdict: Verdict | None

    def __str__(self) -> str:
        """``ERRNO(13) when args[2] & 0x40 != 0, e.g. args[2]=0x40``."""
        if self.ret is None:
            shown = "a value computed from the input"
        else:
            shown = abi.describe_return(self.ret)
        example = "no input found (unconfirmed)" if self.witness is None else f"e.g. {witness_text(self.witness)}"
        return f"{shown} when {self.condition}, {example}"

    def as_dict(self) -> dict:
        """``{"action", "data", "errno", "ret", "condition", "witness"}``, witness as lint's."""
        if self.verdict is not None:
            shown = {k: v for k, v in self.verdict.as_dict().items() if k != "filter"}
        elif self.ret is not None:
            shown = {"action": Action.of(self.ret).name, "data": self.ret & abi.SECCOMP_RET_DATA, "errno": None,
                     "ret": self.ret}
        else:
            shown = {"action": None, "data": None, "errno": None, "ret": None}
        return {**shown, "condition": self.condition, "witness": witness_dict(self.witness, self.verdict)}


def witness_text(data: SeccompData) -> str:
    """The fields of an input that are not 0: ``args[2]=0x40 ip=0x1000``, or ``all arguments 0``."""
    fields = [f"args[{i}]={v:#x}" for i, v in enumerate(data.args) if v]
    if data.instruction_pointer:
        fields.append(f"instruction_pointer={data.instruction_pointer:#x}")
    return " ".join(fields) or "all arguments 0"


def witness_dict(data: SeccompData | None, verdict: Verdict | None) -> dict | None:
    """A witness input as the JSON outputs show it: ``{"arch", "nr", "args",
    "instruction_pointer", "verdict"}``, ``verdict`` as ``eval --json`` prints it."""
    if data is None:
        return None
    return {"arch": abi.arch_name(data.arch) or data.arch, "nr": data.nr,
            "args": list(data.args), "instruction_pointer": data.instruction_pointer,
            "verdict": None if verdict is None else verdict.as_dict()}


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """The verdict of a filter stack for one syscall number, for zero arguments and ip 0, and
    every verdict the arguments and instruction pointer can give it.

    ``verdicts``: one ``Possibility`` per value the stack can choose, with its condition and an
    input that shows it (the zero-argument verdict first). ``complete`` is False when the
    exploration ran out of budget: then ``verdicts`` may miss some, and ``depends_on_args`` is
    True because nothing was proved. Otherwise ``depends_on_args`` False is a proof that no
    input gives another verdict (action or data). ``possible``: the values in ``verdicts``
    that are constants; ``unbounded``: some value is computed from the arguments, or the
    exploration was incomplete. ``witnesses``: the inputs of ``verdicts`` with distinct verdicts.
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
    verdicts: tuple[Possibility, ...] = ()
    complete: bool = True

    @property
    def confirmed(self) -> bool:
        """Every verdict listed has an input that ``evaluate`` confirms, and none is missing."""
        return self.complete and all(p.witness is not None for p in self.verdicts)

    def csv_rows(self) -> list[dict]:
        """One CSV record per verdict: the CONTRACT.md columns, then ``complete`` and the verdict's."""
        head = {k: v for k, v in self.as_dict().items() if k != "verdicts"}
        return [{**head, "verdict": "computed" if p.ret is None else abi.describe_return(p.ret),
                 "verdict_errno": None if p.verdict is None else p.verdict.errno, "condition": p.condition,
                 "witness": "" if p.witness is None else witness_text(p.witness)} for p in self.verdicts]

    def as_dict(self) -> dict:
        """The object ``bpfsim table --json`` prints: the CONTRACT.md keys, then ``complete``
        and ``verdicts`` (each with its condition and witness)."""
        return {"nr": self.nr, "name": self.name, "action": self.action.name, "data": self.data,
                "errno": self.errno, "depends_on_args": self.depends_on_args, "complete": self.complete,
                "verdicts": [p.as_dict() for p in self.verdicts]}


def _key(ret, kernel: Kernel) -> tuple:
    return (Action.of(ret, kernel), ret & abi.SECCOMP_RET_DATA)


def _pinned_literals(pinned: dict[int, int], byteorder: str) -> list:
    """``args[i] == value`` for each pinned argument, as literals on its two seccomp_data words."""
    literals = []
    for index, value in pinned.items():
        low = (abi.offset_of_arg(index) // 4) + (0 if byteorder == "little" else 1)
        high = low + 1 if byteorder == "little" else low - 1
        literals += [explore.literal(("w", low), "==", value & explore.M32),
                     explore.literal(("w", high), "==", value >> 32)]
    return literals


def _restricted(dnf, literals) -> set:
    """The conjunctions of ``dnf`` that can hold together with every literal of ``literals``."""
    kept = set()
    for conj in dnf:
        for lit in literals:
            conj = explore.add_literal(conj, lit)
            if conj is None:
                break
        else:
            kept.add(conj)
    return kept


def stack_possibilities(programs: Sequence[Program], data: SeccompData, verdict: Verdict, kernel: Kernel,
                        budget: int = EXPLORATION_BUDGET,
                        pinned: dict[int, int] | None = None) -> tuple[list[Possibility], bool]:
    """Every value the stack can choose for ``data``'s nr and arch (and the ``pinned`` arguments,
    index → value, which ``data`` holds), with its condition and a witness (the verdict of
    ``data`` first), and whether the exploration was complete."""
    if verdict.filter is None and not verdict.returns:  # a call that bypasses the filters
        return [Possibility(verdict.ret, "always", data, verdict)], True
    outcomes = None
    if budget >= sum(len(p) + 1 for p in programs):  # the work it saves cannot exhaust the budget
        outcomes = explore.decided_outcomes(programs, data.words())
    try:
        if outcomes is None:
            outcomes = explore.stack_outcomes(programs, data.words(), explore.work_counter(budget))
    except explore.BudgetExhausted:
        return [Possibility(verdict.ret, "some inputs (the exploration ran out of budget)", data, verdict)], False
    if pinned:
        literals = _pinned_literals(pinned, data.byteorder)
        outcomes = {value: kept for value, dnf in outcomes.items() if (kept := _restricted(dnf, literals))}
    found = []
    for value, dnf in sorted(outcomes.items(), key=lambda item: (type(item[0]) is not int, repr(item[0]))):
        condition = explore.condition_text(dnf, data.byteorder)
        if value == verdict.ret:
            found.append(Possibility(verdict.ret, condition, data, verdict))
            continue
        shown = _shown_by(programs, value, dnf, data, kernel)
        if type(value) is not int:
            condition = f"{condition} (returns {explore.term_text(value, data.byteorder)})"
        found.append(Possibility(value if type(value) is int else None, condition, *(shown or (None, None))))
    first = next((p for p in found if p.witness == data), None)
    if first is None:  # the zero-argument value is computed, and its own witness was another input
        computed = [p.condition for p in found if p.ret is None]
        first = Possibility(verdict.ret, " or ".join(computed) or "always", data, verdict)
    else:
        found.remove(first)
    return [first, *found], True


def policy_row(programs: Sequence[Program], nr: int, arch="x86_64", name: str | None = None, *,
               kernel: Kernel | str | None = None, budget: int = EXPLORATION_BUDGET,
               pinned: dict[int, int] | None = None) -> PolicyRow:
    """One row of the policy table: the verdict for ``nr`` on ``kernel`` and every other verdict
    its arguments can give; with ``pinned`` (argument index → value), for those arguments only
    (socketcall's verdicts for one call, args[0] == SYS_CONNECT)."""
    kernel = Kernel.of(kernel)
    programs = [verified(f) for f in programs]
    pinned = pinned or {}
    data = SeccompData(nr, arch, args=[pinned.get(i, 0) for i in range(6)] if pinned else ())
    verdict = evaluate(programs, data, kernel=kernel)
    found, complete = stack_possibilities(programs, data, verdict, kernel, budget, pinned)
    possible = tuple(sorted({p.ret for p in found if p.ret is not None}))
    unbounded = not complete or any(p.ret is None for p in found)
    depends = unbounded or len(possible) > 1 and len({_key(r, kernel) for r in possible}) > 1
    witnesses, seen = [], set()
    for p in found:
        if p.verdict is not None and (key := _key(p.verdict.ret, kernel)) not in seen:
            seen.add(key)
            witnesses.append(p.witness)
    return PolicyRow(nr, name, verdict.action, verdict.data, verdict.errno, depends, verdict.ret, verdict.filter,
                     possible, unbounded, tuple(witnesses), tuple(found), complete)


def policy_table(filters: Sequence, arch="x86_64", *, kernel: Kernel | str | None = None,
                 budget: int = EXPLORATION_BUDGET) -> list[PolicyRow]:
    """The verdict of ``filters`` (install order) on ``kernel`` (default: the newest bpfsim
    models) for every syscall number in ``arch``'s table.

    The arch word is fixed to that arch's AUDIT_ARCH value, so only its own numbers are listed
    (``"x32"`` lists x32's numbers, with the x32 bit, under AUDIT_ARCH_X86_64). ``budget``:
    units of exploration work per number, over the whole stack, before a row is reported as
    incomplete.
    """
    programs = [verified(f) for f in filters]
    kernel = Kernel.of(kernel)
    target = Target.of(arch)  # resolved once for every row's input
    return [policy_row(programs, nr, target, name, kernel=kernel, budget=budget)
            for nr, name in syscall_table(arch).items()]
