"""A bounded differential run against the machine's kernel (the long one is ``make fuzz``), and
the replay of every divergence the fuzzer ever saved under corpus/regressions/."""

import json
from pathlib import Path

import pytest

from bpfsim import Program, SeccompData, VerifyError, evaluate, verify
from bpfsim import kernel as live

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


def test_every_saved_regression_replays():
    """Each divergence the fuzzer saved (none so far) must now give the kernel's answer."""
    assert (REGRESSIONS / "README.md").is_file()
    for case_dir in CASES:
        _replay(case_dir)


def _replay(case_dir):
    case = json.loads((case_dir / "case.json").read_text())
    filters = [Program.from_bytes(p.read_bytes(), name=str(p))
               for p in sorted(case_dir.glob("*.bpf"), key=lambda p: int(p.stem))]
    if case["kind"] == "verifier":
        try:
            verify(filters[0])
            said = None
        except VerifyError as refused:
            said = refused.errno
        assert said == case["kernel_saw"][0]["errno"]
        return
    options = case["options"]
    for call, seen in zip(case["calls"], case["kernel_saw"]):
        data = SeccompData(call["nr"], call["arch"], call["instruction_pointer"], call["args"])
        verdict = evaluate(filters, data, tracer=options["tracer"], listener=options["listener"], threads=2)
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
