"""Stack traces, step explanations, the Debugger object and its command loop.

Verdicts and rankings are kernel facts (kernel/seccomp.c:seccomp_run_filters, selftest
ERRNO_order); branch results follow the cBPF jump semantics of net/core/filter.c, and the
results a statement's explanation states are checked on the kernel.
"""

import io

import pytest
from hypothesis import given, settings

from bpfsim import FilterChain, SeccompData
from bpfsim import abi
from bpfsim import opcodes as op
from bpfsim.debugger import (Condition, Debugger, DebuggerError, DebuggerShell, explain_step, format_steps,
                             trace_stack)
from bpfsim.interpreter import trace
from tests.build import NEG, RET_A, TAX, TXA, alu, jump, ld_abs, ld_imm, ldx_imm, prog, ret, stmt
from tests.strategies import stacks_and_data

ALLOW, KILL_PROCESS, ERRNO, USER_NOTIF = 0x7FFF0000, 0x80000000, 0x00050000, 0x7FC00000
JEQ, JGT, JGE, JSET = (op.BPF_JMP | j | op.BPF_K for j in (op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET))
JEQ_X, JGT_X, JGE_X, JSET_X = (op.BPF_JMP | j | op.BPF_X for j in (op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET))
EXECVE = 59

# ld [nr]; jeq #59 → kill; allow
KILL_EXECVE = prog(ld_abs(0), jump(JEQ, EXECVE, 0, 1), ret(KILL_PROCESS), ret(ALLOW))
# ld [args[0].lo]; st M[2]; jset #3 → EACCES; allow
ARG_CHECK = prog(ld_abs(16), stmt(op.BPF_ST, 2), jump(JSET, 3, 0, 1), ret(ERRNO | 13), ret(ALLOW))


def _last_jump(program, data):
    return explain_step(next(s for s in trace(program, data) if s.insn.is_jump), data)


@pytest.mark.parametrize("code, k, nr, expected", [
    pytest.param(JEQ, 59, 59, "jeq #0x3b: A=0x3b == 0x3b → true, pc 4", id="jeq taken"),
    pytest.param(JEQ, 59, 0, "jeq #0x3b: A=0x0 != 0x3b → false, pc 5", id="jeq not taken"),
    pytest.param(JGT, 5, 6, "jgt #5: A=0x6 > 0x5 → true, pc 4", id="jgt taken"),
    pytest.param(JGT, 5, 5, "jgt #5: A=0x5 <= 0x5 → false, pc 5", id="jgt is strict"),
    pytest.param(JGE, 5, 5, "jge #5: A=0x5 >= 0x5 → true, pc 4", id="jge taken on equal"),
    pytest.param(JGE, 5, 4, "jge #5: A=0x4 < 0x5 → false, pc 5", id="jge not taken"),
    pytest.param(JSET, 6, 2, "jset #6: A=0x2 & 0x6 = 0x2 → true, pc 4", id="jset any common bit"),
    pytest.param(JSET, 6, 9, "jset #6: A=0x9 & 0x6 = 0x0 → false, pc 5", id="jset no common bit"),
    pytest.param(JGT, 5, -1, "jgt #5: A=0xffffffff > 0x5 → true, pc 4", id="comparisons are unsigned"),
])
def test_branch_explanation_names_the_comparison_and_the_target(code, k, nr, expected):
    program = prog(ld_imm(0), ld_abs(0), jump(code, k, 1, 2), ret(ALLOW), ret(ALLOW), ret(ALLOW))
    assert _last_jump(program, SeccompData(nr)) == expected


