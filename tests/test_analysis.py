"""The policy table: one verdict per syscall number, and whether arguments can change it.

Expected verdicts follow kernel/seccomp.c (newest filter first, the most severe action wins,
arch word fixed to the table's AUDIT_ARCH) and x86_64 uapi constants (O_CREAT 0o100,
openat 257, execve 59, getpid 39). The property test checks the analysis against concrete
evaluation on generated stacks and inputs.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfsim import Action, SeccompData, evaluate
from bpfsim import opcodes as op
from bpfsim.analysis import policy_row, policy_table
from tests.build import RET_A, TAX, alu, jump, ld_abs, ld_imm, prog, ret, stmt
from tests.strategies import filter_stacks, seccomp_data

ALLOW, KILL_PROCESS, KILL_THREAD = 0x7FFF0000, 0x80000000, 0
ERRNO = 0x00050000
JEQ, JSET = op.BPF_JMP | op.BPF_JEQ | op.BPF_K, op.BPF_JMP | op.BPF_JSET | op.BPF_K
NR, ARCH, ARG0, ARG2 = 0, 4, 16, 32
O_CREAT, EACCES = 0o100, 13

ERRNO_ON_CREATING_OPENAT = prog(ld_abs(NR), jump(JEQ, 257, 0, 2), ld_abs(ARG2), jump(JSET, O_CREAT, 1, 0),
                                ret(ALLOW), ret(ERRNO | EACCES))
KILL_EXECVE_ON_X86_64 = prog(ld_abs(ARCH), jump(JEQ, 0xC000003E, 1, 0), ret(KILL_THREAD), ld_abs(NR),
                             jump(JEQ, 59, 0, 1), ret(KILL_PROCESS), ret(ALLOW))


def getpid_only(*insns):
    """``insns`` decide getpid; every other call is allowed."""
    return prog(ld_abs(NR), jump(JEQ, 39, 1, 0), ret(ALLOW), *insns)


def row(filters, nr, arch="x86_64"):
    return next(r for r in policy_table(filters, arch) if r.nr == nr)


def test_openat_depends_on_o_creat_and_nothing_else_does():
    rows = policy_table([ERRNO_ON_CREATING_OPENAT])
    dependent = [r.name for r in rows if r.depends_on_args]
    assert dependent == ["openat"]
    openat = row([ERRNO_ON_CREATING_OPENAT], 257)
    assert (openat.action, openat.possible) == (Action.ALLOW, (ERRNO | EACCES, ALLOW))
    assert openat.witnesses[1].args[2] & O_CREAT
    assert evaluate([ERRNO_ON_CREATING_OPENAT], SeccompData(257, args=(0, 0, O_CREAT))).errno == EACCES


@pytest.mark.parametrize("getpid_filter, shows", [
    pytest.param(getpid_only(ld_abs(ARG0), alu(op.BPF_AND, 0x7E020000), jump(JEQ, 0, 0, 1), ret(ALLOW),
                             ret(ERRNO | 1)),
                 lambda args: args[0] & 0x7E020000, id="a masked argument (Docker's clone flags)"),
    pytest.param(getpid_only(ld_abs(ARG0 + 4), jump(JEQ, 0, 0, 2), ld_abs(ARG0), jump(JEQ, 0x27, 1, 0),
                             ret(ALLOW), ret(ERRNO | 1)),
                 lambda args: args[0] == 0x27, id="a 64-bit equality"),
])
def test_a_dependence_comes_with_inputs_that_show_it(getpid_filter, shows):
    found = row([getpid_filter], 39)
    zero, other = found.witnesses
    assert zero == SeccompData(39) and shows(other.args)
    assert evaluate([getpid_filter], zero).ret != evaluate([getpid_filter], other).ret


def test_contract_json_object_for_a_killed_execve():
    """The CONTRACT.md keys come first and unchanged; the verdicts with conditions follow."""
    execve = row([KILL_EXECVE_ON_X86_64], 59).as_dict()
    contract = dict(list(execve.items())[:6])
    assert json.dumps(contract) == ('{"nr": 59, "name": "execve", "action": "KILL_PROCESS", "data": 0, '
                                    '"errno": null, "depends_on_args": false}')
    assert execve["complete"] is True
    [only] = execve["verdicts"]
    assert (only["action"], only["condition"], only["witness"]["args"]) == ("KILL_PROCESS", "always", [0] * 6)


@pytest.mark.parametrize("arch, nr, action", [
    pytest.param("x86_64", 59, Action.KILL_PROCESS, id="x86_64 execve is killed"),
    pytest.param("x86_64", 0, Action.ALLOW, id="x86_64 read is allowed"),
    pytest.param("i386", 11, Action.KILL_THREAD, id="i386 execve fails the arch check"),
    pytest.param("i386", 3, Action.KILL_THREAD, id="i386 read fails the arch check"),
    pytest.param("x32", 0x40000000 | 520, Action.ALLOW, id="x32 execve is another number under x86_64"),
])
def test_the_arch_word_is_fixed_to_the_tables_arch(arch, nr, action):
    found = row([KILL_EXECVE_ON_X86_64], nr, arch)
    assert (found.action, found.depends_on_args) == (action, False)


DEPENDENCE = [
    pytest.param(getpid_only(ld_abs(ARG0), jump(JEQ, 5, 0, 2), jump(JEQ, 6, 0, 1), ret(ERRNO | 1), ret(ALLOW)),
                 False, id="a branch that contradicts an earlier one is never taken"),
    pytest.param(getpid_only(ld_abs(ARG0), jump(JSET, 1, 0, 1), ret(ERRNO | 1), ret(ERRNO | 1)),
                 False, id="both branches return the same value"),
    pytest.param(getpid_only(ld_abs(ARG0), jump(JEQ, ERRNO | 1, 0, 1), RET_A, ret(ERRNO | 1)),
                 False, id="ret a of a value pinned by a jeq"),
    pytest.param(getpid_only(ld_abs(ARG0), RET_A), True, id="ret a of an argument"),
    pytest.param(getpid_only(ld_abs(ARG0), TAX, ld_imm(ALLOW), alu(op.BPF_DIV), RET_A),
                 True, id="div by an X that may be 0 returns 0"),
    pytest.param(getpid_only(stmt(op.BPF_LDX | op.BPF_IMM, 1), ld_imm(ALLOW), alu(op.BPF_DIV), RET_A),
                 False, id="div by a constant X"),
    pytest.param(getpid_only(ld_abs(ARG0), alu(op.BPF_AND, 0), jump(JEQ, 0, 0, 1), ret(ALLOW), ret(KILL_THREAD)),
                 False, id="an argument and 0 is 0"),
    pytest.param(getpid_only(ld_abs(ARG0), alu(op.BPF_AND, 0xFF), jump(JEQ, 0x100, 0, 1), ret(ERRNO | 1),
                             ret(ALLOW)),
                 False, id="a masked argument never equals a value outside the mask"),
    pytest.param(getpid_only(ld_abs(8), stmt(op.BPF_ST, 3), ld_imm(0), stmt(op.BPF_LD | op.BPF_MEM, 3),
                             jump(JSET, 1, 0, 1), ret(ERRNO | 1), ret(ALLOW)),
                 True, id="the instruction pointer through scratch memory"),
    pytest.param(getpid_only(ld_abs(ARG0 + 4), jump(JEQ, 0, 0, 3), ld_abs(ARG0), jump(op.BPF_JMP | op.BPF_JGT
                                                                                        | op.BPF_K, 9, 0, 1),
                             ret(ERRNO | 1), ret(ALLOW)),
                 True, id="a 64-bit argument compare"),
]


@pytest.mark.parametrize("getpid_filter, depends", DEPENDENCE)
def test_depends_on_args_is_found_by_exploring_every_path(getpid_filter, depends):
    assert row([getpid_filter], 39).depends_on_args is depends
    assert row([getpid_filter], 110).depends_on_args is False


ARG_DEPENDENT_GETPID = getpid_only(ld_abs(ARG0), jump(JEQ, 1, 0, 1), ret(ERRNO | 1), ret(ALLOW))


@pytest.mark.parametrize("stack, depends", [
    pytest.param([ARG_DEPENDENT_GETPID, getpid_only(ret(KILL_PROCESS))], False,
                 id="a newer kill hides an older filter's dependence"),
    pytest.param([getpid_only(ret(KILL_PROCESS)), ARG_DEPENDENT_GETPID], False,
                 id="an older kill hides a newer filter's dependence"),
    pytest.param([getpid_only(ret(ERRNO | 1)), ARG_DEPENDENT_GETPID], False,
                 id="ERRNO(1) either way"),
    pytest.param([getpid_only(ret(ERRNO | 2)), ARG_DEPENDENT_GETPID], True,
                 id="a tie goes to the newer filter, so its data shows"),
    pytest.param([getpid_only(ret(0x7FFC0000)), ARG_DEPENDENT_GETPID], True,
                 id="LOG cannot hide ERRNO"),
])
def test_precedence_across_the_stack(stack, depends):
    assert row(stack, 39).depends_on_args is depends


def test_uprobe_calls_bypass_the_filters():
    """kernel/seccomp.c:seccomp_uprobe_exception (Linux 6.14+): native 335 and 336."""
    always_depends = prog(ld_abs(ARG0), jump(JSET, 1, 0, 1), ret(KILL_PROCESS), ret(ALLOW))
    found = row([always_depends], 336)
    assert (found.action, found.filter, found.depends_on_args) == (Action.ALLOW, None, False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(filter_stacks(max_size=3), st.data())
def test_the_analysis_never_misses_a_verdict(stack, data):
    """Every evaluated return value is in ``possible``; without dependence, every input agrees."""
    for _ in range(10):
        sample = data.draw(seccomp_data(stack))
        found = policy_row(stack, sample.nr, sample.arch)
        verdict = evaluate(stack, sample)
        assert found.unbounded or verdict.ret in found.possible
        if not found.depends_on_args:
            assert (verdict.action, verdict.data) == (found.action, found.data)
        shown = {(v.action, v.data) for v in (evaluate(stack, w) for w in found.witnesses)}
        assert len(shown) == len(found.witnesses) and found.witnesses[0] == SeccompData(sample.nr, sample.arch)


def test_an_exhausted_budget_reports_an_unbounded_dependence():
    """Twelve independent bit tests that rejoin: 4096 paths, more than a budget of 1000 steps."""
    tests = [insn for bit in range(12) for insn in (jump(JSET, 1 << bit, 0, 1), alu(op.BPF_ADD, 1))]
    stack = [getpid_only(ld_abs(ARG0), *tests, ret(ALLOW))]
    found = policy_row(stack, 39, budget=1000)
    assert (found.depends_on_args, found.unbounded, found.action) == (True, True, Action.ALLOW)
    assert policy_row(stack, 39).depends_on_args is False


def test_table_json_and_csv_list_every_verdict_with_its_condition(capsys, tmp_path):
    """#15 item 4 / #13 item 14: O_CREAT (0o100) in openat's flags decides; the witnesses show it."""
    from bpfsim.cli import main
    path = tmp_path / "openat.bpf"
    path.write_bytes(ERRNO_ON_CREATING_OPENAT.to_bytes())
    assert main(["table", str(path), "--arch", "x86_64", "--json"]) == 0
    openat = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "openat")
    shown = {(v["action"], v["condition"], tuple(v["witness"]["args"])) for v in openat["verdicts"]}
    assert openat["complete"] and shown == {("ALLOW", "args[2] & 0x40 == 0", (0,) * 6),
                                            ("ERRNO", "args[2] & 0x40 != 0", (0, 0, O_CREAT, 0, 0, 0))}
    assert main(["table", str(path), "--arch", "x86_64", "--csv"]) == 0
    records = [line for line in capsys.readouterr().out.splitlines() if line.startswith("257,openat,")]
    assert records == ["257,openat,ALLOW,0,,true,true,ALLOW,,args[2] & 0x40 == 0,all arguments 0",
                       "257,openat,ALLOW,0,,true,true,ERRNO(13),13,args[2] & 0x40 != 0,args[2]=0x40"]
