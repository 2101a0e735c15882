"""The compiled form of a program answers exactly as the reference interpreter does.

Kernel facts reuse the interpreter's tables (kernel-semantics.md §3 and §9); the property test
compares compiled functions with ``run`` on generated programs and inputs.
"""

import errno

import pytest
from hypothesis import HealthCheck, given, settings

from bpfsim import SeccompData, VerifyError, evaluate, run
from bpfsim import opcodes as op
from bpfsim.compiler import source
from bpfsim.verifier import verified
from tests.build import RET_A, alu, jump, ld_abs, ld_imm, prog, ret, stmt
from tests.strategies import programs, seccomp_data, stacks_and_data
from tests.test_interpreter import A_VALUES, DATA, JUMPS

JSET = op.BPF_JMP | op.BPF_JSET | op.BPF_K


@pytest.mark.parametrize("insns, expected", A_VALUES)
def test_compiled_register_a_after(insns, expected):
    assert verified(prog(*insns, RET_A)).function(DATA.words()) == expected


@pytest.mark.parametrize("operation, a, operand, taken", JUMPS)
@pytest.mark.parametrize("source_", [op.BPF_K, op.BPF_X], ids=["k", "x"])
def test_compiled_jumps_compare_unsigned(operation, a, operand, taken, source_):
    load_x = [stmt(op.BPF_LDX | op.BPF_IMM, operand)] if source_ == op.BPF_X else []
    k = 0 if source_ == op.BPF_X else operand
    program = prog(*load_x, ld_imm(a), jump(op.BPF_JMP | operation | source_, k, 1, 0),
                   ret(0x00050002), ret(0x00050001))
    assert verified(program).function(DATA.words()) == (0x00050001 if taken else 0x00050002)


def test_compiled_division_by_x_zero_returns_0():
    """net/core/filter.c:bpf_convert_filter: a zero divisor makes the filter return 0."""
    assert verified(prog(ld_imm(7), alu(op.BPF_DIV), ret(0x7FFF0000))).function(DATA.words()) == 0


def test_compiled_refuses_what_the_kernel_would_not_load():
    with pytest.raises(VerifyError) as caught:
        verified(prog(ld_abs(2), RET_A))
    assert (caught.value.errno, caught.value.pc) == (errno.EINVAL, 0)


def test_compiled_function_is_built_once_per_program():
    program = prog(ret(0x7FFF0000))
    assert verified(program).function is verified(program).function


def test_source_python_cannot_compile_falls_back_to_the_interpreter(monkeypatch):
    monkeypatch.setattr("bpfsim.compiler._Emitter.source", lambda self: "def f(w):\n" + "    (\n" * 300)
    program = prog(ld_abs(0), jump(op.BPF_JMP | op.BPF_JEQ | op.BPF_K, 1000, 0, 1), ret(0x00050001), RET_A)
    assert verified(program).function(DATA.words()) == 0x00050001


def diamonds(count: int):
    """``count`` tests of args[0] bits that all rejoin: 2**count paths through a linear program."""
    insns = [ld_abs(16)]
    for bit in range(count):
        insns += [jump(JSET, 1 << (bit % 32), 0, 1), alu(op.BPF_ADD, 1), alu(op.BPF_ADD, 2)]
    return prog(*insns, RET_A)


@pytest.mark.parametrize("count", [pytest.param(40, id="40 diamonds"), pytest.param(1300, id="1300 diamonds")])
def test_shared_tails_keep_the_code_linear(count):
    program = diamonds(count)
    assert len(source(verified(program).code)) < 120 * len(program)
    for value in (0, 1, 0xFFFFFFFF, 0xA5A5A5A5):
        data = SeccompData(0, args=(value,))
        assert verified(program).function(data.words()) == run(program, data)


def test_a_4096_instruction_dispatch_chain_compiles():
    pairs = [(jump(op.BPF_JMP | op.BPF_JEQ | op.BPF_K, nr, 0, 1), ret(0x00050000 | nr)) for nr in range(2047)]
    program = prog(ld_abs(0), *[insn for pair in pairs for insn in pair], ret(0x7FFF0000))
    assert len(program) == 4096
    for nr in (0, 1, 2, 2046, 5000):
        data = SeccompData(nr)
        assert verified(program).function(data.words()) == run(program, data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), seccomp_data())
def test_compiled_equals_interpreter_on_any_input(program, data):
    assert verified(program).function(data.words()) == run(program, data)


# No deadline: the first call of a program compiles it, which a busy shared machine can make slow.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stacks_and_data())
def test_compiled_equals_interpreter_on_aimed_inputs(case):
    stack, data = case
    for program in stack:
        assert verified(program).function(data.words()) == run(program, data)
    bypassed = data.arch == 0xC000003E and data.nr in (335, 336)  # kernel/seccomp.c:seccomp_uprobe_exception
    assert evaluate(stack, data).returns == (() if bypassed else tuple(run(p, data) for p in stack))
