"""pytest plugin for sandbox authors: load filters, assert verdicts and whole policies.

A failing assertion shows the step trace of the filter that decided and what every other filter
returned, ranked as kernel/seccomp.c:seccomp_run_filters ranks them. Registered through the
``pytest11`` entry point ``bpfsim``; without installing bpfsim, use ``-p bpfsim.testing``.
The ``bpfsim_kernel`` fixture also runs a user's cases on the machine's own kernel: like the
tests, the plugin is an edge of the package, so it may use ``bpfsim.kernel`` (imported there only).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pytest

from . import abi
from . import opcodes as op
from .data import SeccompData
from .debugger import trace_stack
from .errors import FormatError
from .profiles import Kernel
from .program import Program, split_symbol, stack_files
from .seccomp import Action, FilterChain, Verdict

__all__ = ["assert_equivalent", "assert_no_findings", "assert_policy", "assert_verdict", "at_zero_args", "load_filters"]

Filters = Union[str, "os.PathLike[str]", Program, Iterable[Union[str, "os.PathLike[str]", Program]], FilterChain]
"""What the helpers accept as a stack: a path, a Program, a list of them (install order), a FilterChain."""
ActionName = Union[str, Action]
"""An action: ``"ALLOW"`` (any case), ``Action.ALLOW``."""
Expected = Union[ActionName, tuple[ActionName, Union[int, str]]]
"""An expected verdict: an action, or ``("ERRNO", errno)`` with the errno a number or a name."""


def _load_named(name: str | os.PathLike[str], base: str | os.PathLike[str] | None,
                symbol: str | None = None, **reading: Any) -> list[Program]:
    """The programs a filter name stands for, as on the command line: a file, ``FILE:SYMBOL``, or a
    directory ``bpfsim dump`` wrote (its filters in install order); relative to ``base``.
    ``reading``: ``Program.load``'s ``arch``, ``defines`` and ``byteorder``."""
    path, named = split_symbol(Path(base or ".") / name)
    return [Program.load(file, symbol=named or symbol, **reading) for file in stack_files(path)]


def load_filters(filters: Filters, base: str | os.PathLike[str] | None = None) -> list[Program] | FilterChain:
    """Paths (relative to ``base``; ``FILE:SYMBOL`` and dump directories as on the command line),
    Programs, a list of them, or a FilterChain, ready to evaluate."""
    if isinstance(filters, FilterChain):
        return filters
    if isinstance(filters, (str, os.PathLike, Program)):
        filters = [filters]
    return [prog for f in filters for prog in ([f] if isinstance(f, Program) else _load_named(f, base))]


def _nr(syscall: int | str, arch: str) -> int:
    if isinstance(syscall, int):
        return syscall
    from .syscalls import syscall_number
    return syscall_number(syscall, arch)


def _action(action: str | int) -> Action:
    if not isinstance(action, str):
        return Action(action)
    try:
        return Action[action.upper()]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(a.name for a in Action)}") from None


def _errno(value: int | str | None, arch: str) -> int | None:
    """An expected errno: a number, or a name numbered as ``arch`` numbers it (ENOSYS is 89 on mips)."""
    if not isinstance(value, str):
        return value
    try:
        return abi.errno_number(value, arch)
    except KeyError:
        raise ValueError(f"unknown errno name {value!r} for {arch}") from None


def _expected_text(action, errno: int | None, data: int | None, arch: str) -> str:
    text = _action(action).name
    if errno is not None:
        text += f" errno={errno} ({abi.errno_name(errno, arch)})"
    if data is not None:
        text += f" data={data}"
    return text


def _mismatch(verdict: Verdict, action, errno: int | None, data: int | None) -> bool:
    return (verdict.action != _action(action) or (errno is not None and verdict.errno != errno)
            or (data is not None and verdict.data != data))


def assert_verdict(filters: Filters, syscall: int | str, args: Iterable[int] = (), *, action: ActionName,
                   errno: int | str | None = None, data: int | None = None, arch: str = "x86_64", ip: int = 0,
                   kernel: Kernel | str | None = None,
                   tracer: bool = False, listener: int | None = None, threads: int = 1) -> Verdict:
    """Assert the stack's verdict for one call on ``kernel`` (a version string or ``Kernel``;
    default: the newest bpfsim models); on failure the message holds the deciding trace.
    ``errno`` may be a name (``"EACCES"``), numbered as ``arch`` numbers it."""
    __tracebackhide__ = True
    errno = _errno(errno, arch)
    call = SeccompData(syscall, arch, ip, args)
    stack = trace_stack(load_filters(filters), call, kernel=kernel, tracer=tracer, listener=listener,
                        threads=threads)
    if _mismatch(stack.verdict, action, errno, data):
        raise AssertionError(f"expected {_expected_text(action, errno, data, arch)}, got {stack.verdict!r}\n"
                             f"{stack.brief()}")
    return stack.verdict


