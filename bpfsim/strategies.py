"""Hypothesis strategies for seccomp filters, their inputs and filter stacks, built from opcodes' table.

Programs always pass ``verify`` and are shaped like real filters (arch and x32 checks, syscall
number chains, 64-bit argument compares, scratch memory) with random instructions of every
seccomp opcode mixed in. Inputs favour the constants the programs compare against. Needs
hypothesis (``pip install 'bpfsim[test]'``).
"""

from __future__ import annotations

try:
    from hypothesis import strategies as st
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError("bpfsim.strategies needs hypothesis: pip install 'bpfsim[test]' "
                      "(or pip install hypothesis)") from missing

import functools
import struct

from . import abi
from . import opcodes as op
from .insn import Instruction
from .program import Program
from .verifier import unwritten_scratch_loads, verify

__all__ = ["ACTIONS", "SECCOMP_CODES", "arg_words", "constants", "filter_stacks", "instructions", "programs",
           "invalid_programs", "random_seccomp_data", "return_values", "seccomp_data", "stacks_and_data", "u32", "u8", "word_offsets", "words"]

_LATER = -1  # a jump offset to be drawn once the program's length is known

ACTIONS = (abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_ERRNO, abi.SECCOMP_RET_KILL_PROCESS,
           abi.SECCOMP_RET_KILL_THREAD, abi.SECCOMP_RET_TRAP, abi.SECCOMP_RET_TRACE,
           abi.SECCOMP_RET_LOG, abi.SECCOMP_RET_USER_NOTIF)
SECCOMP_CODES = tuple(sorted(op.SECCOMP_OPCODES))
_LD_W_ABS = op.BPF_LD | op.BPF_W | op.BPF_ABS
_RET_K = op.BPF_RET | op.BPF_K
_JEQ_K, _JGT_K, _JGE_K, _JSET_K = (op.BPF_JMP | j | op.BPF_K for j in (op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET))
_LOADS_OF_CELLS = {op.BPF_LD | op.BPF_MEM: op.BPF_LD | op.BPF_IMM, op.BPF_LDX | op.BPF_MEM: op.BPF_LDX | op.BPF_IMM}

u32 = st.integers(0, 0xFFFFFFFF)
u8 = st.integers(0, 0xFF)
word_offsets = st.sampled_from(range(0, abi.SECCOMP_DATA_SIZE, 4))
arg_words = st.sampled_from(range(abi.OFFSET_ARGS, abi.SECCOMP_DATA_SIZE, 4))


# Real filters mostly allow or fail with an errno and kill rarely; so do generated ones, or a
# stack's most severe action would nearly always be a kill and hide everything else.
_ACTION_WEIGHTS = ((abi.SECCOMP_RET_ALLOW, 8), (abi.SECCOMP_RET_ERRNO, 6), (abi.SECCOMP_RET_LOG, 2),
                   (abi.SECCOMP_RET_TRACE, 2), (abi.SECCOMP_RET_USER_NOTIF, 2), (abi.SECCOMP_RET_TRAP, 2),
                   (abi.SECCOMP_RET_KILL_THREAD, 1), (abi.SECCOMP_RET_KILL_PROCESS, 1))
_WEIGHTED_ACTIONS = tuple(action for action, weight in _ACTION_WEIGHTS for _ in range(weight))


@st.composite
def return_values(draw) -> int:
    """A filter's return value: mostly a known action with small data, now and then any 32 bits."""
    if draw(st.integers(0, 24)) == 0:
        return draw(u32)
    action = draw(st.sampled_from(_WEIGHTED_ACTIONS))
    data = draw(st.one_of(st.integers(0, 40), st.integers(0, 0xFFFF))) if action in abi.ACTIONS_WITH_DATA else 0
    return action | data