@pytest.mark.parametrize("program, data, expected", [
    pytest.param(prog(ld_abs(0), ldx_imm(59), jump(JEQ_X, 0, 0, 1), ret(ALLOW), ret(ALLOW)), SeccompData(59),
                 "jeq x: A=0x3b == X=0x3b → true, pc 3", id="register operand shows X"),
    pytest.param(prog(ld_abs(0), ldx_imm(58), jump(JGT_X, 0, 0, 1), ret(ALLOW), ret(ALLOW)), SeccompData(59),
                 "jgt x: A=0x3b > X=0x3a → true, pc 3", id="jgt x"),
    pytest.param(prog(ld_abs(0), ldx_imm(60), jump(JGE_X, 0, 0, 1), ret(ALLOW), ret(ALLOW)), SeccompData(59),
                 "jge x: A=0x3b < X=0x3c → false, pc 4", id="jge x not taken"),
    pytest.param(prog(ld_abs(0), ldx_imm(4), jump(JSET_X, 0, 0, 1), ret(ALLOW), ret(ALLOW)), SeccompData(59),
                 "jset x: A=0x3b & X=0x4 = 0x0 → false, pc 4", id="jset x shows the common bits"),
    pytest.param(prog(stmt(op.BPF_JMP | op.BPF_JA, 1), ret(KILL_PROCESS), ret(ALLOW)), SeccompData(0),
                 "ja 1 → pc 2", id="ja names its absolute target"),
])
def test_register_jumps_and_ja(program, data, expected):
    assert _last_jump(program, data) == expected


@pytest.mark.parametrize("program, data, expected", [
    pytest.param(prog(ld_abs(0), jump(JEQ, 257, 0, 1), ret(ALLOW), ret(ALLOW)), SeccompData(257),
                 "jeq #0x101: A=0x101 == 0x101 (openat) → true, pc 2", id="a compared nr is named"),
    pytest.param(prog(ld_abs(4), jump(JEQ, 0x40000003, 1, 0), ret(ALLOW), ret(ALLOW)), SeccompData(0, "i386"),
                 "jeq #0x40000003: A=0x40000003 == 0x40000003 (AUDIT_ARCH_I386) → true, pc 3",
                 id="a compared arch is named"),
    pytest.param(prog(ld_abs(0), alu(op.BPF_AND, 0xFFF), jump(JEQ, 257, 0, 1), ret(ALLOW), ret(ALLOW)),
                 SeccompData(257), "jeq #0x101: A=0x101 == 0x101 → true, pc 3", id="computed A is not named"),
    pytest.param(prog(ld_abs(0), jump(JGE, 0x40000000, 0, 1), ret(ALLOW), ret(ALLOW)), SeccompData(0),
                 "jge #0x40000000: A=0x0 < 0x40000000 → false, pc 3", id="a range bound is not named"),
    pytest.param(prog(ld_abs(0), jump(JEQ, 0, 0, 0), ret(ALLOW)), SeccompData(0),
                 "jeq #0: A=0x0 == 0x0 (read) → true; both branches go to pc 2", id="equal targets"),
])
def test_step_lines_name_constants_compared_with_a_loaded_field(program, data, expected):
    assert format_steps(trace(program, data))[-2].endswith("; " + expected)


@pytest.mark.parametrize("program, data, expected", [
    pytest.param(prog(ld_abs(4), ret(ALLOW)), SeccompData(0), "A = arch = 0xc000003e (AUDIT_ARCH_X86_64)",
                 id="arch load names the AUDIT_ARCH constant"),
    pytest.param(prog(ld_abs(0), ret(ALLOW)), SeccompData(59), "A = nr = 59 (execve)",
                 id="nr load names the syscall of the arch"),
    pytest.param(prog(ld_abs(0), ret(ALLOW)), SeccompData("read", "x32"), "A = nr = 0x40000000 (x32 read)",
                 id="an x32 number is x32's, in hex as SeccompData shows it (__X32_SYSCALL_BIT | 0)"),
    pytest.param(prog(ld_abs(20), ret(ALLOW)), SeccompData(0, args=(1 << 32,)), "A = args[0].hi = 0x1",
                 id="high half of a little-endian argument"),
    pytest.param(prog(ld_abs(16), ret(ALLOW)), SeccompData(0, "s390x", args=(1 << 32,)), "A = args[0].hi = 0x1",
                 id="big-endian: offset 16 is the high half"),
])
def test_load_explanation_names_the_field(program, data, expected):
    assert explain_step(trace(program, data)[0], data) == expected