def _expectation(value, arch: str) -> tuple[str, int | None]:
    """``"ALLOW"``, ``Action.ALLOW``, ``("ERRNO", errno.EACCES)`` or ``("ERRNO", "EACCES")`` as
    (action name, errno)."""
    if isinstance(value, tuple):
        name, err = value
        return _expectation(name, arch)[0], _errno(err, arch)
    return _action(value.name if isinstance(value, Action) else value).name, None


@dataclass(frozen=True)
class _AtZeroArgs:
    """An expectation about the call with every argument and the instruction pointer 0 only."""

    expected: object


def at_zero_args(expected: Expected) -> _AtZeroArgs:
    """In ``assert_policy``: check ``expected`` for the zero-argument call only, where a plain
    expectation must hold for every argument vector."""
    return _AtZeroArgs(expected)


def _expectations(value, arch: str):
    """One expectation (for every argument vector), one for zero arguments only, or a set of
    them: every verdict the arguments can produce."""
    if isinstance(value, _AtZeroArgs):
        return _AtZeroArgs(_expectation(value.expected, arch))
    if isinstance(value, (set, frozenset)):
        return frozenset(_expectation(v, arch) for v in value)
    return _expectation(value, arch)


def _satisfied(got: tuple[str, int | None], want: tuple[str, int | None]) -> bool:
    return got[0] == want[0] and (want[1] is None or got[1] == want[1])


def _possible(row, kernel: Kernel) -> set[tuple[str, int | None]]:
    """Every (action, errno) the row's possible return values give on ``kernel``; errno capped
    as kernel/seccomp.c:__seccomp_filter caps it (MAX_ERRNO)."""
    return {(Action.of(r, kernel).name, min(r & abi.SECCOMP_RET_DATA, abi.MAX_ERRNO)
             if Action.of(r, kernel) == Action.ERRNO else None) for r in row.possible}


def _shown(possibility, kernel: Kernel) -> tuple[str, int | None] | None:
    """(action name, errno) of one possible verdict, or None for a value computed from the input."""
    if possibility.verdict is not None:
        return possibility.verdict.action.name, possibility.verdict.errno
    ret = possibility.ret
    if ret is None:
        return None
    errno = min(ret & abi.SECCOMP_RET_DATA, abi.MAX_ERRNO) if Action.of(ret, kernel) == Action.ERRNO else None
    return Action.of(ret, kernel).name, errno


def _failing_input(row, want, arch: str, kernel: Kernel) -> tuple[SeccompData, str]:
    """The call to trace for a row that differs: an input of a verdict that was not expected,
    else the zero-argument call (what an ``at_zero_args`` expectation is about)."""
    if not isinstance(want, _AtZeroArgs):
        wanted = want if isinstance(want, frozenset) else (want,)
        for possibility in row.verdicts:
            shown = _shown(possibility, kernel)
            if possibility.witness is not None and (shown is None or not any(_satisfied(shown, w) for w in wanted)):
                return possibility.witness, "an input that gets it"
    return SeccompData(row.nr, arch), "all arguments 0"


