"""``Program``: an immutable sequence of instructions, its formats, and THE listing formatter.

Reading and writing each format is delegated to its module (asm, csource, elf); this module owns
the one place where a program becomes a human-readable listing (used by ``str(prog)`` and by
traces), with the seccomp-tools-style comment column: field names, syscall names, absolute jump
targets and action names, kept out of the instruction text so the text still assembles.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from . import abi
from . import opcodes as op
from .errors import BpfsimError, FormatError
from .insn import RECORD_SIZE, Instruction
from .semantics import successors, writes_a
from .target import Target, byteorder_of


class Program(Sequence[Instruction]):
    """An immutable filter program; equality and hash look at the instructions only.

    ``name`` says where the program came from (used in error messages); ``arch`` is the
    architecture it was built for when the source says so (an ELF file does), else ``None``.
    """

    __slots__ = ("_insns", "name", "arch", "_verified")

    def __init__(self, insns: Iterable[Instruction] = (), *, name: str | None = None, arch: str | None = None):
        items = tuple(insns)
        for i, insn in enumerate(items):
            if not isinstance(insn, Instruction):
                raise TypeError(f"Program item {i} is {type(insn).__name__}, not Instruction")
        self._insns = items
        self.name = name
        self.arch = arch
        self._verified = None  # the verifier's VerifiedProgram, once it has checked this program

    @classmethod
    def of(cls, insns: Iterable[Instruction]) -> Program:
        """``insns`` itself when it is a Program (keeping its verified form), else a new one."""
        return insns if isinstance(insns, Program) else cls(insns)

    # -- sequence protocol -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._insns)

    def __getitem__(self, index: int | slice) -> Instruction | Program:
        """One instruction, or a slice as a Program of its own."""
        if isinstance(index, slice):
            return Program(self._insns[index], name=self.name, arch=self.arch)
        return self._insns[index]

    def __iter__(self):
        return iter(self._insns)

    def __eq__(self, other) -> bool:
        if isinstance(other, Program):
            return self._insns == other._insns
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._insns)

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return self._insns

    # -- formats ---------------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, *, name: str | None = None, arch: str | None = None) -> "Program":
        """Raw ``struct sock_filter`` records, 8 little-endian bytes each."""
        data = bytes(data)
        if len(data) % RECORD_SIZE:
            whole = len(data) - len(data) % RECORD_SIZE
            raise FormatError(name or "<bytes>", None,
                              f"{len(data)} bytes is not a whole number of {RECORD_SIZE}-byte "
                              f"instructions ({len(data) % RECORD_SIZE} trailing bytes)", offset=whole)
        insns = [Instruction.from_bytes(data[i:i + RECORD_SIZE]) for i in range(0, len(data), RECORD_SIZE)]
        return cls(insns, name=name, arch=arch)

    def to_bytes(self) -> bytes:
        return b"".join(insn.to_bytes() for insn in self._insns)

    @classmethod
    def from_asm(cls, text: str, *, name: str | None = None, arch: str | None = None) -> "Program":
        """Assembler text (the README documents the syntax)."""
        from . import asm
        return asm.assemble(text, name=name, arch=arch)

    def to_asm(self, *, arch: str | None = None, dialect: str = "bpf_asm") -> str:
        """Assembler text that ``from_asm`` turns back into exactly this program."""
        from . import asm
        return asm.disassemble(self, arch=arch or self.arch, dialect=dialect)

    @classmethod
    def from_c(cls, text: str, symbol: str | None = None, *, name: str | None = None,
               arch: str | None = None) -> "Program":
        """A C initializer of BPF_STMT/BPF_JUMP macros or ``{code, jt, jf, k}`` rows; ``arch``
        decides ``__NR_`` numbers and ``#if`` branches (x86_64 by default)."""
        from . import csource
        return csource.parse(text, symbol=symbol, name=name, arch=arch)

    def to_c(self, *, symbol: str = "filter", arch: str | None = None) -> str:
        from . import csource
        return csource.render(self, symbol=symbol, arch=arch or self.arch)

    @classmethod
    def from_elf(cls, path: str | os.PathLike, symbol: str | None = None) -> "Program":
        """A ``struct sock_filter`` array stored in an ELF file under ``symbol``."""
        from . import elf
        return elf.read_filter(path, symbol=symbol)

    @classmethod
    def load(cls, path: str | os.PathLike, *, arch: str | None = None, symbol: str | None = None) -> "Program":
        """Any supported format, recognized from the content: ELF, raw records, C, bytecode, assembler.

        ``arch`` numbers the syscall and errno names of C and assembler text (an ``arch`` line in
        the text wins); raw records, bytecode and ELF files hold numbers only. ``symbol`` names the
        filter in an ELF file or a C source that holds several.
        """
        source = os.fsdecode(path)
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_FILE_SIZE + 1)
        except OSError as error:
            raise FormatError(source, None, f"cannot read it: {error.strerror or error}") from None
        return cls.parse(data, name=source, arch=arch, symbol=symbol)

    @classmethod
    def parse(cls, data: bytes, *, name: str = "<input>", arch: str | None = None,
              symbol: str | None = None) -> "Program":
        """``load`` for content already read (standard input, for one); ``name`` names it in errors."""
        source = name
        if len(data) > MAX_FILE_SIZE:
            raise FormatError(source, None, f"it is larger than {MAX_FILE_SIZE >> 20} MiB; no filter file is")
        if data.startswith(b"\x7fELF"):
            from . import elf
            return elf.read_filter(source, symbol=symbol, data=data)
        if symbol is not None and not _C_SOURCE.search(_COMMENTS.sub(" ", data.decode("utf-8", "replace"))):
            raise FormatError(source, None, f"symbol '{symbol}': only ELF files and C sources name their filters")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            if not _looks_like_text(data):
                return cls.from_bytes(data, name=source)
            line = data[:error.start].count(b"\n") + 1
            raise FormatError(source, line, f"text that is not UTF-8 (byte {data[error.start]:#04x}), "
                                            "and no NUL byte as raw records have") from None
        if "\0" in text:
            return cls.from_bytes(data, name=source)
        if _C_SOURCE.search(_COMMENTS.sub(" ", text)):
            return cls.from_c(text, symbol, name=source, arch=arch)
        from . import asm
        if asm.BYTECODE.fullmatch(text):
            return asm.parse_bytecode(text, name=source)
        return cls.from_asm(text, name=source, arch=arch)

    # -- text --------------------------------------------------------------------------------------
    def listing(self, *, raw: bool = False, arch: str | None = None) -> str:
        """The numbered listing with a comment column; ``raw`` adds the code/jt/jf/k columns."""
        return format_listing(self, raw=raw, arch=arch or self.arch)

    def __str__(self) -> str:
        return self.listing()

    def __repr__(self) -> str:
        head = f"<Program {len(self)} instructions" + (f" from {self.name}" if self.name else "") + ">"
        return head if not self._insns else head + "\n" + self.listing()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


