"""What a user gets from the package: the license it declares, and the types a checker sees."""

import subprocess
import sys
import textwrap
import tomllib
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_license_file_is_the_declared_license():
    """setuptools ships LICENSE* files by default (its license_files patterns)."""
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_package_is_marked_typed():
    """PEP 561: without py.typed, mypy treats every bpfsim name as Any."""
    assert files("bpfsim").joinpath("py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["bpfsim"]


USER_TEST = textwrap.dedent('''
    import errno

    import bpfsim
    from bpfsim import FilterChain, Program, SeccompData, evaluate, run, trace
    from bpfsim.testing import assert_policy, assert_verdict

    def test_sandbox(bpfsim_filter: object) -> None:
        prog = Program.from_asm("ld [nr]\\njeq #59, 0, 1\\nret KILL_PROCESS\\nret ALLOW\\n", arch="x86_64")
        data = SeccompData("execve", "x86_64", 0, [0, 1])
        chain = FilterChain()
        chain.attach(prog)
        reveal_type(Program.load("sandbox.bpf"))
        reveal_type(prog[0])
        reveal_type(prog[1:])
        reveal_type(run(prog, data))
        reveal_type(evaluate([prog], data).outcome.siginfo)
        reveal_type(chain.evaluate(data).errno)
        reveal_type(trace(prog, data)[0])
        reveal_type(bpfsim.Kernel("6.1"))
        reveal_type(assert_verdict([prog], "openat", args=[0, 0, 1], action="ERRNO", errno=errno.EACCES))
        assert_policy([prog], {"execve": "KILL_PROCESS", "openat": {"ALLOW", ("ERRNO", "EACCES")}})
''')


def test_mypy_strict_sees_real_types_in_a_users_test_file(tmp_path):
    (tmp_path / "test_user.py").write_text(USER_TEST)
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
                           str(tmp_path / "cache"), "test_user.py"], cwd=tmp_path, capture_output=True, text=True)
    revealed = [line.split("Revealed type is ")[1] for line in done.stdout.splitlines() if "Revealed type" in line]
    assert done.returncode == 0 and "Success" in done.stdout, done.stdout
    assert revealed == ['"bpfsim.program.Program"', '"bpfsim.insn.Instruction"', '"bpfsim.program.Program"',
                        '"int"', '"bpfsim.seccomp.SigInfo | None"', '"int | None"', '"bpfsim.interpreter.Step"',
                        '"bpfsim.profiles.Kernel"', '"bpfsim.seccomp.Verdict"']
    assert not any("Any" in r for r in revealed)


def test_what_a_type_checker_sees_is_what_the_package_exports():
    """bpfsim imports its names on first use (PEP 562); its stub __init__.pyi must name the same."""
    import ast

    import bpfsim
    stub = ast.parse((ROOT / "bpfsim" / "__init__.pyi").read_text())
    seen = {(node.module, alias.asname) for node in stub.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}
    assert {name for _, name in seen} == set(bpfsim._HOMES)
    assert all(bpfsim._HOMES[name] == module for module, name in seen)
    assert "__init__.pyi" in PYPROJECT["tool"]["setuptools"]["package-data"]["bpfsim"]
