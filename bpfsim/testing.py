"""pytest plugin for sandbox authors: load filters, assert verdicts and whole policies.

A failing assertion shows the step trace of the filter that decided and what every other filter
returned, ranked as kernel/seccomp.c:seccomp_run_filters ranks them. Registered through the
``pytest11`` entry point ``bpfsim``; without installing bpfsim, use ``-p bpfsim.testing``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from .data import SeccompData
from .debugger import trace_stack
from .errors import errno_name
from .program import Program
from .seccomp import Action, FilterChain, Verdict

__all__ = ["assert_policy", "assert_verdict", "load_filters"]


def load_filters(filters, base: str | os.PathLike | None = None) -> list[Program] | FilterChain:
    """Paths (relative to ``base``), Programs, a list of them, or a FilterChain, ready to evaluate."""
    if isinstance(filters, FilterChain):
        return filters
    if isinstance(filters, (str, os.PathLike, Program)):
        filters = [filters]
    return [f if isinstance(f, Program) else Program.load(Path(base or ".") / f) for f in filters]


def _nr(syscall: int | str, arch: str) -> int:
    if isinstance(syscall, int):
        return syscall
    from .syscalls import syscall_number
    return syscall_number(syscall, arch)


def _action(action: str | int) -> Action:
    return Action[action.upper()] if isinstance(action, str) else Action(action)


def _expected_text(action, errno: int | None, data: int | None) -> str:
    text = _action(action).name
    if errno is not None:
        text += f" errno={errno} ({errno_name(errno)})"
    if data is not None:
        text += f" data={data}"
    return text


def _mismatch(verdict: Verdict, action, errno: int | None, data: int | None) -> bool:
    return (verdict.action != _action(action) or (errno is not None and verdict.errno != errno)
            or (data is not None and verdict.data != data))


def assert_verdict(filters, syscall: int | str, args=(), *, action, errno: int | None = None,
                   data: int | None = None, arch: str = "x86_64", ip: int = 0, tracer: bool = False,
                   listener: int | None = None, threads: int = 1) -> Verdict:
    """Assert the stack's verdict for one call; on failure the message holds the deciding trace."""
    __tracebackhide__ = True
    call = SeccompData(syscall, arch, ip, args)
    stack = trace_stack(load_filters(filters), call, tracer=tracer, listener=listener, threads=threads)
    if _mismatch(stack.verdict, action, errno, data):
        pytest.fail(f"expected {_expected_text(action, errno, data)}, got {stack.verdict!r}\n"
                    f"{stack.brief()}", pytrace=False)
    return stack.verdict


def _expectation(value) -> tuple[str, int | None]:
    """``"ALLOW"``, ``Action.ALLOW`` or ``("ERRNO", errno.EACCES)`` as (action name, errno)."""
    if isinstance(value, tuple):
        name, err = value
        return _expectation(name)[0], err
    name = value.name if isinstance(value, Action) else str(value).upper()
    Action[name]  # an unknown name fails here, naming itself
    return name, None


def assert_policy(filters, expected: Mapping, *, arch: str = "x86_64", default=None) -> None:
    """Assert the policy table: each named syscall's action (and errno), and ``default`` for
    every syscall of ``arch`` not named; rows that depend on the arguments must be named."""
    __tracebackhide__ = True
    from .analysis import policy_table
    stack = load_filters(filters)
    wanted = {_nr(k, arch): _expectation(v) for k, v in expected.items()}
    fallback = None if default is None else _expectation(default)
    wrong = []
    for row in policy_table(list(stack), arch):
        entry = row.as_dict()
        want = wanted.pop(entry["nr"], fallback)
        if want is None:
            continue
        name, err = want
        got_err = entry["errno"]
        if entry["action"] != name or (err is not None and got_err != err):
            wrong.append((entry, want))
    if wanted:
        missing = ", ".join(str(nr) for nr in wanted)
        pytest.fail(f"no row for syscall number(s) {missing} in the {arch} policy table", pytrace=False)
    if wrong:
        lines = [f"{len(wrong)} syscall(s) differ from the expected {arch} policy:"]
        for entry, (name, err) in wrong:
            got = entry["action"] + ("" if entry["errno"] is None else f" errno={entry['errno']}")
            lines.append(f"  {entry['name'] or entry['nr']:<20} expected {_expected_text(name, err, None):<28} "
                         f"got {got}" + ("  (depends on the arguments)" if entry["depends_on_args"] else ""))
        first = wrong[0][0]
        lines.append("the first one, traced with all arguments 0:")
        lines.append(trace_stack(stack, SeccompData(first["nr"], arch)).brief())
        pytest.fail("\n".join(lines), pytrace=False)


@pytest.fixture
def bpfsim_filter(request):
    """Load a filter file, any format, relative to the test file's directory."""
    base = Path(request.path).parent

    def load(path: str | os.PathLike) -> Program:
        return Program.load(base / path)
    return load


@pytest.fixture
def seccomp_chain(request):
    """Build a FilterChain from files (relative to the test file) or Programs, in install order."""
    base = Path(request.path).parent

    def build(*filters, flags: int = 0) -> FilterChain:
        chain = FilterChain()
        for prog in load_filters(list(filters), base):
            chain.attach(prog, flags)
        return chain
    return build