_C_SOURCE = re.compile(r"\bBPF_(STMT|JUMP)\b|\bsock_filter\b|^\s*\{\s*\d", re.M)
_COMMENTS = re.compile(r"/\*.*?(\*/|\Z)|//[^\n]*|;[^\n]*|#[^\n]*", re.S)  # C's and the assembler's
MAX_FILE_SIZE = 64 << 20  # far above any filter file; stops a read of /dev/zero
_TEXT_BYTES = frozenset(range(32, 127)) | {9, 10, 13}


def _looks_like_text(data: bytes) -> bool:
    """Mostly printable ASCII and no NUL byte, which every raw record of a valid opcode holds
    (an opcode fits in one byte of its 16-bit code)."""
    return b"\0" not in data and sum(b in _TEXT_BYTES for b in data) >= 0.9 * len(data)


# ---------------------------------------------------------------------------------------------
# The listing: one formatter owns the columns.


def _known_a_contents(prog: Sequence[Instruction]) -> list[int | None]:
    """For each pc, the seccomp_data offset A surely holds there (forward flow over the DAG)."""
    unknown, unreached = None, -1
    state: list[int | None] = [unreached] * (len(prog) + 1)
    if prog:
        state[0] = unknown

    def merge(target: int, value):
        if 0 <= target < len(prog):
            previous = state[target]
            state[target] = value if previous == unreached or previous == value else unknown

    for pc, insn in enumerate(prog):
        here = state[pc]
        if here == unreached:
            here = unknown  # dead code: say nothing about it
        if insn.code == op.BPF_LD | op.BPF_W | op.BPF_ABS:
            after = insn.k
        else:
            after = unknown if writes_a(insn.code) else here
        for target in successors(pc, insn):
            merge(target, after)
    return [None if s == unreached else s for s in state[:len(prog)]]


