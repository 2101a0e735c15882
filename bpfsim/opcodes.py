"""The classic-BPF encoding and THE opcode table: what every 16-bit code means.

Mirrors include/uapi/linux/bpf_common.h and filter.h for the bits, ``bpf_check_classic``'s
``codes[]`` table (net/core/filter.c) for the 49 codes classic BPF knows, and the switch in
``seccomp_check_filter`` (kernel/seccomp.c) for the 41 of them that seccomp accepts. Every other
module asks this one what a code is; nobody else keeps a table.
"""

from __future__ import annotations

from dataclasses import dataclass

# Instruction classes (code & 0x07).
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
# Load sizes (code & 0x18).
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
# Load modes (code & 0xe0).
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
# ALU operations (code & 0xf0).
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR = 0x60, 0x70, 0x80, 0x90, 0xA0
# Jump operations (code & 0xf0).
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
# Operand source (code & 0x08).
BPF_K, BPF_X = 0x00, 0x08
# Return value source (code & 0x18); BPF_RET|BPF_X has a name but no meaning.
BPF_A = 0x10
# MISC operations (code & 0xf8).
BPF_TAX, BPF_TXA = 0x00, 0x80

BPF_MAXINSNS = 4096  # include/uapi/linux/bpf_common.h
BPF_MEMWORDS = 16  # include/uapi/linux/filter.h
SKF_AD_OFF = 0xFFFFF000  # (u32)-0x1000, include/uapi/linux/filter.h


def BPF_CLASS(code: int) -> int:
    return code & 0x07


def BPF_SIZE(code: int) -> int:
    return code & 0x18


def BPF_MODE(code: int) -> int:
    return code & 0xE0


def BPF_OP(code: int) -> int:
    return code & 0xF0


def BPF_SRC(code: int) -> int:
    return code & 0x08


def BPF_RVAL(code: int) -> int:
    return code & 0x18


def BPF_MISCOP(code: int) -> int:
    return code & 0xF8


CLASS_NAMES = {BPF_LD: "ld", BPF_LDX: "ldx", BPF_ST: "st", BPF_STX: "stx", BPF_ALU: "alu",
               BPF_JMP: "jmp", BPF_RET: "ret", BPF_MISC: "misc"}

# Operand forms: how an instruction's operand is written in bpf_asm text.
NONE = "none"      # tax, txa, neg
A_REG = "a"        # ret a
X_REG = "x"        # add x
IMM = "imm"        # ld #k, ret #k, add #k
ABS = "abs"        # ld [k]
IND = "ind"        # ld [x + k]
MEM = "mem"        # ld M[k], st M[k]
LEN = "len"        # ld #len
MSH = "msh"        # ldxb 4*([k]&0xf)
JUMP = "ja"        # ja target
COND_K = "cond_k"  # jeq #k, jt, jf
COND_X = "cond_x"  # jeq x, jt, jf


# How each operand form is written, as columns of the table: the bpf_asm text (filled with
# k in decimal, imm in hex past 9, jt and jf), and the filter.h macro parts after the class.
_ASM_OPERANDS = {NONE: "", A_REG: " a", X_REG: " x", IMM: " #{imm}", ABS: " [{k}]", IND: " [x + {k}]",
                 MEM: " M[{k}]", LEN: " #len", MSH: " 4*([{k}]&0xf)", JUMP: " {k}", COND_K: " #{imm}, {jt}, {jf}",
                 COND_X: " x, {jt}, {jf}"}
# A conditional jump written with one target (bpf_exp.y): the true one alone, or the false one
# alone under bpf_asm's negated name (jne, jlt, jle; jset has none, so it keeps both targets).
_ASM_JT_ONLY = {COND_K: " #{imm}, {jt}", COND_X: " x, {jt}"}
_ASM_JF_ONLY = {COND_K: " #{imm}, {jf}", COND_X: " x, {jf}"}
NEGATED_MNEMONICS = {BPF_JEQ: "jne", BPF_JGE: "jlt", BPF_JGT: "jle"}
# The pseudo-C dialect's operators (seccomp-tools lib/seccomp-tools/asm/sasm.y): A OP= operand.
PSEUDO_C_OPERATORS = {BPF_ADD: "+", BPF_SUB: "-", BPF_MUL: "*", BPF_DIV: "/", BPF_OR: "|", BPF_AND: "&",
                      BPF_LSH: "<<", BPF_RSH: ">>", BPF_MOD: "%", BPF_XOR: "^"}
# The pseudo-C dialect's comparisons (sasm.y), the one vocabulary its writer and its parser
# share: for each jump operation, the operator of ``A OP rhs`` when the jump goes to jt, and when
# it goes to jf alone (the negation). JSET's negation has no operator: it is ``!(A & rhs)``.
PSEUDO_C_COMPARISONS = {BPF_JEQ: ("==", "!="), BPF_JGT: (">", "<="), BPF_JGE: (">=", "<"), BPF_JSET: ("&", None)}
# The conditions written from them; ``{rhs}`` is the constant a BPF_K jump compares with.
_PSEUDO_C_CONDITIONS = {op: (f"A {true} {{rhs}}", f"A {false} {{rhs}}" if false else f"!(A {true} {{rhs}})")
                        for op, (true, false) in PSEUDO_C_COMPARISONS.items()}
