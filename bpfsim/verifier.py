"""The load-time checks seccomp(SECCOMP_SET_MODE_FILTER) applies to one program, in kernel order.

Each private function mirrors one kernel function and fails the way it does; ``verify`` runs
them as ``seccomp_prepare_filter`` (kernel/seccomp.c) reaches them through
``bpf_prog_create_from_user`` → ``bpf_prepare_filter`` (net/core/filter.c). Every failure is
-EINVAL, raised as ``VerifyError`` with the pc the kernel stopped at.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator, Sequence

from . import compiler
from . import opcodes as op
from .abi import SECCOMP_DATA_SIZE
from .errors import VerifyError
from .insn import Instruction
from .profiles import Kernel
from .semantics import converted_length, decode, successors

TYPE_CHECKING = False  # typing is for type checkers only, as in program.py
if TYPE_CHECKING:
    from typing import overload

_CONDITIONAL_JUMPS = frozenset(
    op.BPF_JMP | j | s for j in (op.BPF_JEQ, op.BPF_JGT, op.BPF_JGE, op.BPF_JSET) for s in (op.BPF_K, op.BPF_X))
_JUMPS = _CONDITIONAL_JUMPS | {op.BPF_JMP | op.BPF_JA}
_MEM_LOADS = frozenset({op.BPF_LD | op.BPF_MEM, op.BPF_LDX | op.BPF_MEM})
_MEM_ACCESS = _MEM_LOADS | {op.BPF_ST, op.BPF_STX}
_LD_ABS = frozenset(op.BPF_LD | size | op.BPF_ABS for size in (op.BPF_W, op.BPF_H, op.BPF_B))


def _fail(pc: int | None, prog: Sequence[Instruction], message: str, check: str) -> VerifyError:
    insn = prog[pc] if pc is not None and pc < len(prog) else None
    return VerifyError(errno.EINVAL, pc, message, insn=insn, check=check)


def _bpf_check_basics_ok(prog: Sequence[Instruction]) -> None:
    """net/core/filter.c:bpf_check_basics_ok (also seccomp_prepare_filter's own length test)."""
    if not prog:
        raise _fail(None, prog, "a filter needs at least one instruction", "bpf_check_basics_ok")
    if len(prog) > op.BPF_MAXINSNS:
        raise _fail(None, prog, f"{len(prog)} instructions is over BPF_MAXINSNS ({op.BPF_MAXINSNS})",
                    "bpf_check_basics_ok")


def _bpf_check_classic(prog: Sequence[Instruction]) -> None:
    """net/core/filter.c:bpf_check_classic: scans every pc, dead code included."""
    flen = len(prog)
    check = "bpf_check_classic"
    for pc, insn in enumerate(prog):
        code, k = insn.code, insn.k
        if code not in op.OPCODES:  # chk_code_allowed
            raise _fail(pc, prog, f"opcode {code:#06x} is not a classic BPF instruction", check)
        if code in (op.BPF_ALU | op.BPF_DIV | op.BPF_K, op.BPF_ALU | op.BPF_MOD | op.BPF_K) and k == 0:
            raise _fail(pc, prog, "division by the constant 0", check)
        elif code in (op.BPF_ALU | op.BPF_LSH | op.BPF_K, op.BPF_ALU | op.BPF_RSH | op.BPF_K) and k >= 32:
            raise _fail(pc, prog, f"shift by the constant {k} (must be below 32)", check)
        elif code in _MEM_ACCESS and k >= op.BPF_MEMWORDS:
            raise _fail(pc, prog, f"scratch cell M[{k}] does not exist (M[0]..M[{op.BPF_MEMWORDS - 1}])", check)
        elif code == op.BPF_JMP | op.BPF_JA and k >= flen - pc - 1:
            raise _fail(pc, prog, f"ja {k} lands past the last instruction ({pc + 1 + k} >= {flen})", check)
        elif code in _CONDITIONAL_JUMPS and (pc + insn.jt + 1 >= flen or pc + insn.jf + 1 >= flen):
            raise _fail(pc, prog, f"conditional jump lands past the last instruction "
                        f"(true: {pc + 1 + insn.jt}, false: {pc + 1 + insn.jf}, length {flen})", check)
        elif code in _LD_ABS and k >= op.SKF_AD_OFF and k not in op.ANCILLARY_OFFSETS:
            raise _fail(pc, prog, f"load from unknown socket extension offset {k:#x}", check)
    if prog[-1].code not in (op.BPF_RET | op.BPF_K, op.BPF_RET | op.BPF_A):
        raise _fail(flen - 1, prog, "the last instruction must be a return", check)
    _check_load_and_stores(prog)


def _check_load_and_stores(prog: Sequence[Instruction]) -> None:
    """net/core/filter.c:check_load_and_stores: refuse the first load of a cell not yet written."""
    refused = unwritten_scratch_loads(prog)
    if refused:
        pc = refused[0]
        raise _fail(pc, prog, f"M[{prog[pc].k}] may be read before it is written", "check_load_and_stores")


def unwritten_scratch_loads(prog: Sequence[Instruction]) -> list[int]:
    """The pcs of the scratch loads that check_load_and_stores judges unwritten, all of them.

    It is a linear pass, not a control-flow analysis: the set of written cells flows from one
    instruction to the next in program order, also across a RET; a jump narrows its targets'
    masks and then resets the set to "all written". So a load the kernel refuses may be
    unreachable, and one it accepts may be dead code. Jump targets must be in range.
    """
    if not any(insn.code in _MEM_LOADS for insn in prog):
        return []  # no scratch load to refuse: most filters never use scratch memory
    all_cells = (1 << op.BPF_MEMWORDS) - 1
    masks = [all_cells] * len(prog)
    valid = 0
    refused = []
    for pc, insn in enumerate(prog):
        valid &= masks[pc]
        code = insn.code
        if code in (op.BPF_ST, op.BPF_STX):
            valid |= 1 << insn.k
        elif code in _MEM_LOADS:
            if not valid >> insn.k & 1:
                refused.append(pc)
        elif code in _JUMPS:
            for target in successors(pc, insn):
                masks[target] &= valid
            valid = all_cells
    return refused


def _seccomp_check_filter(prog: Sequence[Instruction]) -> None:
    """kernel/seccomp.c:seccomp_check_filter: seccomp's opcode whitelist and load offsets."""
    check = "seccomp_check_filter"
    for pc, insn in enumerate(prog):
        code = insn.code
        if code == op.BPF_LD | op.BPF_W | op.BPF_ABS:
            if insn.k >= SECCOMP_DATA_SIZE or insn.k & 3:
                raise _fail(pc, prog, f"ld [{insn.k}] is not an aligned word inside struct seccomp_data "
                            f"(0, 4, ..., {SECCOMP_DATA_SIZE - 4})", check)
        elif code not in op.SECCOMP_OPCODES:
            row = op.OPCODES[code]
            raise _fail(pc, prog, f"{row.mnemonic} ({code:#06x}) is classic BPF but not allowed in seccomp", check)


class VerifiedProgram(Sequence[Instruction]):
    """A program the kernel would load, with what is derived from it once: the decoded code
    (``semantics.decode``), the converted length, and, built on first use, the compiled
    function and the jeq chains. Made by ``verified``; ``run``, ``trace``, ``evaluate``,
    ``FilterChain.attach`` and the analysis take it (or a plain program, verified on the way in).
    It reads as the sequence of its program's instructions; ``program`` is the Program it was
    made from (a tuple of the instructions when it was made from another sequence)."""

    __slots__ = ("program", "code", "converted_length", "_function", "_jeq_chains")

    def __init__(self, program: Sequence[Instruction]):
        self.program = program
        self.code = decode(program)
        self.converted_length = converted_length(program)
        self._function = None
        self._jeq_chains = None

    @property
    def function(self) -> Callable[[Sequence[int]], int]:
        """``f(words) -> int``: what the program returns for ``SeccompData.words()``."""
        if self._function is None:
            self._function = compiler.build(self.code, getattr(self.program, "name", None) or "program")
        return self._function

    @property
    def jeq_chains(self) -> dict[int, tuple[dict[int, int], int]]:
        """``compiler.jeq_chains`` of the decoded code."""
        if self._jeq_chains is None:
            self._jeq_chains = compiler.jeq_chains(self.code)
        return self._jeq_chains

    def __len__(self) -> int:
        return len(self.program)

    if TYPE_CHECKING:
        @overload
        def __getitem__(self, index: int) -> Instruction: ...
        @overload
        def __getitem__(self, index: slice) -> Program: ...

    def __getitem__(self, index: int | slice) -> Instruction | Program:
        return self.program[index]

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.program)

    def __repr__(self) -> str:
        return f"<VerifiedProgram of {self.program!r}>"


def verified(prog: Sequence[Instruction] | VerifiedProgram) -> VerifiedProgram:
    """``prog`` checked as the kernel checks it alone (``VerifyError`` otherwise). A Program keeps
    its verified form in its ``_verified`` slot, so it is checked and decoded once however often
    it is used; any other sequence of instructions is checked on each call."""
    if isinstance(prog, VerifiedProgram):
        return prog
    checked = getattr(prog, "_verified", None)
    if checked is not None:
        return checked
    remembers = hasattr(prog, "_verified")  # a Program (program.py sits above this module)
    insns = prog if remembers else tuple(prog)
    _bpf_check_basics_ok(insns)
    _bpf_check_classic(insns)
    _seccomp_check_filter(insns)
    checked = VerifiedProgram(insns)
    if remembers:
        prog._verified = checked
    return checked


def verify(prog: Sequence[Instruction], *, kernel: Kernel | str | None = None) -> None:
    """Return ``None`` where the kernel would load ``prog`` alone; raise ``VerifyError`` otherwise.

    ``kernel`` (a ``Kernel`` or version string) is checked and otherwise changes nothing: these
    load-time checks are the same in every kernel bpfsim models (4.14 to 6.18).
    """
    Kernel.of(kernel)
    verified(prog)
