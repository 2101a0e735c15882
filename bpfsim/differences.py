"""What changed between two filter stacks: every syscall whose verdict differs for some input,
the condition on the input under which it differs, and inputs that show it.

Both stacks are explored for each syscall number (bpfsim/explore.py); a difference is a pair of
verdicts, one per side, whose conditions can hold at once. Each reported difference carries
inputs on which ``evaluate`` gives the two sides different verdicts; an exploration that runs
out of budget is reported as a difference not proved either way, never as "no difference".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import abi
from . import explore
from .analysis import EXPLORATION_BUDGET, input_with, witness_text
from .explore import work_counter
from .data import SeccompData
from .profiles import Kernel
from .seccomp import Action, Verdict, evaluate
from .syscalls import syscall_table
from .verifier import verified

_WITNESS_TRIES = 8  # conjunctions of one differing region tried for an input


def _seen(ret: int, kernel: Kernel) -> tuple:
    """What a caller can tell apart: the action taken and the 16 data bits."""
    return (Action.of(ret, kernel), ret & abi.SECCOMP_RET_DATA)


def _verdict_entry(value, kernel: Kernel) -> dict:
    """One member of a verdict set as ``diff --json`` prints it."""
    if type(value) is not int:
        return {"action": None, "errno": None, "data": None}  # computed from the input (ret a)
    action = Action.of(value, kernel)
    data = value & abi.SECCOMP_RET_DATA
    return {"action": action.name, "errno": min(data, abi.MAX_ERRNO) if action == Action.ERRNO else None,
            "data": data}


@dataclass(frozen=True, slots=True)
class Witness:
    """An input on which the two stacks' verdicts differ, with both verdicts."""

    data: SeccompData
    old: Verdict
    new: Verdict

    def as_dict(self) -> dict:
        return {"args": list(self.data.args), "instruction_pointer": self.data.instruction_pointer,
                "old": self.old.as_dict(), "new": self.new.as_dict()}


@dataclass(frozen=True, slots=True)
class Difference:
    """One syscall of one arch whose verdict differs between the stacks for some inputs.

    ``old``/``new``: every verdict each side can give this call (``diff --json``'s entries).
    ``condition``: where the verdicts differ, on the seccomp_data fields. ``witnesses``: inputs
    checked by ``evaluate`` on which they differ; empty only when ``complete`` is False (the
    exploration ran out of budget, so the difference is possible but not proved) or the
    differing region was found but no input for it (``condition`` then says "unconfirmed").
    """

    arch: str
    nr: int
    name: str | None
    old: tuple[dict, ...]
    new: tuple[dict, ...]
    condition: str
    witnesses: tuple[Witness, ...]
    complete: bool = True
    region: frozenset = field(default=frozenset(), repr=False, compare=False)

    def covers(self, data: SeccompData) -> bool:
        """Whether ``data`` (this arch and nr) lies in the reported region; an incomplete
        difference covers every input, since nothing was ruled out."""
        if (data.nr, abi.arch_info(data.arch).name) != (self.nr, abi.arch_info(self.arch).name):
            return False
        if not self.complete:
            return True
        words = dict(enumerate(data.words()))
        return any(all(explore.holds(lit, words) for lit in conj) for conj in self.region)

    def as_dict(self) -> dict:
        """``{"arch", "nr", "name", "old", "new", "condition", "witnesses"}`` (issue #15), then
        ``complete``."""
        return {"arch": self.arch, "nr": self.nr, "name": self.name, "old": list(self.old), "new": list(self.new),
                "condition": self.condition, "witnesses": [w.as_dict() for w in self.witnesses],
                "complete": self.complete}

    def lines(self) -> list[str]:
        """A ``diff -u``-like hunk: the verdicts only OLD gives (-), only NEW gives (+), both (space)."""
        def text(entry: dict) -> str:
            if entry["action"] is None:
                return "a value computed from the input"
            return abi.describe_return(getattr(abi, f"SECCOMP_RET_{entry['action']}") | entry["data"])
        out = [f"@@ {self.arch} {self.name or 'nr'} (nr {self.nr}) @@"]
        out += [f"-{text(e)}" for e in self.old if e not in self.new]
        out += [f"+{text(e)}" for e in self.new if e not in self.old]
        out += [f" {text(e)}" for e in self.old if e in self.new]
        out.append("  differ for every input" if self.condition == "always" else f"  differ when {self.condition}")
        out += [f"  e.g. {witness_text(w.data)}: {abi.describe_return(w.old.ret)} -> {abi.describe_return(w.new.ret)}"
                for w in self.witnesses[:3]]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _differing(old, new, data: SeccompData, outcomes_old: dict, outcomes_new: dict, kernel: Kernel, work):
    """The region where the two sides' verdicts can differ, and inputs that show it."""
    region: set = set()
    witnesses: dict = {}
    for old_value, old_dnf in outcomes_old.items():
        for new_value, new_dnf in outcomes_new.items():
            if type(old_value) is int and type(new_value) is int and _seen(old_value, kernel) == _seen(new_value, kernel):
                continue
            if old_value == new_value:
                continue  # the same computed value on both sides
            both = explore.conjoin(old_dnf, new_dnf, work)
            shown = None
            for conj in sorted(both, key=explore.conjunction_order)[:_WITNESS_TRIES]:
                for fill in (0, explore.M32):
                    words = explore.solve(conj, fill)
                    if words is None:
                        continue
                    candidate = input_with(words, data, fill)
                    got_old, got_new = evaluate(old, candidate, kernel=kernel), evaluate(new, candidate, kernel=kernel)
                    if _seen(got_old.ret, kernel) != _seen(got_new.ret, kernel):
                        shown = Witness(candidate, got_old, got_new)
                        break
                if shown:
                    break
            region |= both  # without an input, still reported: "unconfirmed", never "no difference"
            if shown is not None:
                witnesses.setdefault((_seen(shown.old.ret, kernel), _seen(shown.new.ret, kernel)), shown)
    return explore.simplify(region), tuple(witnesses.values())


