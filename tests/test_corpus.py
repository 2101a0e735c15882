"""The corpus: every verdict the real kernel gave for a corpus filter must be bpfsim's too, and
every corpus directory follows the conventions of corpus/README.md.

The cases were recorded by tools/record_corpus.py through bpfsim.kernel; only what the kernel
made observable is compared (for example LOG and ALLOW are one observation).
"""

import gzip
import json
import re
import signal
import sys
from errno import ENOMEM
from functools import lru_cache
from pathlib import Path

import pytest

from bpfsim import Action, FilterChain, Program, SeccompData, SeccompError, abi, evaluate
from bpfsim import opcodes as op
from bpfsim.cli import main
from bpfsim.semantics import converted_length

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SPECIAL = {"all_instructions", "regressions", "lab"}  # lab: tests/test_lab_corpus.py
NAME = re.compile(r"^[a-z0-9][a-z0-9_.]*(-[a-z0-9][a-z0-9_.]*)+$")
MAX_INSNS_PER_PATH = (1 << 18) // 8  # kernel/seccomp.c
SYS_SECCOMP = 1  # si_code of a seccomp SIGSYS (include/uapi/asm-generic/siginfo.h)
FORMS = ("filter.bpf", "filter.asm", "filter.c", "filter.elf")
CASE_DIRS = sorted(d for d in CORPUS.iterdir() if d.is_dir() and d.name not in SPECIAL)
RECORDED = [d for d in CASE_DIRS if (d / "cases.json.gz").exists() or (d / "cases.json").exists()]


def stack(case_dir: Path) -> list[Path]:
    """The filter files in install order: ``filter.bpf`` alone, or ``filter-0.bpf``, ``filter-1.bpf``, …"""
    if (case_dir / "filter.bpf").exists():
        return [case_dir / "filter.bpf"]
    return sorted(case_dir.glob("filter-*.bpf"), key=lambda p: int(p.stem.split("-")[1]))


def load_cases(case_dir: Path) -> dict:
    path = case_dir / "cases.json.gz"
    if path.exists():
        with gzip.open(path, "rt") as data:
            return json.load(data)
    return json.loads((case_dir / "cases.json").read_text())


@lru_cache(maxsize=None)
def admitted(expect: str) -> tuple[tuple[str, int | None], ...]:
    """``"ERRNO(0)|ALLOW"`` → (("ERRNO", 0), ("ALLOW", None))."""
    out = []
    for part in expect.split("|"):
        name, _, data = part.partition("(")
        out.append((name, int(data[:-1]) if data else None))
    return tuple(out)


def agrees(verdict, expect: str) -> bool:
    if expect == "NOT_FILTERED":  # uretprobe/uprobe never reach the filters
        return verdict.filter is None and verdict.action == Action.ALLOW
    seen = verdict.errno if verdict.action == Action.ERRNO else verdict.data
    return any(name == verdict.action.name and (data is None or data == seen)
               for name, data in admitted(expect))


def outcome_agrees(verdict, data: SeccompData) -> bool:
    """What the calling thread saw: the return value, the siginfo of a TRAP (the recorder checked
    that the kernel's describes the call itself), which of two threads a kill took."""
    out, action = verdict.outcome, verdict.action
    if action == Action.ERRNO:
        return out.runs is False and out.retval == -verdict.errno
    if action == Action.TRAP:
        info = out.siginfo
        return (info.si_signo, info.si_code, info.si_errno, info.si_syscall, info.si_arch, info.si_call_addr) == (
            signal.SIGSYS, SYS_SECCOMP, verdict.data, data.nr, data.arch, data.instruction_pointer)
    if action in (Action.KILL_THREAD, Action.KILL_PROCESS):
        return out.signal == signal.SIGSYS and out.killed == ("thread" if action == Action.KILL_THREAD else "process")
    return out.runs is True


