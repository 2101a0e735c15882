"""The path-exploration engine: exact verdict sets in polynomial work, conditions and witnesses.

Expected verdicts follow from kernel/seccomp.c (seccomp_run_filters) and the classic BPF
semantics of net/core/filter.c:bpf_convert_filter for the small programs below; every witness
the engine reports is re-run on the machine's kernel through the ``kernel`` fixture (getpid,
nr 39, is harmless to let run). The two programs of issue #16 item 11 are reproduced with a
bound on the exploration's work and memory instead of a wall-clock limit.
"""

import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfsim import Program, SeccompData, evaluate, explore
from bpfsim import opcodes as op
from bpfsim.analysis import policy_row, policy_table
from bpfsim.syscalls import syscall_table
from bpfsim.verifier import verified
from tests.build import RET_A, TAX, alu, jump, ld_abs, prog, ret
from tests.strategies import filter_stacks, seccomp_data
from tests.test_corpus import RECORDED, stack

ALLOW, KILL_THREAD, ERRNO = 0x7FFF0000, 0, 0x00050000
JEQ, JGT = op.BPF_JMP | op.BPF_JEQ | op.BPF_K, op.BPF_JMP | op.BPF_JGT | op.BPF_K
JSET, JEQ_X = op.BPF_JMP | op.BPF_JSET | op.BPF_K, op.BPF_JMP | op.BPF_JEQ | op.BPF_X
NR, ARG0_LO, ARG0_HI, ARG1_LO, ARG2_LO = 0, 16, 20, 24, 32
GETPID = 39


def getpid_only(*insns):
    """``insns`` decide getpid; every other call is allowed."""
    return prog(ld_abs(NR), jump(JEQ, GETPID, 1, 0), ret(ALLOW), *insns)


def jset_chain():
    """#16 item 11: ``ld [nr]``, twenty times ``ld [args[i%6]]; jset #1<<i, 0, 1; add #0``, then
    ``ret ERRNO(5)``: 62 instructions, one return, 2**20 paths."""
    body = [insn for i in range(20)
            for insn in (ld_abs(16 + 8 * (i % 6)), jump(JSET, 1 << i, 0, 1), alu(op.BPF_ADD, 0))]
    return prog(ld_abs(NR), *body, ret(ERRNO | 5))


def add_jset_terms(n):
    """#16 item 11: ``n`` times ``ld [args[0]]; add #i+1; jset #1, 0, 0``, then a ``ret``."""
    return prog(*[insn for i in range(n) for insn in (ld_abs(ARG0_LO), alu(op.BPF_ADD, i + 1), jump(JSET, 1, 0, 0))],
                ret(ERRNO | 5))


def test_a_jset_chain_with_one_return_depends_on_nothing():
    chain = jset_chain()
    assert len(chain) == 62
    rows = [r for r in policy_table([chain], budget=20 * len(chain)) if r.filter is not None]  # not uprobe calls
    assert len(rows) > 300
    assert all(r.complete and not r.depends_on_args and r.possible == (ERRNO | 5,) for r in rows)


@pytest.mark.parametrize("terms", [30, 300, 1365])
def test_add_and_jset_terms_are_explored_in_linear_work_and_memory(terms):
    program = add_jset_terms(terms)
    tracemalloc.start()
    try:
        row = policy_row([program], 0, budget=4 * len(program))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (row.complete, row.depends_on_args, row.possible) == (True, False, (ERRNO | 5,))
    assert peak < 8_000 * len(program)  # 2.85 GB per row at 4,096 instructions before


def test_an_exhausted_budget_is_reported_not_guessed():
    """Twelve bit tests whose taken branch adds 1 keep A live: many distinct paths."""
    tests = [insn for bit in range(12) for insn in (jump(JSET, 1 << bit, 0, 1), alu(op.BPF_ADD, 1))]
    stack = [getpid_only(ld_abs(ARG0_LO), *tests, jump(JEQ, 5, 0, 1), ret(ERRNO | 1), ret(ALLOW))]
    cut = policy_row(stack, GETPID, budget=200)
    assert (cut.complete, cut.confirmed, cut.depends_on_args, cut.unbounded) == (False, False, True, True)
    assert "ran out of budget" in cut.verdicts[0].condition
    full = policy_row(stack, GETPID)
    assert full.complete and full.depends_on_args and full.possible == (ERRNO | 1, ALLOW)