_SIZE_NAMES = {BPF_W: "BPF_W", BPF_H: "BPF_H", BPF_B: "BPF_B"}
_MODE_NAMES = {BPF_IMM: "BPF_IMM", BPF_ABS: "BPF_ABS", BPF_IND: "BPF_IND", BPF_MEM: "BPF_MEM", BPF_LEN: "BPF_LEN",
               BPF_MSH: "BPF_MSH"}


@dataclass(frozen=True, slots=True)
class Opcode:
    """One row of the table: a code, whether each layer accepts it, and its spelling in each
    dialect (``asm_text``: bpf_asm, a template over ``k``, ``imm``, ``jt`` and ``jf``, with
    ``asm_jt_only`` and ``asm_jf_only`` for a conditional jump written with one target;
    ``c_spelling``: the filter.h macros, ``BPF_LD | BPF_W | BPF_ABS``; ``pseudo_c_text``: the
    pseudo-C statement, ``None`` where the dialect has none, and ``pseudo_c_negated``: a
    conditional jump's statement when only its false branch jumps)."""

    code: int
    mnemonic: str
    form: str
    seccomp: bool  # accepted by seccomp_check_filter (kernel/seccomp.c)

    @property
    def asm_text(self) -> str:
        return self.mnemonic + _ASM_OPERANDS[self.form]

    @property
    def asm_jt_only(self) -> str | None:
        return self.mnemonic + _ASM_JT_ONLY[self.form] if self.is_conditional else None

    @property
    def asm_jf_only(self) -> str | None:
        name = NEGATED_MNEMONICS.get(self.op) if self.is_conditional else None
        return name + _ASM_JF_ONLY[self.form] if name else None

    @property
    def pseudo_c_text(self) -> str | None:
        return _PSEUDO_C_TEXT.get(self.code)

    @property
    def pseudo_c_negated(self) -> str | None:
        return _PSEUDO_C_NEGATED.get(self.code)

    @property
    def c_spelling(self) -> str:
        parts = [f"BPF_{CLASS_NAMES[self.cls].upper()}"]
        if self.cls in (BPF_LD, BPF_LDX):
            parts += [_SIZE_NAMES[BPF_SIZE(self.code)], _MODE_NAMES[BPF_MODE(self.code)]]
        elif self.cls == BPF_ALU:
            parts.append("BPF_NEG" if self.op == BPF_NEG else f"BPF_{self.mnemonic.upper()}")
            if self.op != BPF_NEG:
                parts.append("BPF_X" if self.form == X_REG else "BPF_K")
        elif self.cls == BPF_JMP:
            parts.append(f"BPF_{self.mnemonic.upper()}")
            if self.is_conditional:
                parts.append("BPF_X" if self.form == COND_X else "BPF_K")
        elif self.cls == BPF_RET:
            parts.append("BPF_A" if self.form == A_REG else "BPF_K")
        elif self.cls == BPF_MISC:
            parts.append(f"BPF_{self.mnemonic.upper()}")
        return " | ".join(parts)

    @property
    def cls(self) -> int:
        return BPF_CLASS(self.code)

    @property
    def op(self) -> int:
        return BPF_OP(self.code)

    @property
    def uses_k(self) -> bool:
        return self.form in (IMM, ABS, IND, MEM, MSH, JUMP, COND_K)

    @property
    def uses_jt_jf(self) -> bool:
        return self.form in (COND_K, COND_X)

    @property
    def is_jump(self) -> bool:
        return self.cls == BPF_JMP

    @property
    def is_conditional(self) -> bool:
        return self.form in (COND_K, COND_X)

    @property
    def is_return(self) -> bool:
        return self.cls == BPF_RET


ALU_MNEMONICS = {BPF_ADD: "add", BPF_SUB: "sub", BPF_MUL: "mul", BPF_DIV: "div", BPF_OR: "or",
                 BPF_AND: "and", BPF_LSH: "lsh", BPF_RSH: "rsh", BPF_MOD: "mod", BPF_XOR: "xor"}
JUMP_MNEMONICS = {BPF_JEQ: "jeq", BPF_JGT: "jgt", BPF_JGE: "jge", BPF_JSET: "jset"}


