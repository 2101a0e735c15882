"""One ``struct sock_filter`` (include/uapi/linux/filter.h): the 8-byte record and its text.

``str(insn)`` is the instruction in bpfsim's assembler syntax (the kernel's bpf_asm dialect, with
jump offsets written as numbers relative to the next instruction). A record that the canonical
text cannot carry exactly (an unknown code, or a nonzero field the opcode ignores) is written in
the raw spelling ``raw CODE, JT, JF, K``, so every record survives a text round trip.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import opcodes as op
from .errors import FormatError

RECORD = struct.Struct("<HBBI")
RECORD_SIZE = RECORD.size  # 8
# ``struct sock_filter`` as each byte order stores it: the CPU's own, which is what a kernel reads,
# PTRACE_SECCOMP_GET_FILTER returns and libseccomp exports for a filter of that arch.
RECORDS = {"little": RECORD, "big": struct.Struct(">HBBI")}


def hex_or_dec(value: int) -> str:
    """Immediates read best in hex once they stop being small counts."""
    return str(value) if value < 10 else f"{value:#x}"


@dataclass(frozen=True, slots=True)
class Instruction:
    """A classic-BPF instruction: opcode ``code`` (u16), jump offsets ``jt``/``jf`` (u8), ``k`` (u32)."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    def __post_init__(self):
        for name, value, bits in (("code", self.code, 16), ("jt", self.jt, 8), ("jf", self.jf, 8), ("k", self.k, 32)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Instruction.{name} must be an int, not {type(value).__name__}")
            if not 0 <= value < 1 << bits:
                raise ValueError(f"Instruction.{name}={value} does not fit in {bits} unsigned bits")

    # -- decoded views, all answered by the opcode table --------------------------------------
    @property
    def opcode(self) -> op.Opcode | None:
        """The table row, or ``None`` for a code classic BPF does not define."""
        return op.lookup(self.code)

    @property
    def cls(self) -> int:
        return op.BPF_CLASS(self.code)

    @property
    def size(self) -> int:
        return op.BPF_SIZE(self.code)

    @property
    def mode(self) -> int:
        return op.BPF_MODE(self.code)

    @property
    def operation(self) -> int:
        return op.BPF_OP(self.code)

    @property
    def source(self) -> int:
        return op.BPF_SRC(self.code)

    @property
    def is_jump(self) -> bool:
        return self.cls == op.BPF_JMP

    @property
    def is_return(self) -> bool:
        return self.cls == op.BPF_RET

    def jump_targets(self, pc: int) -> tuple[int, ...]:
        """Absolute successor pcs of a jump at ``pc`` (true first), as the kernel computes them."""
        row = self.opcode
        if row is None or not row.is_jump:
            return ()
        if row.form == op.JUMP:
            return (pc + 1 + self.k,)
        return (pc + 1 + self.jt, pc + 1 + self.jf)

    # -- the 8-byte record ---------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, byteorder: str = "little") -> "Instruction":
        if len(data) != RECORD_SIZE:
            raise FormatError("<bytes>", None, f"an instruction is {RECORD_SIZE} bytes, got {len(data)}")
        return cls(*RECORDS[byteorder].unpack(data))

    def to_bytes(self) -> bytes:
        return RECORD.pack(self.code, self.jt, self.jf, self.k)

    # -- text ------------------------------------------------------------------------------------
    def is_canonical(self) -> bool:
        """True when the mnemonic text alone reproduces the record (no ignored field is set)."""
        row = self.opcode
        if row is None:
            return False
        if not row.uses_jt_jf and (self.jt or self.jf):
            return False
        return row.uses_k or not self.k

    def __str__(self) -> str:
        if not self.is_canonical():
            return f"raw {self.code:#06x}, {self.jt}, {self.jf}, {self.k:#x}"
        return self.opcode.asm_text.format(k=self.k, imm=hex_or_dec(self.k), jt=self.jt, jf=self.jf)

    def __repr__(self) -> str:
        return f"Instruction(code={self.code:#06x}, jt={self.jt}, jf={self.jf}, k={self.k:#x})"