def _row_problem(row, want, arch: str, kernel: Kernel) -> str | None:
    """Why ``row`` does not meet ``want``, or ``None`` when it does."""
    from .analysis import witness_text
    got = (row.action.name, row.errno)
    if isinstance(want, _AtZeroArgs):
        if _satisfied(got, want.expected):
            return None
        return (f"expected {_expected_text(*want.expected, None, arch)}, got {_expected_text(*got, None, arch)} "
                "for zero arguments")
    if not row.complete:
        return "not proved: the exploration ran out of budget before every verdict was known"
    if isinstance(want, tuple):
        for possibility in row.verdicts:
            shown = _shown(possibility, kernel)
            if shown is None or not _satisfied(shown, want):
                verdict = "a value computed from the arguments" if shown is None else _expected_text(*shown, None, arch)
                example = ("" if possibility.witness is None
                           else f", e.g. {witness_text(possibility.witness)}")
                when = ("for every argument" if possibility.condition == "always"
                        else f"when {possibility.condition}{example}")
                return f"expected {_expected_text(*want, None, arch)} for every argument, got {verdict} {when}"
        return None
    if row.unbounded:
        return "expected a set of verdicts, but some verdicts are computed from the arguments"
    possible = _possible(row, kernel)
    extra = [g for g in possible if not any(_satisfied(g, w) for w in want)]
    missing = [w for w in want if not any(_satisfied(g, w) for g in possible)]
    if not extra and not missing:
        return None
    shown = ", ".join(sorted(_expected_text(*g, None, arch) for g in possible))
    wanted = ", ".join(sorted(_expected_text(*w, None, arch) for w in want))
    return f"expected {{{wanted}}}, the arguments can give {{{shown}}}"


def assert_policy(filters: Filters,
                  expected: Mapping[int | str, Expected | set[Expected] | frozenset[Expected] | _AtZeroArgs], *,
                  arch: str = "x86_64",
                  default: Expected | set[Expected] | frozenset[Expected] | _AtZeroArgs | None = None,
                  kernel: Kernel | str | None = None) -> None:
    """Assert the policy table of ``arch`` on ``kernel`` (default: the newest) in one go.

    ``expected`` maps syscall names or numbers to ``"ALLOW"``, ``("ERRNO", "EACCES")`` or an
    ``Action`` (the verdict for every argument vector and instruction pointer, proved by
    exploring every path), to ``at_zero_args(...)`` of one (the zero-argument call only), or to
    a set of them (every verdict the arguments can produce); ``default``, if given, is expected
    of every syscall not named. A row whose exploration ran out of budget fails: nothing is guessed.
    """
    __tracebackhide__ = True
    from .analysis import policy_table
    stack = load_filters(filters)
    wanted = {_nr(k, arch): _expectations(v, arch) for k, v in expected.items()}
    fallback = None if default is None else _expectations(default, arch)
    wrong = []
    kernel = stack.kernel if kernel is None and isinstance(stack, FilterChain) else Kernel.of(kernel)
    for row in policy_table(list(stack), arch, kernel=kernel):
        want = wanted.pop(row.nr, fallback)
        problem = None if want is None else _row_problem(row, want, arch, kernel)
        if problem:
            wrong.append((row, problem, want))
    if wanted:
        missing = ", ".join(str(nr) for nr in wanted)
        raise AssertionError(f"no row for syscall number(s) {missing} in the {arch} policy table")
    if wrong:
        lines = [f"{len(wrong)} syscall(s) differ from the expected {arch} policy:"]
        lines += [f"  {row.name or row.nr:<20} {problem}" for row, problem, _ in wrong]
        row, _, want = wrong[0]
        call, which = _failing_input(row, want, arch, kernel)
        lines.append(f"the first one, traced with {which}:")
        lines.append(trace_stack(stack, call, kernel=kernel).brief())
        raise AssertionError("\n".join(lines))


def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object) -> list[str] | None:
    """A failed ``==`` between two programs: their listings side by side as a diff, line by line
    (pytest squeezes a multi-line repr into one line with literal newlines)."""
    if op != "==" or not (isinstance(left, Program) and isinstance(right, Program)):
        return None
    import difflib
    diff = difflib.unified_diff(left.listing().splitlines(), right.listing().splitlines(),
                                "left", "right", lineterm="", n=2)
    return [f"a {len(left)}-instruction program == a {len(right)}-instruction program", *list(diff)[2:]]


_IP_WORDS = frozenset({abi.OFFSET_IP, abi.OFFSET_IP + 4})


