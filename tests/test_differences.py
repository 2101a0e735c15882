"""diff: every call whose verdict differs between two stacks, where, and inputs that show it.

Every witness is re-run on the machine's kernel through the ``kernel`` fixture (the oracle guards
calls that must not run). The corpus pair is Docker's default profile and the same profile
compiled for a container given CAP_SYS_ADMIN (corpus/moby-default-x86_64-sys-admin, compiled by
tools/compile_policies.py like its base): the rules moby gates on that capability are the
expected differences (moby profiles/seccomp/default.json, "includes": {"caps": ["CAP_SYS_ADMIN"]}).
"""

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfsim import Program, SeccompData, evaluate
from bpfsim import opcodes as op
from bpfsim.cli import main
from bpfsim.differences import diff
from bpfsim.syscalls import syscall_table
from bpfsim.testing import assert_equivalent
from tests.build import jump, ld_abs, prog, ret
from tests.strategies import filter_stacks

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
DOCKER = Program.load(CORPUS / "moby-default-x86_64" / "filter.bpf")
SYS_ADMIN = Program.load(CORPUS / "moby-default-x86_64-sys-admin" / "filter.bpf")
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
JEQ, JSET = op.BPF_JMP | op.BPF_JEQ | op.BPF_K, op.BPF_JMP | op.BPF_JSET | op.BPF_K
GETPID = 39
# What CAP_SYS_ADMIN adds to moby's default profile on x86_64 (default.json, its caps rules).
SYS_ADMIN_CALLS = {"bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                   "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
                   "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
                   "umount2", "unshare"}


@pytest.fixture(scope="module")
def docker_differences():
    return diff([DOCKER], [SYS_ADMIN])


def test_docker_and_its_sys_admin_variant_differ_where_the_capability_rules_are(docker_differences):
    names = {d.name for d in docker_differences}
    assert names <= SYS_ADMIN_CALLS and {"mount", "umount2", "unshare", "setns", "clone"} <= names
    assert all(d.complete and d.witnesses for d in docker_differences)
    clone = next(d for d in docker_differences if d.name == "clone")
    assert clone.condition == "args[0] & 0x7e020000 != 0x0"


def test_every_docker_witness_is_the_kernels_verdict(docker_differences, kernel):
    for difference in docker_differences:
        for witness in difference.witnesses:
            kernel.check_verdict([DOCKER], witness.data, witness.old)
            kernel.check_verdict([SYS_ADMIN], witness.data, witness.new)


def test_a_random_sample_of_other_docker_inputs_has_no_unreported_difference(docker_differences):
    sample = random.Random(15)
    table = list(syscall_table("x86_64"))
    values = [0, 1, 0x7E020000, 0x10000000, 0xFFFFFFFF, 1 << 32, (1 << 64) - 1, 0x28]
    for _ in range(3000):
        data = SeccompData(sample.choice(table), "x86_64", 0, [sample.choice(values) for _ in range(6)])
        if evaluate([DOCKER], data).ret != evaluate([SYS_ADMIN], data).ret:
            assert any(d.covers(data) for d in docker_differences), data


def test_the_json_shape_of_issue_15(capsys):
    status = main(["diff", str(CORPUS / "moby-default-x86_64" / "filter.bpf"),
                   str(CORPUS / "moby-default-x86_64-sys-admin" / "filter.bpf"), "--json"])
    found = json.loads(capsys.readouterr().out)
    assert status == 1
    mount = next(d for d in found if d["name"] == "mount")
    assert list(mount)[:7] == ["arch", "nr", "name", "old", "new", "condition", "witnesses"]
    assert (mount["arch"], mount["nr"], mount["condition"]) == ("x86_64", 165, "always")
    assert mount["old"] == [{"action": "ERRNO", "errno": 1, "data": 1}]
    assert mount["new"] == [{"action": "ALLOW", "errno": None, "data": 0}]
    [witness] = mount["witnesses"]
    assert list(witness) == ["args", "instruction_pointer", "old", "new"]
    assert (witness["old"]["action"], witness["new"]["action"]) == ("ERRNO", "ALLOW")


def test_the_same_stack_has_no_difference_and_exits_0(capsys):
    path = str(CORPUS / "moby-default-x86_64" / "filter.bpf")
    assert main(["diff", path, path]) == 0
    assert "no difference" in capsys.readouterr().out


def test_the_text_is_a_unified_diff(capsys):
    assert main(["diff", str(CORPUS / "moby-default-x86_64" / "filter.bpf"),
                 str(CORPUS / "moby-default-x86_64-sys-admin" / "filter.bpf")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# arches x86_64, x32, i386") and lines[1].startswith("--- ") and lines[2].startswith("+++ ")
    start = lines.index("@@ x86_64 mount (nr 165) @@")
    assert lines[start + 1:start + 4] == ["-ERRNO(1)", "+ALLOW", "  differ for every input"]


ONE_BIT = prog(ld_abs(0), jump(JEQ, GETPID, 0, 3), ld_abs(32), jump(JSET, 0x4, 0, 1), ret(ERRNO | 1), ret(ALLOW))
ALL_ALLOWED = prog(ret(ALLOW))


def test_assert_equivalent_names_the_difference_and_accepts_exceptions():
    with pytest.raises(AssertionError) as failure:
        assert_equivalent([ONE_BIT], [ALL_ALLOWED])
    assert "getpid" in str(failure.value) and "args[2] & 0x4 != 0" in str(failure.value)
    assert_equivalent([ONE_BIT], [ALL_ALLOWED], except_for={"getpid"})
    assert_equivalent([ONE_BIT], [ONE_BIT, ALL_ALLOWED])


def test_an_exhausted_budget_is_a_difference_not_proved():
    [found] = diff([ONE_BIT], [ALL_ALLOWED], numbers=[GETPID], budget=1)
    assert not found.complete and "not proved" in found.condition


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(old=filter_stacks(max_size=2), new=filter_stacks(max_size=2), data=st.data())
def test_random_pairs_of_stacks(old, new, data, kernel):
    """Every reported difference has witnesses the kernel confirms, and every random input on
    which the stacks differ falls under a reported difference."""
    numbers = [GETPID, 0, 1]
    found = diff(old, new, numbers=numbers)
    for difference in found:
        assert difference.witnesses or not difference.complete or "unconfirmed" in difference.condition
        for witness in difference.witnesses[:1]:
            assert evaluate(old, witness.data).ret != evaluate(new, witness.data).ret
            kernel.check_verdict(old, witness.data, witness.old)
            kernel.check_verdict(new, witness.data, witness.new)
    for _ in range(20):
        args = data.draw(st.lists(st.sampled_from([0, 1, 2, 0x40, 0xFFFFFFFF, 1 << 32, (1 << 64) - 1]),
                                  min_size=6, max_size=6))
        sample = SeccompData(data.draw(st.sampled_from(numbers)), "x86_64", data.draw(st.sampled_from([0, 1])), args)
        old_verdict, new_verdict = evaluate(old, sample), evaluate(new, sample)
        if (old_verdict.action, old_verdict.data) != (new_verdict.action, new_verdict.data):
            assert any(d.covers(sample) for d in found), sample