@st.composite
def instructions(draw, code: int | None = None) -> tuple[int, int, int, int]:
    """One instruction of any seccomp opcode (or ``code``), operands valid for its form in the
    table; jump offsets are left to the program (``_LATER``)."""
    row = op.OPCODES[draw(st.sampled_from(SECCOMP_CODES)) if code is None else code]
    ignored = draw(st.sampled_from((0, 0, 0, 0, 0, 0, 0, 1)))  # the kernel ignores unused fields
    k = draw(u32) if ignored else 0
    if row.form == op.ABS:
        k = draw(word_offsets)
    elif row.form == op.MEM:
        k = draw(st.integers(0, op.BPF_MEMWORDS - 1))
    elif row.form == op.IMM and row.cls == op.BPF_ALU and row.op in (op.BPF_LSH, op.BPF_RSH):
        k = draw(st.integers(0, 31))
    elif row.form == op.IMM and row.cls == op.BPF_ALU and row.op == op.BPF_DIV:
        k = draw(st.one_of(st.integers(1, 16), st.integers(1, 0xFFFFFFFF)))
    elif row.form == op.IMM and row.cls == op.BPF_RET:
        k = draw(return_values())
    elif row.form in (op.IMM, op.COND_K):
        k = draw(st.one_of(st.integers(0, 64), u32))
    elif row.form == op.JUMP:
        return (row.code, 0, 0, _LATER)
    if row.is_conditional:
        return (row.code, _LATER, _LATER, k)
    jt, jf = (draw(st.integers(0, 255)), draw(st.integers(0, 255))) if ignored else (0, 0)
    return (row.code, jt, jf, k)


def _arch_check(draw) -> list:
    native = (abi.NATIVE_ARCH.value, abi.arch_info("i386").value)  # what a kernel-checked input can carry
    arch = draw(st.sampled_from([*native, *native, *(a.value for a in abi.ARCHES if a.seccomp)]))
    return [(_LD_W_ABS, 0, 0, abi.OFFSET_ARCH), (_JEQ_K, 1, 0, arch), (_RET_K, 0, 0, draw(return_values()))]


def _x32_check(draw) -> list:
    return [(_LD_W_ABS, 0, 0, abi.OFFSET_NR), (_JGE_K, 0, 1, abi.X32_SYSCALL_BIT),
            (_RET_K, 0, 0, draw(return_values()))]


def _nr_chain(draw) -> list:
    numbers = draw(st.lists(st.integers(0, 470), min_size=1, max_size=12, unique=True))
    chain = [(_LD_W_ABS, 0, 0, abi.OFFSET_NR)]
    for nr in numbers:
        code = draw(st.sampled_from((_JEQ_K, _JEQ_K, _JEQ_K, _JGT_K, _JGE_K)))
        chain.append((code, _LATER, 0, nr))
    return chain


def _arg_compare(draw) -> list:
    """``args[i] <op> value`` on 64 bits: the high word must match, then the low word decides."""
    index = draw(st.integers(0, 5))
    value = draw(st.one_of(st.integers(0, 64), st.integers(0, (1 << 64) - 1)))
    lo, hi = abi.offset_of_arg(index), abi.offset_of_arg(index) + 4
    code = draw(st.sampled_from((_JEQ_K, _JGT_K, _JGE_K, _JSET_K)))
    return [(_LD_W_ABS, 0, 0, hi), (_JEQ_K, 0, _LATER, value >> 32),
            (_LD_W_ABS, 0, 0, lo), (code, _LATER, _LATER, value & 0xFFFFFFFF)]


def _scratch(draw) -> list:
    cell = draw(st.integers(0, op.BPF_MEMWORDS - 1))
    mask = draw(st.one_of(st.sampled_from((1, 3, 0x40, 0xFF, 0xFFFF0000)), u32))
    return [(_LD_W_ABS, 0, 0, draw(arg_words)), (op.BPF_ALU | op.BPF_AND | op.BPF_K, 0, 0, mask),
            (op.BPF_ST, 0, 0, cell), (op.BPF_LDX | op.BPF_MEM, 0, 0, cell),
            (op.BPF_LD | op.BPF_MEM, 0, 0, cell), (op.BPF_JMP | op.BPF_JEQ | op.BPF_X, _LATER, _LATER, 0)]


def _random_run(draw) -> list:
    return draw(st.lists(instructions(), min_size=1, max_size=6))


def _returns(draw) -> list:
    return [(_RET_K, 0, 0, draw(return_values())) for _ in range(draw(st.integers(1, 3)))]


_SEGMENTS = (_arch_check, _x32_check, _nr_chain, _arg_compare, _scratch, _random_run, _returns)


def _repair_scratch_loads(items: list) -> None:
    """Make the loads that net/core/filter.c:check_load_and_stores would refuse constant loads."""
    for pc in unwritten_scratch_loads([Instruction(*item) for item in items]):
        code, jt, jf, k = items[pc]
        items[pc] = (_LOADS_OF_CELLS[code], jt, jf, k)