PRECISION = [
    pytest.param(getpid_only(ld_abs(ARG0_LO), jump(JEQ, 7, 0, 5), TAX, ld_abs(ARG1_LO), jump(JEQ_X, 0, 0, 1),
                             ret(ERRNO | 1), ret(ALLOW), ret(ERRNO | 2)),
                 {ERRNO | 1, ALLOW, ERRNO | 2}, id="two unknown arguments made equal"),
    pytest.param(getpid_only(ld_abs(ARG0_LO), TAX, ld_abs(ARG1_LO), alu(op.BPF_ADD, 1), jump(JEQ_X, 0, 0, 1),
                             ret(ERRNO | 1), ret(ALLOW)),
                 {ERRNO | 1, ALLOW}, id="an argument plus one equal to another"),
    pytest.param(getpid_only(ld_abs(ARG0_LO), jump(JEQ, 4, 0, 4), alu(op.BPF_OR, 1), jump(JEQ, 5, 1, 0),
                             ret(KILL_THREAD), ret(ERRNO | 1), ret(ALLOW)),
                 {ERRNO | 1, ALLOW}, id="or keeps a value a jeq pinned"),
    pytest.param(getpid_only(ld_abs(ARG0_LO), TAX, alu(op.BPF_XOR), jump(JEQ, 0, 1, 0), ret(KILL_THREAD),
                             ret(ALLOW)),
                 {ALLOW}, id="xor x with A equal to X is 0"),
    pytest.param(getpid_only(ld_abs(ARG0_LO), TAX, alu(op.BPF_SUB), jump(JEQ, 0, 1, 0), ret(KILL_THREAD),
                             ret(ALLOW)),
                 {ALLOW}, id="sub x with A equal to X is 0"),
    pytest.param(getpid_only(ld_abs(ARG0_LO), jump(JEQ, 5, 0, 3), ld_abs(ARG0_LO), alu(op.BPF_AND, 0xFF),
                             jump(JEQ, 6, 1, 2), ret(ERRNO | 1), ret(KILL_THREAD), ret(ALLOW)),
                 {ERRNO | 1, ALLOW}, id="a reload of a pinned word is pinned"),
    pytest.param(getpid_only(ld_abs(ARG0_LO), RET_A), None, id="ret a of an argument"),
]


@pytest.mark.parametrize("getpid_filter, possible", PRECISION)
def test_every_verdict_is_found_and_shown_by_an_input_the_kernel_agrees_with(getpid_filter, possible, kernel):
    found = policy_row([getpid_filter], GETPID)
    assert found.complete and found.confirmed
    if possible is None:
        assert found.unbounded and found.possible == (ALLOW,)  # and any value args[0] outranking ALLOW
    else:
        assert set(found.possible) == possible and not found.unbounded
    for shown in found.verdicts:
        verdict = evaluate([getpid_filter], shown.witness)
        assert verdict == shown.verdict and (shown.ret is None or verdict.ret == shown.ret)
        kernel.check_verdict([getpid_filter], shown.witness, verdict)