class KernelCheck:
    """The ``bpfsim_kernel`` fixture: each case judged by bpfsim and by this machine's kernel, which
    installs the stack in a throwaway thread and makes the call there (bpfsim.kernel; a call that
    is not harmless is stopped by a guard filter before it could do anything)."""

    def check(self, filters: Filters, syscall: int | str, args: Iterable[int] = (), *,
              arch: str = "x86_64") -> Verdict:
        """Assert that the kernel's calling thread sees what bpfsim's verdict says; return it."""
        __tracebackhide__ = True
        from . import kernel as live
        from .seccomp import evaluate
        programs = list(load_filters(filters))
        call = SeccompData(syscall, arch, 0, args)
        if abi.arch_name(call.arch) not in ("x86_64", "i386"):
            pytest.skip(f"this x86_64 kernel cannot make a call with arch {arch}")
        if any(insn.code == op.BPF_LD | op.BPF_W | op.BPF_ABS and insn.k in _IP_WORDS for p in programs for insn in p):
            call = call.replace(instruction_pointer=live.instruction_pointer(abi.arch_name(call.arch)))
        verdict = evaluate(programs, call)
        seen = live.run_calls(programs, [call])[0]
        if not seen.admits(verdict):
            raise AssertionError(f"the kernel saw {seen}, bpfsim says {verdict!r}\n"
                                 f"{trace_stack(programs, call).brief()}")
        return verdict


@pytest.fixture
def bpfsim_kernel() -> KernelCheck:
    """Check cases on the machine's kernel; skips, with the reason, where seccomp cannot be used."""
    from .kernel import seccomp_unavailable_reason
    reason = seccomp_unavailable_reason()
    if reason:
        pytest.skip(f"the machine's kernel cannot check bpfsim here: {reason}")
    return KernelCheck()


@pytest.fixture
def bpfsim_filter(request: pytest.FixtureRequest) -> Callable[..., Program]:
    """Load a filter file, any format, relative to the test file's directory; one of several in an
    ELF file or C source by ``FILE:SYMBOL`` or ``symbol=``, as on the command line, and the
    options of ``Program.load``: the filter's ``arch`` (for C and assembler text), ``defines``
    (a C source's -D macros) and ``byteorder`` (of raw records)."""
    base = Path(request.path).parent

    def load(path: str | os.PathLike[str], symbol: str | None = None, *, arch: str | None = None,
             defines: Mapping[str, str] | None = None, byteorder: str = "little") -> Program:
        found = _load_named(path, base, symbol, arch=arch, defines=defines, byteorder=byteorder)
        if len(found) > 1:
            raise FormatError(os.fsdecode(path), None, f"a stack of {len(found)} filters; name one of its files, "
                              f"or pass the directory to seccomp_chain or the assert helpers")
        return found[0]
    return load


@pytest.fixture
def seccomp_chain(request: pytest.FixtureRequest) -> Callable[..., FilterChain]:
    """Build a FilterChain from files (relative to the test file) or Programs, in install order."""
    base = Path(request.path).parent

    def build(*filters: str | os.PathLike[str] | Program, flags: int = 0,
              kernel: Kernel | str | None = None) -> FilterChain:
        chain = FilterChain(kernel=kernel)  # kernel: a version string or Kernel, default the newest
        for prog in load_filters(list(filters), base):
            chain.attach(prog, flags)
        return chain
    return build


def _names(syscalls, arch: str) -> set[int]:
    return {_nr(s, arch) for s in syscalls}


def assert_equivalent(old, new, *, except_for=(), arch: str = "x86_64", kernel=None) -> None:
    """Assert that ``new`` gives every call of ``arch`` the verdict ``old`` gives, for every
    argument vector (proved by exploring both stacks), except the syscalls in ``except_for``
    (names or numbers). A call whose exploration ran out of budget fails: nothing is guessed."""
    __tracebackhide__ = True
    from .differences import diff
    skipped = _names(except_for, arch)
    found = [d for d in diff(load_filters(old), load_filters(new), arch, kernel=kernel) if d.nr not in skipped]
    if found:
        lines = [f"{len(found)} syscall(s) of {arch} get another verdict:"]
        lines += ["  " + line for d in found for line in d.lines()]
        raise AssertionError("\n".join(lines))


def assert_no_findings(filters, *, allow=(), fail_on: str = "warning", arches=None, kernel=None) -> None:
    """Assert that ``bpfsim.lint`` finds nothing of severity ``fail_on`` or worse in ``filters``,
    except the finding kinds in ``allow`` (``allow=["dead-store"]``)."""
    __tracebackhide__ = True
    from .audit import KINDS, at_or_above, lint
    unknown = set(allow) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown finding kind(s) {', '.join(sorted(unknown))}; one of {', '.join(KINDS)}")
    found = [f for f in at_or_above(lint(load_filters(filters), arches, kernel=kernel), fail_on) if f.kind not in allow]
    if found:
        raise AssertionError("\n".join([f"{len(found)} finding(s):"] + [f"  {f}" for f in found]))
