"""Stack traces, branch explanations, the Debugger object and its command loop.

Verdicts and rankings are kernel facts (kernel/seccomp.c:seccomp_run_filters, selftest
ERRNO_order); branch results follow the cBPF jump semantics of net/core/filter.c.
"""

import io

import pytest

from bpfsim import FilterChain, SeccompData
from bpfsim import abi
from bpfsim import opcodes as op
from bpfsim.debugger import (Condition, Debugger, DebuggerError, DebuggerShell, explain_step, format_steps,
                             trace_stack)
from bpfsim.interpreter import trace
from tests.build import RET_A, alu, jump, ld_abs, ld_imm, ldx_imm, prog, ret, stmt

ALLOW, KILL_PROCESS, ERRNO, USER_NOTIF = 0x7FFF0000, 0x80000000, 0x00050000, 0x7FC00000
JEQ, JGT, JGE, JSET = (op.BPF_JMP | j | op.BPF_K for j in (op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET))
JEQ_X = op.BPF_JMP | op.BPF_JEQ | op.BPF_X
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
                 "jeq #0: A=0x0, 0x0 (read): both branches go to pc 2", id="equal targets"),
])
def test_step_lines_name_constants_compared_with_a_loaded_field(program, data, expected):
    assert format_steps(trace(program, data))[-2].endswith("; " + expected)


@pytest.mark.parametrize("program, data, expected", [
    pytest.param(prog(ld_abs(4), ret(ALLOW)), SeccompData(0), "A = arch = AUDIT_ARCH_X86_64",
                 id="arch load names the AUDIT_ARCH constant"),
    pytest.param(prog(ld_abs(0), ret(ALLOW)), SeccompData(59), "A = nr = 59 (execve)",
                 id="nr load names the syscall of the arch"),
    pytest.param(prog(ld_abs(20), ret(ALLOW)), SeccompData(0, args=(1 << 32,)), "A = args[0].hi",
                 id="high half of a little-endian argument"),
    pytest.param(prog(ld_abs(16), ret(ALLOW)), SeccompData(0, "s390x", args=(1 << 32,)), "A = args[0].hi",
                 id="big-endian: offset 16 is the high half"),
])
def test_load_explanation_names_the_field(program, data, expected):
    assert explain_step(trace(program, data)[0], data) == expected


@pytest.mark.parametrize("program, expected", [
    pytest.param(prog(ret(ERRNO | 1)), "returns ERRNO(1)", id="ret k"),
    pytest.param(prog(ld_imm(ERRNO | 22), RET_A), "returns A=0x50016 ERRNO(22)", id="ret a shows A"),
    pytest.param(prog(ld_imm(1), ldx_imm(0), stmt(op.BPF_ALU | op.BPF_DIV | op.BPF_X), ret(ALLOW)),
                 "X=0: division by zero, the filter returns 0 (KILL_THREAD)",
                 id="bpf_convert_filter: div by X=0 returns 0"),
])
def test_the_last_step_says_what_the_filter_returned(program, expected):
    data = SeccompData(0)
    assert explain_step(trace(program, data)[-1], data) == expected


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