CONDITIONS = [
    pytest.param(prog(ld_abs(ARG2_LO), jump(JSET, 0x3, 0, 1), ret(ERRNO | 1), ret(ALLOW)),
                 {ERRNO | 1: "args[2] & 0x3 != 0", ALLOW: "args[2] & 0x3 == 0"}, id="a bit test"),
    pytest.param(prog(ld_abs(ARG0_HI), jump(JEQ, 0, 0, 3), ld_abs(ARG0_LO), jump(JEQ, 0xFFFFFFFF, 0, 1),
                      ret(ERRNO | 1), ret(ALLOW)),
                 {ERRNO | 1: "args[0] == 0xffffffff", ALLOW: "(args[0] != 0xffffffff && args[0] >> 32 == 0x0) "
                                                          "|| args[0] >> 32 != 0x0"},
                 id="a 64-bit equality"),
    pytest.param(prog(ld_abs(ARG0_LO), jump(JGT, 9, 0, 1), ret(ERRNO | 1), ret(ALLOW)),
                 {ERRNO | 1: "(u32)args[0] > 0x9", ALLOW: "(u32)args[0] <= 0x9"}, id="a low word only"),
    pytest.param(prog(ld_abs(ARG0_LO), alu(op.BPF_ADD, 1), jump(JEQ, 0, 0, 1), ret(ERRNO | 1), ret(ALLOW)),
                 {ERRNO | 1: "(u32)args[0] == 0xffffffff", ALLOW: "(u32)args[0] != 0xffffffff"},
                 id="a computed value pins the word"),
    pytest.param(prog(ld_abs(ARG0_HI), jump(JGT, 0, 0, 1), ret(ERRNO | 1), ret(ALLOW)),
                 {ERRNO | 1: "args[0] >> 32 != 0x0", ALLOW: "args[0] >> 32 == 0x0"},
                 id="unsigned: not above 0 is 0"),
]


@pytest.mark.parametrize("program, conditions", CONDITIONS)
def test_conditions_read_as_predicates_on_the_arguments(program, conditions, kernel):
    found = policy_row([program], GETPID)
    assert {p.ret: p.condition for p in found.verdicts} == conditions
    for shown in found.verdicts:
        kernel.check_verdict([program], shown.witness, evaluate([program], shown.witness))


def test_a_stack_joins_the_conditions_of_its_filters(kernel):
    """The older filter refuses args[0] == 1, the newer args[1] == 2: ERRNO(1) beats ERRNO(2)
    only by being newer, so both show, and ALLOW needs both tests to fail."""
    older = prog(ld_abs(ARG0_LO), jump(JEQ, 1, 0, 1), ret(ERRNO | 1), ret(ALLOW))
    newer = prog(ld_abs(ARG1_LO), jump(JEQ, 2, 0, 1), ret(ERRNO | 2), ret(ALLOW))
    found = policy_row([older, newer], GETPID)
    assert {p.ret: p.condition for p in found.verdicts} == {
        ALLOW: "(u32)args[0] != 0x1 && (u32)args[1] != 0x2",
        ERRNO | 1: "(u32)args[0] == 0x1 && (u32)args[1] != 0x2",
        ERRNO | 2: "(u32)args[1] == 0x2",
    }
    for shown in found.verdicts:
        kernel.check_verdict([older, newer], shown.witness, evaluate([older, newer], shown.witness))


def test_the_zero_argument_verdict_comes_first():
    found = policy_row([prog(ld_abs(ARG0_LO), jump(JEQ, 0, 0, 1), ret(ERRNO | 1), ret(ALLOW))], GETPID)
    assert found.verdicts[0].witness == SeccompData(GETPID) and found.verdicts[0].ret == ERRNO | 1
    assert found.witnesses == (SeccompData(GETPID), SeccompData(GETPID, args=(1,)))


def _both_ways(programs, data):
    """The table's shortcut and the exploration it stands in for, on one call."""
    checked = [verified(p) for p in programs]
    return (explore.decided_outcomes(checked, data.words()),
            explore.stack_outcomes(checked, data.words(), explore.work_counter(explore.DEFAULT_BUDGET)))


@pytest.mark.parametrize("case_dir", RECORDED, ids=[d.name for d in RECORDED])
def test_a_call_the_nr_and_arch_decide_gets_the_outcome_its_exploration_finds(case_dir):
    """explore.decided_outcomes (which lets the policy table skip exploring a call whose filters
    read no argument on its path) answers exactly as stack_outcomes does, or not at all."""
    programs = [Program.load(path) for path in stack(case_dir)]
    decided = 0
    for nr in syscall_table("x86_64"):
        shortcut, explored = _both_ways(programs, SeccompData(nr, "x86_64"))
        assert shortcut is None or shortcut == explored, nr
        decided += shortcut is not None
    assert decided > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(filter_stacks(max_size=3), st.data())
def test_the_shortcut_agrees_with_the_exploration_on_generated_stacks(stack, data):
    for _ in range(5):
        shortcut, explored = _both_ways(stack, data.draw(seccomp_data(stack)))
        assert shortcut is None or shortcut == explored
