"""A bounded differential run against the machine's kernel (the long one is ``make fuzz``), and
the replay of every divergence the fuzzer ever saved under corpus/regressions/."""

import json
from pathlib import Path

import pytest

from bpfsim import Program, SeccompData, VerifyError, abi, evaluate, verify
from bpfsim import kernel as live
from tests.keyboard import start_at_a_terminal

REGRESSIONS = Path(__file__).resolve().parent.parent / "corpus" / "regressions"
CASES = sorted(p.parent for p in REGRESSIONS.glob("*/case.json"))



@pytest.mark.kernel
def test_bounded_run_finds_no_divergence():
    reason = live.seccomp_unavailable_reason()
    if reason:
        pytest.skip(f"seccomp(2) cannot be used here: {reason}")
    from fuzz import campaign
    stats = campaign.run(3000, seed=20261128, save=False)
    assert stats.cases >= 3000 and stats.programs > 0
    assert not stats.divergences, "\n\n".join(str(d) for d in stats.divergences)


def test_generated_calls_leave_out_the_calls_that_skip_the_filters():
    """Issue 16 item 4: uretprobe (335) and uprobe (336) never reach the filters on 6.14+/6.18+
    (kernel/seccomp.c:seccomp_uprobe_exception), so a fuzzer call would really run them; a stack
    that compares nr with exactly those numbers must still get none of them."""
    import random
    from fuzz import campaign
    from tests.build import jump, ld_abs, prog, ret
    from bpfsim import opcodes as op
    jeq = op.BPF_JMP | op.BPF_JEQ | op.BPF_K
    stack = [prog(ld_abs(0), jump(jeq, 335, 1, 0), jump(jeq, 336, 0, 1), ret(0), ret(0x7FFF0000))]
    calls = campaign._calls(random.Random(1), stack, 4000, {"x86_64": 0, "i386": 0})
    native = [c.nr for c in calls if abi.arch_name(c.arch) == "x86_64"]
    assert len(calls) == 4000 and native.count(334) > 0 and not {335, 336} & set(native)


@pytest.mark.kernel
def test_ctrl_c_ends_the_fuzzer_with_one_line_and_no_traceback():
    import signal
    import subprocess
    import sys
    reason = live.seccomp_unavailable_reason()
    if reason:
        pytest.skip(f"seccomp(2) cannot be used here: {reason}")
    fuzzer = start_at_a_terminal([sys.executable, "-m", "fuzz", "--cases", "100000000", "--no-save"],
                                 cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        assert fuzzer.stderr.readline().startswith("fuzzing bpfsim against")
        fuzzer.stderr.readline()  # the first progress line: the campaign is running
        fuzzer.send_signal(signal.SIGINT)
        _, err = fuzzer.communicate(timeout=60)
    finally:
        if fuzzer.poll() is None:
            fuzzer.kill()
            fuzzer.wait()
    assert fuzzer.returncode == 130 and "Traceback" not in err and err.endswith("fuzz: interrupted\n")


def test_every_saved_regression_replays():
    """Each divergence the fuzzer saved (none so far) must now give the kernel's answer."""
    assert (REGRESSIONS / "README.md").is_file()
    for case_dir in CASES:
        _replay(case_dir)


def _replay(case_dir):
    case = json.loads((case_dir / "case.json").read_text())
    kernel = case["options"].get("kernel")  # a lab kernel's name (python -m fuzz --kernel), else the newest
    filters = [Program.from_bytes(p.read_bytes(), name=str(p))
               for p in sorted(case_dir.glob("*.bpf"), key=lambda p: int(p.stem))]
    if case["kind"] == "verifier":
        try:
            verify(filters[0], kernel=kernel)
            said = None
        except VerifyError as refused:
            said = refused.errno
        assert said == case["kernel_saw"][0]["errno"]
        return
    options = case["options"]
    for call, seen in zip(case["calls"], case["kernel_saw"]):
        data = SeccompData(call["nr"], call["arch"], call["instruction_pointer"], call["args"])
        verdict = evaluate(filters, data, kernel=kernel, tracer=options["tracer"], listener=options["listener"],
                           threads=2)
        observed = live.Observation(data, seen["action"], seen["data"], seen["retval"], None,
                                    tuple(map(tuple, seen["candidates"])))
        assert observed.admits(verdict), (seen, verdict)


def test_a_divergence_is_reported_with_both_answers_and_saved_replayably(tmp_path):
    from fuzz.campaign import Divergence, save_regression
    program = Program.from_asm("ld [nr]\njeq #39, 0, 1\nret ERRNO(3)\nret ALLOW")
    call = {"nr": 39, "arch": "x86_64", "args": [0] * 6, "instruction_pointer": 0x401000}
    seen = {"action": "ERRNO", "data": 2, "retval": -2, "candidates": [["ERRNO", 2]]}  # a made-up kernel answer
    divergence = Divergence("verdict", [program], [call], [seen], [{"action": "ERRNO", "data": 3}],
                            {"tracer": False, "listener": None})
    report = str(divergence)
    assert "kernel: {'action': 'ERRNO', 'data': 2" in report and "bpfsim: {'action': 'ERRNO', 'data': 3}" in report
    assert "returns ERRNO(3)" in report  # bpfsim's trace of the case
    saved = save_regression(divergence, tmp_path)
    assert saved.name == "kernel-errno-bpfsim-errno" and (saved / "0.bpf").read_bytes() == program.to_bytes()
    with pytest.raises(AssertionError):
        _replay(saved)  # bpfsim still says ERRNO(3): the saved case fails until bpfsim agrees


def test_a_lab_divergence_is_named_after_its_kernel_and_replays_on_that_kernel(tmp_path):
    """python -m fuzz --kernel: the saved case says which lab kernel answered, and its replay
    asks bpfsim about that kernel. On debian-6.1-amd64 uretprobe (335) reaches the filters
    (corpus/lab/debian-6.1-amd64.json.xz: Docker's profile answers it ERRNO(1) there), so a
    filter failing every call with EPERM does so for uretprobe too."""
    from fuzz.campaign import Divergence, save_regression
    program = Program.from_asm("ret ERRNO(1)")
    call = {"nr": 335, "arch": "x86_64", "args": [0] * 6, "instruction_pointer": 0x401000}
    seen = {"action": "ERRNO", "data": 1, "retval": -1, "candidates": [["ERRNO", 1]]}
    divergence = Divergence("verdict", [program], [call], [seen], [{"action": "ALLOW", "data": 0}],
                            {"tracer": False, "listener": None, "kernel": "debian-6.1-amd64"})
    saved = save_regression(divergence, tmp_path)
    assert saved.name == "kernel-errno-bpfsim-allow-on-debian-6.1-amd64"
    assert json.loads((saved / "case.json").read_text())["kernel"] == "debian-6.1-amd64"
    _replay(saved)  # on 6.1 uretprobe reaches the filters, as bpfsim's profile of it says