@pytest.mark.parametrize("case_dir", RECORDED, ids=[d.name for d in RECORDED])
def test_bpfsim_gives_every_verdict_the_kernel_gave(case_dir):
    recorded = load_cases(case_dir)
    assert [p.name for p in stack(case_dir)] == recorded["filters"]
    programs = [Program.from_bytes(p.read_bytes(), name=str(p)) for p in stack(case_dir)]
    ips = recorded["instruction_pointer"]
    wrong = []
    for arch, nr, args, expect in recorded["cases"]:
        data = SeccompData(nr - (1 << 32) if nr >= 1 << 31 else nr, arch, ips[arch], args)
        verdict = evaluate(programs, data, threads=recorded["threads"])
        if not (agrees(verdict, expect) and outcome_agrees(verdict, data)):
            wrong.append(f"{arch} nr={nr:#x} args={[hex(a) for a in args]}: kernel {expect}, "
                         f"bpfsim {verdict!r}: {verdict.outcome}")
    assert not wrong, f"{len(wrong)} of {len(recorded['cases'])} disagree:\n" + "\n".join(wrong[:20])


def _table_admits(verdict: dict, expect: str) -> bool:
    """One of the verdicts ``bpfsim table --json`` lists for a call is what the kernel showed."""
    if verdict["action"] is None:  # a value computed from the input: any action
        return True
    if expect == "NOT_FILTERED":
        return verdict["action"] == "ALLOW"
    seen = verdict["errno"] if verdict["action"] == "ERRNO" else verdict["data"]
    return any(name == verdict["action"] and (data is None or data == seen) for name, data in admitted(expect))


def _table(capsys, argv: list[str]) -> str:
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


@pytest.mark.parametrize("case_dir", RECORDED, ids=[d.name for d in RECORDED])
def test_the_table_command_lists_every_verdict_the_kernel_gave(capsys, case_dir):
    """``bpfsim table`` as a user runs it, for each arch the kernel was asked about: every call the
    kernel judged has its row, whose verdicts include the kernel's (for any arguments and
    instruction pointer; a row that lists one verdict claims it for all of them); the text form
    (of x86_64's calls) has the JSON form's rows, actions and verdicts."""
    recorded = load_cases(case_dir)
    files = [str(p) for p in stack(case_dir)]
    for arch in sorted({arch for arch, *_ in recorded["cases"]}):
        rows = {row["nr"]: row for row in json.loads(_table(capsys, ["table", *files, "--arch", arch, "--json"]))}
        wrong = [f"{arch} nr={nr:#x} args={[hex(a) for a in args]}: kernel {expect}, table {rows[nr]['verdicts']}"
                 for case_arch, nr, args, expect in recorded["cases"]
                 if case_arch == arch and nr in rows and rows[nr]["complete"]
                 and not any(_table_admits(v, expect) for v in rows[nr]["verdicts"])]
        assert not wrong, f"{len(wrong)} disagree:\n" + "\n".join(wrong[:20])
        if arch != "x86_64":
            continue
        lines = _table(capsys, ["table", *files, "--arch", arch]).splitlines()
        assert lines[0] == f"# arch {arch} (--arch)"
        listed = [line.split()[:3] for line in lines[2:] if re.match(r" *\d+  ", line)]  # verdicts: further in
        assert listed == [[str(row["nr"]), row["name"], row["action"]] for row in rows.values()]
        shown = sum(len(row["verdicts"]) for row in rows.values() if row["depends_on_args"] and row["complete"])
        assert len(lines) - 2 - len(listed) == shown


@pytest.mark.parametrize("case_dir", RECORDED, ids=[d.name for d in RECORDED])
def test_as_many_copies_fit_on_a_thread_as_the_kernel_took(case_dir):
    """kernel/seccomp.c:seccomp_attach_filter: the new filter's length plus, for each attached one,
    its length + 4 must stay within MAX_INSNS_PER_PATH, lengths counted after the cBPF→eBPF
    conversion. FilterChain itself is driven to the limit only where that takes few attaches."""
    for name, (accepted, errno) in load_cases(case_dir).get("copies_accepted", {}).items():
        prog = Program.from_bytes((case_dir / name).read_bytes(), name=name)
        size = converted_length(prog)
        assert size + (accepted - 1) * (size + 4) <= MAX_INSNS_PER_PATH < size + accepted * (size + 4), name
        assert errno == ENOMEM
        if accepted <= 64:
            chain = FilterChain([prog] * accepted, judge_installs=False)  # recorded under SUSPEND_SECCOMP
            with pytest.raises(SeccompError) as refused:
                chain.attach(prog)
            assert refused.value.errno == errno, name