@pytest.mark.parametrize("program, expected", [
    pytest.param(prog(ret(ERRNO | 1)), "returns ERRNO(1)", id="ret k"),
    pytest.param(prog(ld_imm(ERRNO | 22), RET_A), "returns A=0x50016 ERRNO(22)", id="ret a shows A"),
    pytest.param(prog(ld_imm(1), ldx_imm(0), stmt(op.BPF_ALU | op.BPF_DIV | op.BPF_X), ret(ALLOW)),
                 "X=0x0 == 0: division by zero, the filter returns 0 (KILL_THREAD)",
                 id="bpf_convert_filter: div by X=0 returns 0"),
])
def test_the_last_step_says_what_the_filter_returned(program, expected):
    data = SeccompData(0)
    assert explain_step(trace(program, data)[-1], data) == expected


LD_MEM, LDX_MEM = op.BPF_LD | op.BPF_MEM, op.BPF_LDX | op.BPF_MEM
CALL = SeccompData(EXECVE, args=(0x1122334455667788,))
# Each statement's explanation: its row's rule over the registers it read, then the result. The
# results follow net/core/filter.c:bpf_convert_filter as the x86-64 JIT runs it (unsigned 32-bit
# arithmetic that wraps, shifts by X & 31: kernel-semantics.md §3) and the kernel fixture checks
# each one; ``readback`` moves a result that is not in A there for that check.
STATEMENTS = [
    pytest.param([ld_abs(0)], [], 59, "A = nr = 59 (execve)", id="ld_abs"),
    pytest.param([ld_abs(20)], [], 0x11223344, "A = args[0].hi = 0x11223344", id="ld_abs of an argument"),
    pytest.param([ld_imm(5)], [], 5, "A = 0x5", id="ld_imm"),
    pytest.param([stmt(op.BPF_LD | op.BPF_W | op.BPF_LEN)], [], 64, "A = 0x40", id="ld #len is 64"),
    pytest.param([ldx_imm(7)], [TXA], 7, "X = 0x7", id="ldx_imm"),
    pytest.param([ld_imm(0x14), stmt(op.BPF_ST, 2), ld_imm(0), stmt(LD_MEM, 2)], [], 0x14, "A = M[2] = 0x14",
                 id="ld_mem"),
    pytest.param([ld_imm(0x14), stmt(op.BPF_ST, 2), stmt(LDX_MEM, 2)], [TXA], 0x14, "X = M[2] = 0x14",
                 id="ldx_mem"),
    pytest.param([ld_imm(0x14), stmt(op.BPF_ST, 2)], [stmt(LD_MEM, 2)], 0x14, "M[2] = A = 0x14", id="st"),
    pytest.param([ldx_imm(0x14), stmt(op.BPF_STX, 3)], [stmt(LD_MEM, 3)], 0x14, "M[3] = X = 0x14", id="stx"),
    pytest.param([ld_imm(0x14), TAX], [TXA], 0x14, "X = A = 0x14", id="tax"),
    pytest.param([ldx_imm(0x14), TXA], [], 0x14, "A = X = 0x14", id="txa"),
    pytest.param([ld_imm(0x14), NEG], [], 0xFFFFFFEC, "A = -A = -0x14 = 0xffffffec (mod 2^32)", id="neg"),
    pytest.param([ld_imm(0xFFFFFFFF), alu(op.BPF_ADD, 2)], [], 1, "A = A + 0x2 = 0xffffffff + 0x2 = 0x1 (mod 2^32)",
                 id="add_k wraps"),
    pytest.param([ldx_imm(4), ld_imm(0x10), alu(op.BPF_ADD)], [], 0x14, "A = A + X = 0x10 + 0x4 = 0x14", id="add_x"),
    pytest.param([alu(op.BPF_SUB, 1)], [], 0xFFFFFFFF, "A = A - 0x1 = 0x0 - 0x1 = 0xffffffff (mod 2^32)",
                 id="sub_k below zero"),
    pytest.param([ldx_imm(5), ld_imm(7), alu(op.BPF_SUB)], [], 2, "A = A - X = 0x7 - 0x5 = 0x2", id="sub_x"),
    pytest.param([ld_imm(0x10000), alu(op.BPF_MUL, 0x10000)], [], 0,
                 "A = A * 0x10000 = 0x10000 * 0x10000 = 0x0 (mod 2^32)", id="mul_k keeps the low 32 bits"),
    pytest.param([ldx_imm(3), ld_imm(5), alu(op.BPF_MUL)], [], 15, "A = A * X = 0x5 * 0x3 = 0xf", id="mul_x"),
    pytest.param([ld_imm(7), alu(op.BPF_DIV, 2)], [], 3, "A = A / 0x2 = 0x7 / 0x2 = 0x3", id="div_k truncates"),
    pytest.param([ldx_imm(3), ld_imm(100), alu(op.BPF_DIV)], [], 33, "A = A / X = 0x64 / 0x3 = 0x21", id="div_x"),
    pytest.param([ld_imm(0xF0F0), alu(op.BPF_AND, 0xFF00)], [], 0xF000, "A = A & 0xff00 = 0xf0f0 & 0xff00 = 0xf000",
                 id="and_k"),
    pytest.param([ldx_imm(0xFF00), ld_imm(0xF0F0), alu(op.BPF_AND)], [], 0xF000,
                 "A = A & X = 0xf0f0 & 0xff00 = 0xf000", id="and_x"),
    pytest.param([ld_imm(0xF0F0), alu(op.BPF_OR, 0x0F0F)], [], 0xFFFF, "A = A | 0xf0f = 0xf0f0 | 0xf0f = 0xffff",
                 id="or_k"),
    pytest.param([ldx_imm(0x0F0F), ld_imm(0xF0F0), alu(op.BPF_OR)], [], 0xFFFF,
                 "A = A | X = 0xf0f0 | 0xf0f = 0xffff", id="or_x"),
    pytest.param([ld_imm(0xFFFF), alu(op.BPF_XOR, 0x0F0F)], [], 0xF0F0, "A = A ^ 0xf0f = 0xffff ^ 0xf0f = 0xf0f0",
                 id="xor_k"),
    pytest.param([ldx_imm(0x0F0F), ld_imm(0xFFFF), alu(op.BPF_XOR)], [], 0xF0F0,
                 "A = A ^ X = 0xffff ^ 0xf0f = 0xf0f0", id="xor_x"),
    pytest.param([ld_imm(1), alu(op.BPF_LSH, 31)], [], 0x80000000, "A = A << 0x1f = 0x1 << 0x1f = 0x80000000",
                 id="lsh_k"),
    pytest.param([ldx_imm(33), ld_imm(0x87654321), alu(op.BPF_LSH)], [], 0x0ECA8642,
                 "A = A << (X & 31) = 0x87654321 << (0x21 & 31) = 0xeca8642 (mod 2^32)",
                 id="lsh_x shifts by X & 31 and wraps"),
    pytest.param([ld_imm(0x80000000), alu(op.BPF_RSH, 31)], [], 1, "A = A >> 0x1f = 0x80000000 >> 0x1f = 0x1",
                 id="rsh_k is logical"),
    pytest.param([ldx_imm(33), ld_imm(0x87654321), alu(op.BPF_RSH)], [], 0x43B2A190,
                 "A = A >> (X & 31) = 0x87654321 >> (0x21 & 31) = 0x43b2a190", id="rsh_x shifts by X & 31"),
]