def _comment(pc: int, insn: Instruction, a_holds: int | None, arch: str | None, byteorder: str, n: int,
             jumps: bool = True) -> str:
    row = insn.opcode
    if row is None:
        return "undefined opcode"
    parts: list[str] = []
    if row.code == op.BPF_LD | op.BPF_W | op.BPF_ABS:
        field = abi.field_name(insn.k, byteorder)
        parts.append(f"A = {field}" if field else "outside seccomp_data")
    elif row.form == op.COND_K and a_holds is not None and (row.op == op.BPF_JEQ or a_holds == abi.OFFSET_ARCH):
        parts.append(_constant_meaning(insn.k, a_holds, arch))  # only equality names a syscall
    elif row.is_return and row.form == op.IMM:
        parts.append(abi.describe_return(insn.k))
    if row.is_jump and jumps:
        targets = insn.jump_targets(pc)
        shown = [str(t) if t < n else f"{t} (past the end)" for t in targets]
        if row.form == op.JUMP:
            parts.append(f"goto {shown[0]}")
        else:
            parts.append(f"true: {shown[0]}, false: {shown[1]}")
    return "; ".join(p for p in parts if p)


def _constant_meaning(k: int, a_holds: int, arch: str | None) -> str:
    if a_holds == abi.OFFSET_ARCH:
        name = abi.arch_name(k)
        return f"AUDIT_ARCH_{name.upper()}" if name else ""
    if a_holds == abi.OFFSET_NR and arch:
        from .syscalls import describe_nr
        try:
            return describe_nr(k, arch) or ""
        except BpfsimError:  # an arch without a syscall table
            return ""
    return ""


def annotate(prog: Sequence[Instruction], *, arch: str | None = None, jumps: bool = True) -> list[str]:
    """The comment column of each instruction (the listing's and the disassembler's)."""
    order = byteorder_of(Target.lenient(arch))
    a_holds = _known_a_contents(prog)
    return [_comment(pc, insn, a_holds[pc], arch, order, len(prog), jumps) for pc, insn in enumerate(prog)]


def format_listing(prog: Sequence[Instruction], *, raw: bool = False, arch: str | None = None,
                   marks: dict[int, str] | None = None, extra: dict[int, str] | None = None) -> str:
    """Render a listing. ``marks`` puts a marker (``-->``) before chosen pcs; ``extra`` adds text
    after the comment of chosen pcs (a trace uses both)."""
    comments = annotate(prog, arch=arch)
    targets = {t for pc, insn in enumerate(prog) for t in insn.jump_targets(pc)}
    width = max(3, len(str(max(len(prog) - 1, 0))))
    texts = [str(insn) for insn in prog]
    text_width = max((len(t) for t in texts), default=0)
    lines = []
    for pc, insn in enumerate(prog):
        marker = (marks or {}).get(pc, "")
        jump_in = ">>" if pc in targets else "  "
        head = f"{jump_in} {pc:>{width}}"
        cells = [head if marks is None else f"{marker:>3} {head}"]
        if raw:
            cells.append(f"{insn.code:04x} {insn.jt:3d} {insn.jf:3d} {insn.k:08x}")
        cells.append(texts[pc].ljust(text_width))
        comment = comments[pc]
        more = (extra or {}).get(pc)
        tail = "  ".join(t for t in (f"; {comment}" if comment else "", more or "") if t)
        lines.append("  ".join(cells) + ("  " + tail if tail else ""))
    return "\n".join(line.rstrip() for line in lines)
