"""``Program``: an immutable sequence of instructions and its formats.

Reading and writing each format is delegated to its module (asm, csource, elf), which deal in
plain instructions; this module wraps what they read into a Program. Listings come from
``formatter``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from .errors import FormatError
from .insn import RECORD_SIZE, RECORDS, Instruction

# typing costs 2 ms to import, and a one-shot command needs none of it: what it declares is for type
# checkers, which read TYPE_CHECKING as true wherever it is defined.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import overload


def split_symbol(spec: str | os.PathLike) -> tuple[str, str | None]:
    """A filter's name as every front end spells it: ``FILE``, or ``FILE:SYMBOL`` for one filter of
    an ELF file or C source (a number: the address or file offset of one without a symbol). A
    file whose own name holds the colon wins, so it still loads."""
    spec = os.fsdecode(spec)
    path, sep, symbol = spec.rpartition(":")
    if sep and path and not os.path.exists(spec) and os.path.exists(path):
        return path, symbol
    return spec, None


def stack_files(path: str | os.PathLike) -> list[str]:
    """The files a filter name stands for: itself, or for a directory that ``bpfsim dump`` wrote,
    its ``.bpf`` files in install order. Dump numbers them from 0 (oldest); sorting by that
    number also reads directories that older bpfsim versions wrote as 0.bpf ... 24.bpf, where
    the name order is not install order."""
    shown = os.fsdecode(path)
    if not os.path.isdir(shown):
        return [shown]
    names = [n for n in os.listdir(shown) if n.endswith(".bpf")]
    if not names:
        raise FormatError(shown, None, "a directory without .bpf files (a filter may be a directory bpfsim dump wrote)")
    stem = lambda name: name[:-4]  # noqa: E731
    names.sort(key=lambda n: (0, int(stem(n)), n) if stem(n).isdigit() else (1, 0, n))
    return [os.path.join(shown, n) for n in names]


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

    if TYPE_CHECKING:
        @overload
        def __getitem__(self, index: int) -> Instruction: ...
        @overload
        def __getitem__(self, index: slice) -> Program: ...

    def __getitem__(self, index: int | slice) -> Instruction | Program:
        """One instruction, or a slice as a Program of its own."""
        if isinstance(index, slice):
            return Program(self._insns[index], name=self.name, arch=self.arch)
        return self._insns[index]

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self._insns)

    def __eq__(self, other: object) -> bool:
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
    def from_bytes(cls, data: bytes, *, name: str | None = None, arch: str | None = None,
                   byteorder: str = "little") -> "Program":
        """Raw ``struct sock_filter`` records, 8 bytes each, little-endian as x86 and arm64 store them;
        ``byteorder="big"`` for those of a big-endian arch (s390x, ppc64, mips: what libseccomp
        exports for such an arch and what its kernel dumps)."""
        data = bytes(_bytes_like(data, "Program.from_bytes"))
        if byteorder not in RECORDS:
            raise ValueError(f"byteorder {byteorder!r}: 'little' or 'big'")
        if len(data) % RECORD_SIZE:
            whole = len(data) - len(data) % RECORD_SIZE
            raise FormatError(name or "<bytes>", None,
                              f"{len(data)} bytes is not a whole number of {RECORD_SIZE}-byte "
                              f"instructions ({len(data) % RECORD_SIZE} trailing bytes)", offset=whole)
        return cls([Instruction(*fields) for fields in RECORDS[byteorder].iter_unpack(data)], name=name, arch=arch)

    def to_bytes(self) -> bytes:
        return b"".join(insn.to_bytes() for insn in self._insns)

    @classmethod
    def from_asm(cls, text: str, *, name: str | None = None, arch: str | None = None,
                 dialect: str | None = None) -> "Program":
        """Assembler text (the README documents the syntax); its ``arch`` line wins over ``arch``."""
        from . import asm  # the format modules load when a format is used, for a fast start
        _text(text, "Program.from_asm")
        insns, arch = asm.assemble(text, name=name, arch=arch, dialect=dialect)
        return cls(insns, name=name, arch=arch)

    def to_asm(self, *, arch: str | None = None, dialect: str = "bpf_asm") -> str:
        """Assembler text that ``from_asm`` turns back into exactly this program."""
        from . import asm
        return asm.disassemble(self, arch=arch or self.arch, dialect=dialect)

    @classmethod
    def from_c(cls, text: str, symbol: str | None = None, *, name: str | None = None,
               arch: str | None = None, defines: Mapping[str, str] | None = None) -> "Program":
        """A C initializer of BPF_STMT/BPF_JUMP macros or ``{code, jt, jf, k}`` rows; ``arch``
        decides ``__NR_`` numbers and ``#if`` branches (x86_64 by default); ``defines`` are
        macros as a compiler's ``-D NAME=VALUE`` sets them."""
        from . import csource
        _text(text, "Program.from_c")
        insns, arch = csource.parse(text, symbol=symbol, name=name, arch=arch, defines=defines)
        return cls(insns, name=name, arch=arch)

    def to_c(self, *, symbol: str = "filter", arch: str | None = None) -> str:
        from . import csource
        return csource.render(self, symbol=symbol, arch=arch or self.arch)

    @classmethod
    def from_elf(cls, path: str | os.PathLike, symbol: str | None = None) -> "Program":
        """A ``struct sock_filter`` array stored in an ELF file under ``symbol``; ``arch`` is the
        file's."""
        from . import elf  # pyelftools is imported only when an ELF file is read
        found = elf.read_filter(path, symbol=symbol)
        return cls(found.instructions, name=found.name, arch=found.arch)

    @classmethod
    def load(cls, path: str | os.PathLike, *, arch: str | None = None, symbol: str | None = None,
             defines: Mapping[str, str] | None = None, byteorder: str = "little") -> "Program":
        """Any supported format, recognized from the content: ELF, raw records, C, bytecode, assembler.

        ``arch`` numbers the syscall and errno names of C and assembler text (an ``arch`` line in
        the text wins); raw records, bytecode and ELF files hold numbers only. ``symbol`` names the
        filter in an ELF file or a C source that holds several. ``defines``: macros of a C source,
        as a compiler's ``-D NAME=VALUE`` sets them. ``byteorder``: that of raw records
        (``from_bytes``); an ELF file says its own.
        """
        source = os.fsdecode(path)
        try:
            # O_NONBLOCK: opening a FIFO that has no writer does not wait for one (reading it
            # then ends at once); reads block as usual afterwards.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.set_blocking(fd, True)
            with open(fd, "rb") as file:
                data = file.read(MAX_FILE_SIZE + 1)
        except (OSError, ValueError) as error:  # ValueError: a NUL byte in the name
            raise FormatError(source, None, f"cannot read it: {getattr(error, 'strerror', None) or error}") from None
        return cls.parse(data, name=source, arch=arch, symbol=symbol, defines=defines, byteorder=byteorder)

    @classmethod
    def parse(cls, data: bytes, *, name: str = "<input>", arch: str | None = None,
              symbol: str | None = None, defines: Mapping[str, str] | None = None,
              byteorder: str = "little") -> "Program":
        """``load`` for content already read (standard input, for one); ``name`` names it in errors."""
        source = name
        if len(data) > MAX_FILE_SIZE:
            raise FormatError(source, None, f"it is larger than {MAX_FILE_SIZE >> 20} MiB; no filter file is")
        if not data.startswith(b"\x7fELF") and len(data) > MAX_TEXT_SIZE:
            raise FormatError(source, None, f"{len(data):,} bytes is more than a filter file holds: "
                              f"raw records stop at {MAX_RAW_SIZE:,} and filter text at {MAX_TEXT_SIZE >> 20} MiB")
        if data.startswith(b"\x7fELF"):
            from . import elf
            found = elf.read_filter(source, symbol=symbol, data=data)
            return cls(found.instructions, name=found.name, arch=found.arch)
        if symbol is not None and not _is_c_source(data.decode("utf-8", "replace")):
            raise FormatError(source, None, f"symbol '{symbol}': only ELF files and C sources name their filters")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            if not _looks_like_text(data):
                return cls._from_records(data, source, byteorder)
            line = data[:error.start].count(b"\n") + 1
            raise FormatError(source, line, f"text that is not UTF-8 (byte {data[error.start]:#04x}), "
                                            "and no NUL byte as raw records have") from None
        if "\0" in text:
            return cls._from_records(data, source, byteorder)
        if _is_c_source(text):
            return cls.from_c(text, symbol, name=source, arch=arch, defines=defines)
        from . import asm
        if asm.BYTECODE.fullmatch(text):
            return cls(asm.parse_bytecode(text, name=source), name=source)
        return cls.from_asm(text, name=source, arch=arch)

    @classmethod
    def _from_records(cls, data: bytes, source: str, byteorder: str) -> "Program":
        """Raw records from a file, refused before any object is built when no filter holds so many."""
        if len(data) > MAX_RAW_SIZE:
            raise FormatError(source, None, f"{len(data) // RECORD_SIZE:,} records: more than the "
                              f"{MAX_RAW_SIZE // RECORD_SIZE:,} a struct sock_fprog can hold")
        return cls.from_bytes(data, name=source, byteorder=byteorder)

    # -- text --------------------------------------------------------------------------------------
    def listing(self, *, raw: bool = False, arch: str | None = None) -> str:
        """The numbered listing with a comment column; ``raw`` adds the code/jt/jf/k columns."""
        from .formatter import format_listing  # imported when a listing is wanted, for a fast start
        return format_listing(self, raw=raw, arch=arch or self.arch)

    def __str__(self) -> str:
        return self.listing()

    def __repr__(self) -> str:
        head = f"<Program {len(self)} instructions" + (f" from {self.name}" if self.name else "") + ">"
        return head if not self._insns else head + "\n" + self.listing()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