@st.composite
def programs(draw, max_segments: int = 8) -> Program:
    """A program seccomp accepts, laid out like a real filter with random parts."""
    items: list = []
    if draw(st.booleans()):
        items += _arch_check(draw)
        if draw(st.booleans()):
            items += _x32_check(draw)
    for _ in range(draw(st.integers(0, max_segments))):
        items += draw(st.sampled_from(_SEGMENTS))(draw)
    items.append((draw(st.sampled_from((_RET_K, op.BPF_RET | op.BPF_A))), 0, 0, 0))
    if items[-1][0] == _RET_K:
        items[-1] = (_RET_K, 0, 0, draw(return_values()))
    n = len(items)
    for pc, (code, jt, jf, k) in enumerate(items):
        room = n - pc - 2  # the largest offset that stays inside the program
        if k == _LATER:
            k = draw(st.integers(0, room))
        if jt == _LATER:
            jt = draw(st.integers(0, min(room, 255)))
        if jf == _LATER:
            jf = draw(st.integers(0, min(room, 255)))
        items[pc] = (code, jt, jf, k)
    _repair_scratch_loads(items)
    prog = Program(Instruction(*item) for item in items)
    verify(prog)
    return prog


def constants(progs) -> list[int]:
    """Every constant the programs compare A with or load, the values an input should hit."""
    found = set()
    for prog in progs:
        for insn in prog:
            row = insn.opcode
            if row is not None and row.form in (op.COND_K, op.IMM) and row.cls != op.BPF_RET:
                found.add(insn.k)
    return sorted(found)


@st.composite
def words(draw, near: list[int] = ()) -> int:
    """A 32-bit word, often one of ``near`` or next to it."""
    choices = [st.sampled_from((0, 1, 0xFFFFFFFF, 0x80000000)), u32]
    if near:
        pick = st.sampled_from(near)
        choices += [pick, pick, pick.map(lambda v: (v + 1) & 0xFFFFFFFF), pick.map(lambda v: (v - 1) & 0xFFFFFFFF)]
    return draw(st.one_of(*choices))


