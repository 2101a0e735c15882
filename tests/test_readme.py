"""The README's examples are real: its REPL sessions run as doctests, its command lines run through
``cli.main`` and must print what the README shows, and its pytest example passes."""

import doctest
import re
import shlex
import shutil
from pathlib import Path

import pytest

from bpfsim import cli

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)


def _blocks(kind):
    return [text for language, text in BLOCKS if language == kind]


def _commands():
    """(argv, pipe, expected lines, exit status) for every ``$ bpfsim ...`` line of the console
    blocks; a last line ``[exit status N]`` gives a status other than 0."""
    found = []
    for block in _blocks("console"):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("$ bpfsim "):
                continue
            expected = []
            for following in lines[i + 1:]:
                if following.startswith("$ "):
                    break
                expected.append(following)
            status = 0
            if expected and re.fullmatch(r"\[exit status \d+\]", expected[-1]):
                status = int(expected.pop()[13:-1])  # a command that reports by its status (diff, lint)
            command, _, pipe = line[2:].partition(" | ")
            found.append(pytest.param(shlex.split(command)[1:], pipe, expected, status, id=command))
    return found


def test_repl_sessions(monkeypatch):
    """The pycon blocks are one session, in order, as a reader would type them."""
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = []
    for number, text in enumerate(_blocks("pycon")):
        test = doctest.DocTestParser().get_doctest(text, namespace, f"README pycon block {number}", "README.md", 0)
        runner.run(test, out=report.append, clear_globs=False)
        namespace = test.globs
    assert runner.tries > 0 and runner.failures == 0, "".join(report)


@pytest.mark.parametrize("argv, pipe, expected, status", _commands())
def test_command_line(argv, pipe, expected, status, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(argv) == status
    lines = capsys.readouterr().out.splitlines()
    if pipe:
        tool, count = pipe.split()
        count = int(count.lstrip("-n").lstrip("-"))
        lines = lines[:count] if tool == "head" else lines[-count:]
    assert [line.rstrip() for line in lines] == [line.rstrip() for line in expected]


def test_pytest_example(pytester):
    shutil.copy(ROOT / "corpus" / "bpfsim-demo-sandbox" / "filter.asm", pytester.path / "sandbox.asm")
    (python,) = _blocks("python")
    pytester.makepyfile(test_sandbox=python)
    result = pytester.runpytest("-p", "bpfsim.testing") if not _plugin_installed() else pytester.runpytest()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 3 and "failed" not in outcomes


def _plugin_installed() -> bool:
    from importlib.metadata import entry_points
    return any(ep.value == "bpfsim.testing" for ep in entry_points(group="pytest11"))