@pytest.mark.parametrize("insns, readback, result, expected", STATEMENTS)
def test_a_statement_is_explained_by_its_rule_with_the_values_it_read(insns, readback, result, expected, kernel):
    steps = trace(prog(*insns, RET_A), CALL)
    assert explain_step(steps[-2], CALL, before=steps[-3] if len(steps) > 2 else None) == expected
    assert format_steps(steps)[-2].endswith("; " + expected)
    kernel.check_value([*insns, *readback], CALL, result)


def test_every_kind_of_the_table_has_an_explanation_test():
    """A new row of semantics.ROWS needs an explanation case here or among the jumps above."""
    from bpfsim import semantics
    programs = [case.values[0] for case in STATEMENTS]
    covered = {semantics.KIND_OF_CODE[insns[-1].code] for insns in programs}
    jumps = {JEQ, JGT, JGE, JSET, JEQ_X, JGT_X, JGE_X, JSET_X, op.BPF_JMP | op.BPF_JA, op.BPF_RET | op.BPF_K,
             op.BPF_RET | op.BPF_A}  # explained by the branch, jump and return tests above
    covered |= {semantics.KIND_OF_CODE[code] for code in jumps}
    assert covered == set(range(len(semantics.ROWS)))


@settings(max_examples=200, deadline=None)
@given(stacks_and_data(max_size=1))
def test_every_step_of_any_filter_is_explained_and_agrees_with_the_run(case):
    """The explanation works a row's rule out for itself (semantics.value_of); the run's own loop
    is generated from the same row: a branch's stated outcome is the branch the run took."""
    (program,), data = case
    steps = trace(program, data)
    for step, before in zip(steps, [None, *steps]):
        why = explain_step(step, data, before=before)
        assert why
        if step.insn.is_jump and step.insn.opcode.is_conditional and step.insn.jt != step.insn.jf:
            taken = step.next_pc == step.pc + 1 + step.insn.jt
            assert why.endswith(f"→ {'true' if taken else 'false'}, pc {step.next_pc}"), why