# Compiled by re when first used (and cached there): reading raw records needs neither.
_C_SOURCE = r"(?m)\bBPF_(STMT|JUMP)\b|\bsock_filter\b|^\s*\{\s*\d"
_COMMENTS = r"(?s)/\*.*?(\*/|\Z)|//[^\n]*|;[^\n]*|#[^\n]*"  # C's and the assembler's


def _is_c_source(text: str) -> bool:
    """C text: macros or rows of a sock_filter array outside comments."""
    return re.search(_C_SOURCE, re.sub(_COMMENTS, " ", text)) is not None
MAX_FILE_SIZE = 64 << 20  # far above any filter file, ELF binaries included; stops a read of /dev/zero
# include/uapi/linux/filter.h: struct sock_fprog's len is an unsigned short. The kernel takes at
# most BPF_MAXINSNS (4096) of them; up to 65535 bpfsim reads, so that verify can say why not.
MAX_RAW_SIZE = 0xFFFF * RECORD_SIZE
# Text (assembler, C, byte code): 65535 instructions of assembler fit in 1 MiB; 4 MiB leaves room
# for the rest of a C source file and bounds the time a reader can be made to spend.
MAX_TEXT_SIZE = 1 << 20


def _bytes_like(data, what: str):
    """Refuse an int (``bytes(16)`` would be 16 zero bytes, ``bytes(10**12)`` a MemoryError)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} takes bytes, not {type(data).__name__}")
    return data


def _text(text, what: str) -> None:
    if not isinstance(text, str):
        hint = " (decode it, or use Program.parse for file content)" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"{what} takes str, not {type(text).__name__}{hint}")
_TEXT_BYTES = frozenset(range(32, 127)) | {9, 10, 13}


def _looks_like_text(data: bytes) -> bool:
    """Mostly printable ASCII and no NUL byte, which every raw record of a valid opcode holds
    (an opcode fits in one byte of its 16-bit code)."""
    return b"\0" not in data and sum(b in _TEXT_BYTES for b in data) >= 0.9 * len(data)