@pytest.mark.parametrize("case_dir", CASE_DIRS, ids=[d.name for d in CASE_DIRS])
def test_corpus_directory_follows_the_conventions(case_dir):
    assert NAME.match(case_dir.name), f"{case_dir.name} is not <origin>-<name> in lower case"
    files = {p.name for p in case_dir.iterdir()}
    numbered = sorted(n for n in files if re.fullmatch(r"filter-\d+\.bpf", n))
    assert set(FORMS) & files or numbered, "no filter.bpf (.asm, .c, .elf) and no filter-N.bpf stack"
    assert numbered == [f"filter-{i}.bpf" for i in range(len(numbered))], "stack files must be filter-0.bpf, filter-1.bpf, …"
    keys = {line.split(":", 1)[0] for line in (case_dir / "SOURCE").read_text().splitlines() if ":" in line}
    assert {"origin", "how obtained"} <= keys, "SOURCE needs origin: and how obtained: lines"
    lab = "lab" in keys  # a filter of an arch this kernel cannot run: its verdicts are a guest's (corpus/lab)
    assert "cases.json.gz" in files or "cases.json" in files or lab, "no kernel-recorded cases (make corpus-record)"
    for extra in files - set(FORMS) - set(numbered) - {"SOURCE", "cases.json", "cases.json.gz"}:
        pytest.fail(f"unexpected file {extra}")


COMPILED = [d for d in CASE_DIRS if "tools/compile_policies.py" in (d / "SOURCE").read_text()]


@pytest.mark.parametrize("case_dir", COMPILED, ids=[d.name for d in COMPILED])
def test_every_return_of_a_filter_libseccomp_compiled_here_is_a_known_action(case_dir):
    """libseccomp only emits ``ret #k`` with an action it knows; anything else is an export read
    in the wrong byte order (the lab notes: 2.5.4 on x86_64 left one s390x ``ret`` unswapped)."""
    known = {int(a) for a in Action}
    for path in stack(case_dir):
        for pc, insn in enumerate(Program.from_bytes(path.read_bytes(), name=str(path))):
            if insn.is_return:
                assert insn.code == op.BPF_RET | op.BPF_K and insn.k & abi.SECCOMP_RET_ACTION_FULL in known, (
                    f"{path.name} pc {pc}: {insn}")


def test_regressions_are_named_after_their_symptom():
    for case in sorted(p for p in (CORPUS / "regressions").glob("*") if p.is_dir()):
        assert NAME.match(case.name), f"regression {case.name} is not named <what>-<went-wrong>"
        assert (case / "SOURCE").exists() and (case / "case.json").exists(), case.name
        assert sorted(case.glob("*.bpf")), f"regression {case.name} has no filter"


def test_the_host_recorder_never_makes_the_calls_that_skip_the_filters():
    """#16 item 4: kernel/seccomp.c seccomp_uprobe_exception lets x86_64's uretprobe (335) and
    uprobe (336) past every filter, so recording them on this machine would really run them.
    Only a lab guest, a throwaway machine, records them."""
    tools = str(Path(__file__).resolve().parent.parent / "tools")
    sys.path.insert(0, tools)
    try:
        import record_corpus
    finally:
        sys.path.remove(tools)
    allow = Program.from_asm("ret ALLOW")
    ips = {"x86_64": 0x401000, "i386": 0x8049000}
    on_host = {(arch, nr) for arch, nr, _ in record_corpus.inputs([allow], ips)}
    in_guest = {(arch, nr) for arch, nr, _ in record_corpus.inputs([allow], ips, on_host=False)}
    assert in_guest - on_host == {("x86_64", 335), ("x86_64", 336)}