@pytest.mark.parametrize("returns, winner, chosen_line", [
    pytest.param([ERRNO | 11, ERRNO | 13, ERRNO | 12], 2, "filter 2 returned ERRNO(12)",
                 id="selftest ERRNO_order: ties go to the newest"),
    pytest.param([KILL_PROCESS, ERRNO | 1], 0, "filter 0 returned KILL_PROCESS", id="older kill process wins"),
    pytest.param([0x7FFE0000, ALLOW], 0, "filter 0 returned unknown action 0x7ffe0000",
                 id="unknown 0x7ffe outranks allow"),
])
def test_why_ranks_filters_and_marks_the_chosen_one(returns, winner, chosen_line):
    stack = trace_stack([prog(ret(r)) for r in returns], SeccompData(39))
    assert stack.verdict.filter == winner
    ranked = stack.why.splitlines()[1:]
    assert ranked[0].startswith("  " + chosen_line) and ranked[0].endswith("<- chosen")
    assert len(ranked) == len(returns)


@pytest.mark.parametrize("listener_filter, expected_listener", [
    pytest.param(1, 1, id="the winning filter's listener is notified"),
    pytest.param(0, None, id="an older filter's listener is not: ENOSYS"),
])
def test_a_filter_chain_brings_its_listener(listener_filter, expected_listener):
    chain = FilterChain(judge_installs=False)  # a stack as given: USER_NOTIF would answer the 2nd install
    for i in range(2):
        chain.attach(prog(ret(USER_NOTIF)), abi.SECCOMP_FILTER_FLAG_NEW_LISTENER if i == listener_filter else 0)
    outcome = trace_stack(chain, SeccompData(39)).verdict.outcome
    assert (outcome.listener, outcome.errno) == (expected_listener, None if expected_listener is not None else 38)


def test_every_filter_allowing_keeps_the_initial_allow():
    stack = trace_stack([prog(ret(ALLOW | 0x1234)), prog(ret(ALLOW))], SeccompData(39))
    assert stack.verdict.filter is None
    assert "initial SECCOMP_RET_ALLOW stands" in stack.why


def test_uretprobe_bypasses_the_filters_and_why_says_so():
    stack = trace_stack([prog(ret(KILL_PROCESS))], SeccompData(335))
    assert stack.verdict.filter is None and "bypasses every filter" in stack.why
    assert "filter 0:" not in str(stack)


def test_stack_text_runs_newest_first_and_brief_keeps_the_decider():
    stack = trace_stack([KILL_EXECVE, ARG_CHECK], SeccompData(EXECVE, args=(1,)))
    text = str(stack)
    assert text.index("filter 1:") < text.index("filter 0:")
    assert "M[2]=0x1" in text
    brief = stack.brief()
    assert "filter 0:" in brief and "filter 1:" not in brief
    assert "filter 1 returned ERRNO(13)" in brief


def _debugger(nr=EXECVE, args=(1,)):
    return Debugger([KILL_EXECVE, ARG_CHECK], SeccompData(nr, args=args))


def test_debugger_starts_in_the_newest_filter_before_its_first_instruction():
    dbg = _debugger()
    assert (dbg.filter, dbg.pc, dbg.a, dbg.x, dbg.finished) == (1, 0, 0, 0, False)