@st.composite
def seccomp_data(draw, progs=(), arch: str | int | None = None):
    """A ``SeccompData`` whose words favour the constants of ``progs``; the arch is ``arch``, else
    one the programs check for, else x86_64 or i386."""
    from .data import SeccompData
    near = constants(progs)
    if arch is None:
        checked = [v for v in near if abi.arch_name(v) is not None]
        arch = draw(st.sampled_from(checked + [abi.NATIVE_ARCH.value, abi.arch_info("i386").value]))
    info = abi.arch_info(arch)
    values = [draw(words(near)) for _ in range(abi.SECCOMP_DATA_SIZE // 4)]
    values[abi.OFFSET_ARCH // 4] = info.value
    order = "<" if info.byteorder == "little" else ">"
    return SeccompData.from_bytes(struct.pack(order + "16I", *values), byteorder=info.byteorder)


def random_seccomp_data(rng, near: list[int] = (), arch: str | int = "x86_64", instruction_pointer: int | None = None):
    """The same bias as ``seccomp_data`` (towards ``near``, e.g. ``constants(progs)``) drawn from a
    ``random.Random``: a fuzzer needs thousands of inputs per second, far more than hypothesis
    draws. ``instruction_pointer`` replaces the drawn one (a kernel call has its own)."""
    from .data import SeccompData
    info = abi.arch_info(arch)
    pool = _input_pool(tuple(near))
    words = [rng.choice(pool) if rng.random() < 0.8 else rng.getrandbits(32) for _ in range(16)]
    if info.byteorder == "big":  # words pair up high half first
        words[2::2], words[3::2] = words[3::2], words[2::2]
    nr = words[0]
    ip = words[2] | words[3] << 32 if instruction_pointer is None else instruction_pointer
    args = [words[i] | words[i + 1] << 32 for i in range(4, 16, 2)]
    return SeccompData(nr, info, ip, args, byteorder=info.byteorder)


@functools.lru_cache(maxsize=256)
def _input_pool(near: tuple[int, ...]) -> tuple[int, ...]:
    """Each constant, its neighbours, and the edge values, with the constants three times as likely."""
    pool = [0, 1, 0xFFFFFFFF, 0x80000000]
    for k in near:
        pool += [k, k, k, (k + 1) & 0xFFFFFFFF, (k - 1) & 0xFFFFFFFF]
    return tuple(pool)


def filter_stacks(min_size: int = 1, max_size: int = 8, max_segments: int = 6):
    """Stacks of filters as attached to one thread, oldest first."""
    return st.lists(programs(max_segments=max_segments), min_size=min_size, max_size=max_size)


@st.composite
def stacks_and_data(draw, min_size: int = 1, max_size: int = 8):
    """(stack, SeccompData) with the input aimed at the stack's constants."""
    stack = draw(filter_stacks(min_size, max_size))
    return stack, draw(seccomp_data(stack))


@st.composite
def invalid_programs(draw) -> Program:
    """A program the verifier should judge: a valid one with one defect of a kind the kernel
    refuses (or, now and then, none), so every rejection path of ``verify`` gets exercised."""
    good = list(draw(programs(max_segments=4)))
    defect = draw(st.sampled_from(_DEFECTS))
    return Program(Instruction(*i) if isinstance(i, tuple) else i for i in defect(draw, good))


def _at(draw, insns, bad):
    pc = draw(st.integers(0, len(insns) - 1))
    return insns[:pc] + [bad] + insns[pc:]


def _undefined_code(draw, insns):
    code = draw(st.integers(0, 0xFFFF).filter(lambda c: c not in op.OPCODES))
    return _at(draw, insns, Instruction(code, draw(u8), draw(u8), draw(u32)))


def _classic_not_seccomp(draw, insns):
    code = draw(st.sampled_from(sorted(set(op.OPCODES) - op.SECCOMP_OPCODES)))
    return _at(draw, insns, Instruction(code, 0, 0, draw(st.integers(1, 63))))


def _bad_constant(draw, insns):
    code, k = draw(st.sampled_from([
        (op.BPF_ALU | op.BPF_DIV | op.BPF_K, st.just(0)), (op.BPF_ALU | op.BPF_MOD | op.BPF_K, st.just(0)),
        (op.BPF_ALU | op.BPF_LSH | op.BPF_K, st.integers(32, 0xFFFFFFFF)),
        (op.BPF_ALU | op.BPF_RSH | op.BPF_K, st.integers(32, 0xFFFFFFFF)),
        (op.BPF_ST, st.integers(16, 0xFFFFFFFF)), (op.BPF_STX, st.integers(16, 0xFFFFFFFF)),
        (op.BPF_LD | op.BPF_MEM, st.integers(16, 0xFFFFFFFF)),
        (op.BPF_LD | op.BPF_W | op.BPF_ABS, st.integers(0, 0xFFFFFFFF).filter(lambda k: k >= 64 or k % 4)),
        (op.BPF_LD | op.BPF_W | op.BPF_ABS, st.sampled_from(sorted(op.ANCILLARY_OFFSETS))),
    ]))
    return _at(draw, insns, Instruction(code, 0, 0, draw(k)))


def _jump_too_far(draw, insns):
    pc = draw(st.integers(0, len(insns) - 1))
    room = len(insns) - pc  # the jump is inserted at pc: landing at pc + 1 + room is past the end
    if draw(st.booleans()):
        bad = Instruction(op.BPF_JMP | op.BPF_JA, 0, 0, draw(st.integers(room, 0xFFFFFFFF)))
    else:
        far = st.integers(min(room, 255), 255)
        code = draw(st.sampled_from([c for c, r in op.OPCODES.items() if r.is_conditional]))
        bad = Instruction(code, draw(far), draw(u8), 0) if draw(st.booleans()) else Instruction(code, draw(u8), draw(far), 0)
    return insns[:pc] + [bad] + insns[pc:]


def _no_final_return(draw, insns):
    return insns + [Instruction(op.BPF_LD | op.BPF_IMM, 0, 0, draw(u32))]


def _scratch_read_first(draw, insns):
    cell = draw(st.integers(0, op.BPF_MEMWORDS - 1))
    code = draw(st.sampled_from((op.BPF_LD | op.BPF_MEM, op.BPF_LDX | op.BPF_MEM)))
    return _at(draw, insns, Instruction(code, 0, 0, cell))


def _length(draw, insns):
    return [] if draw(st.booleans()) else insns + [Instruction(op.BPF_RET | op.BPF_K)] * (op.BPF_MAXINSNS + 1 - len(insns))


def _none(draw, insns):
    return insns


_DEFECTS = (_undefined_code, _classic_not_seccomp, _bad_constant, _jump_too_far, _no_final_return,
            _scratch_read_first, _length, _none)