def syscall_difference(old: Sequence, new: Sequence, nr: int, arch: str = "x86_64", name: str | None = None, *,
                       kernel: Kernel | str | None = None, budget: int = EXPLORATION_BUDGET) -> Difference | None:
    """How the verdicts of ``old`` and ``new`` (stacks, install order) for one call differ, or
    None when they are the same for every input."""
    kernel = Kernel.of(kernel)
    old, new = [verified(f) for f in old], [verified(f) for f in new]
    data = SeccompData(nr, arch)
    zero_old, zero_new = evaluate(old, data, kernel=kernel), evaluate(new, data, kernel=kernel)
    if zero_old.filter is None and not zero_old.returns:
        return None  # the call bypasses every filter on this kernel, on both sides
    work = work_counter(budget)
    try:
        outcomes_old = explore.stack_outcomes(old, data.words(), work)
        outcomes_new = explore.stack_outcomes(new, data.words(), work)
    except explore.BudgetExhausted:
        shown = ((Witness(data, zero_old, zero_new),) if _seen(zero_old.ret, kernel) != _seen(zero_new.ret, kernel)
                 else ())
        return Difference(arch, nr, name, (_verdict_entry(zero_old.ret, kernel),), (_verdict_entry(zero_new.ret, kernel),),
                          "not proved: the exploration ran out of budget", shown, complete=False)
    region, witnesses = _differing(old, new, data, outcomes_old, outcomes_new, kernel, work)
    if not region:
        return None
    condition = explore.condition_text(region, data.byteorder)
    if not witnesses:
        condition += " (unconfirmed: no input found)"
    entries = lambda outcomes: tuple(dict(t) for t in dict.fromkeys(  # noqa: E731
        tuple(_verdict_entry(v, kernel).items()) for v in sorted(outcomes, key=repr)))
    return Difference(arch, nr, name, entries(outcomes_old), entries(outcomes_new), condition, witnesses,
                      region=frozenset(region))


def diff(old: Sequence, new: Sequence, arches: str | Iterable[str] = "x86_64", *,
         kernel: Kernel | str | None = None, numbers: Iterable[int] | None = None,
         budget: int = EXPLORATION_BUDGET) -> list[Difference]:
    """Every syscall × arch whose verdict differs between ``old`` and ``new`` (stacks, install
    order) for some input, on ``kernel`` (default: the newest bpfsim models). ``numbers``
    limits the syscall numbers looked at (default: every number in each arch's table)."""
    kernel = Kernel.of(kernel)
    old, new = [verified(f) for f in old], [verified(f) for f in new]
    found = []
    for arch in ([arches] if isinstance(arches, str) else arches):
        table = syscall_table(arch)
        for nr in (table if numbers is None else numbers):
            difference = syscall_difference(old, new, nr, arch, table.get(nr), kernel=kernel, budget=budget)
            if difference is not None:
                found.append(difference)
    return found