def test_step_and_back_walk_the_register_history():
    dbg = _debugger().step(2)
    assert (dbg.pc, dbg.a, dbg.mem[2]) == (2, 1, 1)
    dbg.back()
    assert (dbg.pc, dbg.a, dbg.mem[2]) == (1, 1, None)
    dbg.step(10)
    assert dbg.finished and dbg.ret == ERRNO | 13 and dbg.pc is None


@pytest.mark.parametrize("setup, stop_pc, reason", [
    pytest.param(lambda d: d.break_at(2), 2, "breakpoint at pc 2", id="break at pc"),
    pytest.param(lambda d: d.break_if("M[2] == 1"), 2, "condition M[2] == 0x1", id="break if on memory"),
    pytest.param(lambda d: d.break_if("a & 1"), 1, "condition A & 0x1", id="break if A bit, any case"),
    pytest.param(lambda d: d.break_if("pc >= 3"), 3, "condition pc >= 0x3", id="break if on pc"),
    pytest.param(lambda d: d.break_if("X != 0"), None, "returned", id="condition never true runs to the end"),
])
def test_run_stops_at_breakpoints_and_conditions(setup, stop_pc, reason):
    dbg = _debugger()
    setup(dbg)
    dbg.run()
    assert (dbg.pc, dbg.stopped_by) == (stop_pc, reason)


def test_a_condition_stops_where_it_becomes_true_not_while_it_stays_true():
    dbg = Debugger([KILL_EXECVE, ARG_CHECK], SeccompData(EXECVE, args=(1,)))
    dbg.break_if("A == 1")
    assert dbg.run().pc == 1
    assert (dbg.run().pc, dbg.stopped_by) == (None, "returned")


@pytest.mark.parametrize("operator, holds_for", [
    pytest.param("==", {5}, id="== as jeq"),
    pytest.param("!=", {4, 6, 0xFFFFFFFF}, id="!= as jeq's false branch"),
    pytest.param(">", {6, 0xFFFFFFFF}, id="> as jgt, unsigned"),
    pytest.param("<=", {4, 5}, id="<= as jgt's false branch"),
    pytest.param(">=", {5, 6, 0xFFFFFFFF}, id=">= as jge"),
    pytest.param("<", {4}, id="< as jge's false branch"),
    pytest.param("&", {4, 5, 6, 0xFFFFFFFF}, id="& as jset: any common bit"),
])
def test_a_condition_operator_means_what_the_jump_it_spells_means(operator, holds_for):
    """net/core/filter.c: BPF_JGT/JGE compare unsigned, BPF_JSET tests A & k != 0."""
    condition = Condition.parse(f"A {operator} 5")
    assert {a for a in (4, 5, 6, 0xFFFFFFFF) if condition.holds(None, a, 0, ())} == holds_for


@pytest.mark.parametrize("text", [
    pytest.param("B == 1", id="unknown register"),
    pytest.param("A = 1", id="assignment is not a comparison"),
    pytest.param("M[16] == 0", id="only sixteen scratch cells"),
    pytest.param("A == __import__('os')", id="values are numbers, never evaluated"),
])
def test_bad_conditions_are_refused(text):
    with pytest.raises(DebuggerError):
        Condition.parse(text)


def test_set_input_reruns_with_a_syscall_name_and_arguments():
    dbg = _debugger().step(3)
    dbg.set_input(nr="openat", arg=(0, 4))
    assert (dbg.data.nr, dbg.data.args[0], dbg.pc) == (257, 4, 0)
    assert dbg.verdict.action.name == "ALLOW"


def test_an_x32_call_stays_x32_when_its_number_changes():
    """x32 numbers carry __X32_SYSCALL_BIT under AUDIT_ARCH_X86_64 (x32's write is 0x40000001)."""
    dbg = Debugger([KILL_EXECVE], SeccompData(0, "x32"))
    assert dbg.set_input(nr="write").data.nr == 0x40000001
    assert dbg.set_input(arch="x86_64").data.nr == 1
    assert dbg.set_input(arch="x32").data.nr == 0x40000001
    assert dbg.set_input(nr="execve", arch="i386").data.nr == 11