def _build_table() -> dict[int, Opcode]:
    rows: list[Opcode] = [
        Opcode(BPF_LD | BPF_W | BPF_IMM, "ld", IMM, True),
        Opcode(BPF_LD | BPF_W | BPF_ABS, "ld", ABS, True),
        Opcode(BPF_LD | BPF_H | BPF_ABS, "ldh", ABS, False),
        Opcode(BPF_LD | BPF_B | BPF_ABS, "ldb", ABS, False),
        Opcode(BPF_LD | BPF_W | BPF_IND, "ld", IND, False),
        Opcode(BPF_LD | BPF_H | BPF_IND, "ldh", IND, False),
        Opcode(BPF_LD | BPF_B | BPF_IND, "ldb", IND, False),
        Opcode(BPF_LD | BPF_W | BPF_MEM, "ld", MEM, True),
        Opcode(BPF_LD | BPF_W | BPF_LEN, "ld", LEN, True),
        Opcode(BPF_LDX | BPF_W | BPF_IMM, "ldx", IMM, True),
        Opcode(BPF_LDX | BPF_W | BPF_MEM, "ldx", MEM, True),
        Opcode(BPF_LDX | BPF_W | BPF_LEN, "ldx", LEN, True),
        Opcode(BPF_LDX | BPF_B | BPF_MSH, "ldxb", MSH, False),
        Opcode(BPF_ST, "st", MEM, True),
        Opcode(BPF_STX, "stx", MEM, True),
        Opcode(BPF_ALU | BPF_NEG, "neg", NONE, True),
        Opcode(BPF_JMP | BPF_JA, "ja", JUMP, True),
        Opcode(BPF_RET | BPF_K, "ret", IMM, True),
        Opcode(BPF_RET | BPF_A, "ret", A_REG, True),
        Opcode(BPF_MISC | BPF_TAX, "tax", NONE, True),
        Opcode(BPF_MISC | BPF_TXA, "txa", NONE, True),
    ]
    for op, name in ALU_MNEMONICS.items():
        for src, form in ((BPF_K, IMM), (BPF_X, X_REG)):
            rows.append(Opcode(BPF_ALU | op | src, name, form, op != BPF_MOD))
    for op, name in JUMP_MNEMONICS.items():
        for src, form in ((BPF_K, COND_K), (BPF_X, COND_X)):
            rows.append(Opcode(BPF_JMP | op | src, name, form, True))
    return {row.code: row for row in rows}


# The pseudo-C statement of each code seccomp-tools' dialect can write (lib/seccomp-tools/asm/
# sasm.y), a template over k (decimal), imm (hex past 9), field (the seccomp_data name a word load
# reads), action (a return's), rhs (a jump's constant) and the targets ja, jt and jf. Half-word,
# byte and indexed loads have no statement: the writer emits them as raw records.
_PSEUDO_C_TEXT = {
    BPF_LD | BPF_W | BPF_IMM: "A = {imm}", BPF_LD | BPF_W | BPF_ABS: "A = {field}",
    BPF_LD | BPF_W | BPF_MEM: "A = mem[{k}]", BPF_LD | BPF_W | BPF_LEN: "A = len",
    BPF_LDX | BPF_W | BPF_IMM: "X = {imm}", BPF_LDX | BPF_W | BPF_MEM: "X = mem[{k}]",
    BPF_LDX | BPF_W | BPF_LEN: "X = len", BPF_ST: "mem[{k}] = A", BPF_STX: "mem[{k}] = X",
    BPF_ALU | BPF_NEG: "A = -A", BPF_MISC | BPF_TAX: "X = A", BPF_MISC | BPF_TXA: "A = X",
    BPF_RET | BPF_K: "return {action}", BPF_RET | BPF_A: "return A", BPF_JMP | BPF_JA: "goto {ja}",
    **{BPF_ALU | op | BPF_K: f"A {sym}= {{imm}}" for op, sym in PSEUDO_C_OPERATORS.items()},
    **{BPF_ALU | op | BPF_X: f"A {sym}= X" for op, sym in PSEUDO_C_OPERATORS.items()},
    **{BPF_JMP | op | src: f"if ({true.format(rhs=rhs)}) goto {{jt}}"
       for op, (true, _) in _PSEUDO_C_CONDITIONS.items() for src, rhs in ((BPF_K, "{rhs}"), (BPF_X, "X"))},
}
_PSEUDO_C_NEGATED = {BPF_JMP | op | src: f"if ({false.format(rhs=rhs)}) goto {{jf}}"
                     for op, (_, false) in _PSEUDO_C_CONDITIONS.items() for src, rhs in ((BPF_K, "{rhs}"), (BPF_X, "X"))}

OPCODES: dict[int, Opcode] = _build_table()
"""The 49 codes that ``bpf_check_classic`` knows (net/core/filter.c, ``codes[]``)."""

SECCOMP_OPCODES: frozenset[int] = frozenset(c for c, row in OPCODES.items() if row.seccomp)
"""The 41 codes that ``seccomp_check_filter`` lets through (kernel/seccomp.c)."""


def lookup(code: int) -> Opcode | None:
    """The table row of ``code``, or ``None`` for a code classic BPF does not define."""
    return OPCODES.get(code)

SKF_AD_MAX = 64  # include/uapi/linux/filter.h
ANCILLARY_OFFSETS: frozenset[int] = frozenset(SKF_AD_OFF + off for off in range(0, SKF_AD_MAX, 4))
"""``ld [k]`` offsets that ``bpf_anc_helper`` (include/linux/filter.h) knows as socket extensions."""