def test_select_switches_filter_and_refuses_unknown_ones():
    dbg = _debugger().select(0).step(4)
    assert dbg.ret == KILL_PROCESS
    with pytest.raises(DebuggerError):
        dbg.select(2)


def _session(commands: str, **kwargs) -> str:
    out = io.StringIO()
    DebuggerShell(_debugger(**kwargs), stdin=io.StringIO(commands), stdout=out).cmdloop()
    return out.getvalue()


@pytest.mark.parametrize("commands, expected", [
    pytest.param("step\n", "   0  ld [16]  A=0x1        X=0x0        ; A = args[0].lo", id="step shows the executed line"),
    pytest.param("step 2\nregs\n", "A=0x00000001 X=0x00000000 pc=2", id="regs"),
    pytest.param("step 2\nmem\n", "M[2]=0x1", id="mem shows stored cells"),
    pytest.param("step 3\nback 2\nregs\n", "pc=1", id="back"),
    pytest.param("break 3\nrun\n", "stopped: breakpoint at pc 3", id="break and run"),
    pytest.param("break if M[2] == 1\ncontinue\n", "stopped: condition M[2] == 0x1", id="break if and continue"),
    pytest.param("break 3\ndelete\nrun\n", "filter 1 returned ERRNO(13) (0x0005000d)", id="delete all"),
    pytest.param("filter 0\nrun\n", "filter 0 returned KILL_PROCESS (0x80000000)", id="filter switches"),
    pytest.param("set nr read\nrun\n", "filter 1 returned ERRNO(13)", id="set nr by name reruns"),
    pytest.param("set arg 0 4\nrun\n", "filter 1 returned ALLOW", id="set arg reruns"),
    pytest.param("set arg 0 O_CREAT|O_RDWR\nrun\n", "filter 1 returned ERRNO(13)", id="set arg takes constant names"),
    pytest.param("set arg 0 O_CREAT\nrun\n", "filter 1 returned ALLOW", id="O_CREAT is 0x40 on x86_64"),
    pytest.param("set arg 0 O_WRONGLY\n", "error: unknown constant 'O_WRONGLY' for x86_64", id="unknown constant name"),
    pytest.param("verdict\n", "KILL_PROCESS from filter 0", id="verdict of the stack"),
    pytest.param("list\n", "-->      0  ld [16]", id="list marks pc"),
    pytest.param("step 9x\n", "error: '9x' is not a number", id="bad count is reported, loop goes on"),
    pytest.param("break 99\n", "error: pc 99 is outside filter 1", id="break outside the filter"),
    pytest.param("step 0\n", "error: 0 is not a count of instructions", id="no zero steps"),
    pytest.param("back -5\n", "error: -5 is not a count of instructions", id="no negative steps"),
    pytest.param("list 99\n", "error: list takes nothing or 'all'", id="list arguments"),
    pytest.param("break if A == 0x100000000\n", "can never match", id="a condition wider than 32 bits"),
    pytest.param("frobnicate\n", "unknown command 'frobnicate'", id="unknown command"),
    pytest.param("s 2\ndump\n", "M[2]=0x1", id="bpf_dbg names: s and dump"),
    pytest.param("breakpoint 3\nrun\n", "stopped: breakpoint at pc 3", id="bpf_dbg name: breakpoint"),
    pytest.param("select 0\ndisassemble\n", "-->      0  ld [0]", id="bpf_dbg names: select and disassemble"),
])
def test_shell_commands(commands, expected):
    assert expected in _session(commands + "quit\n")


def test_shell_ends_at_end_of_input():
    assert _session("step\n").endswith("(bpfsim) \n")


def test_help_lists_the_commands_but_not_eof():
    """The issue: help listed "EOF", cmd's name for the end of input."""
    shown = _session("help\nquit\n")
    assert "step" in shown and "verdict" in shown and "EOF" not in shown


def test_the_ranking_says_it_lists_the_winner_first():
    """The issue: the summary said "newest filter first" above a list that starts with the winner."""
    why = _session("verdict\nquit\n")
    assert "winner first" in why and "newest filter first" not in why
