"""Filters stored in ELF files: a static ``struct sock_filter`` array behind a symbol, or found by scanning.

The only module that imports pyelftools. Records are read in the file's own byte order (a
big-endian s390x binary holds big-endian ``struct sock_filter``s) and ``Program.arch`` comes from
e_machine, the ELF class and the byte order; pyelftools' and the OS's errors become FormatError.
"""

from __future__ import annotations

import bisect
import io
import os
import re
import struct
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.sections import SymbolTableSection

from . import abi
from . import opcodes as op
from .errors import NAMING_ONE_FILTER, FormatError
from .insn import RECORD_SIZE, RECORDS, Instruction
from .semantics import successors

DATA_SECTIONS = (".rodata", ".data", ".data.rel.ro", ".data.rel.ro.local")
_EM_X86_64 = ENUM_E_MACHINE["EM_X86_64"]


@dataclass(frozen=True, slots=True)
class Filter:
    """The records read from an ELF file, named ``FILE:SYMBOL`` (or ``FILE:ADDRESS``), and the
    arch of the file's machine. ``Program.from_elf`` makes a Program of them."""

    instructions: tuple[Instruction, ...]
    name: str
    arch: str | None

    def __len__(self) -> int:
        return len(self.instructions)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A run of records in a data section that reads as a complete, verifiable seccomp filter."""

    section: str
    offset: int        # in the file
    address: int       # st_value-style: the virtual address, or the section offset in a .o
    symbol: str | None  # the object symbol that starts exactly here, if any
    filter: Filter

    def __str__(self) -> str:
        named = f"'{self.symbol}'" if self.symbol else "no symbol"
        return (f"{named} at {self.address:#x} in {self.section} (file offset {self.offset:#x}, "
                f"{len(self.filter)} instructions)")


class _Elf:
    """One open ELF file with the facts a filter reader needs."""

    def __init__(self, path: str | os.PathLike, stream):
        self.source = os.fsdecode(path)
        self.elf = ELFFile(stream)
        self.record = RECORDS["little" if self.elf.little_endian else "big"]
        self.arch = _arch(self.elf)
        self.relocatable = self.elf["e_type"] == "ET_REL"
        self.size = stream.seek(0, os.SEEK_END)

    def symbols(self):
        for name in (".symtab", ".dynsym"):
            table = self.elf.get_section_by_name(name)
            if isinstance(table, SymbolTableSection):
                yield from table.iter_symbols()

    def read(self, offset: int, size: int) -> bytes:
        if offset + size > self.size:  # a corrupt header must not make us allocate or seek wildly
            raise FormatError(self.source, None, f"{size} bytes at offset {offset:#x} go past the end of the "
                              f"{self.size}-byte file", offset=offset)
        stream = self.elf.stream
        stream.seek(offset)
        data = stream.read(size)
        if len(data) != size:
            raise FormatError(self.source, None, f"the file ends before {size} bytes at offset {offset:#x}",
                              offset=offset)
        return data

    def decode(self, data: bytes, name: str) -> Filter:
        insns = tuple(Instruction(*self.record.unpack_from(data, i)) for i in range(0, len(data), RECORD_SIZE))
        return Filter(insns, name, self.arch)

    def symbol_offset(self, sym) -> tuple[int, str]:
        """The file offset of a symbol's bytes, and its section's name."""
        index = sym["st_shndx"]
        if not isinstance(index, int):
            raise FormatError(self.source, None, f"symbol '{sym.name}' is not defined in a section ({index})")
        section = self.elf.get_section(index)
        if section["sh_type"] == "SHT_NOBITS":
            raise FormatError(self.source, None, f"symbol '{sym.name}' is in {section.name}, which has no bytes "
                              "in the file (zero-initialised data)")
        if self.relocatable:
            return section["sh_offset"] + sym["st_value"], section.name
        offsets = list(self.elf.address_offsets(sym["st_value"], max(sym["st_size"], 1)))
        if not offsets:
            raise FormatError(self.source, None, f"symbol '{sym.name}' at {sym['st_value']:#x} is in no loaded "
                              "segment of the file")
        return offsets[0], section.name

    def by_symbol(self, symbol: str) -> Filter:
        found = [s for s in self.symbols() if s.name == symbol and s["st_size"]]
        if not found:  # gcc names a function's static array "filter.0", "filter.1", ...
            found = [s for s in self.symbols() if re.fullmatch(re.escape(symbol) + r"\.\d+", s.name) and s["st_size"]]
        if len({(s["st_value"], s["st_shndx"]) for s in found}) > 1:
            raise FormatError(self.source, None, f"several symbols match '{symbol}': "
                              f"{', '.join(sorted({s.name for s in found}))}")
        if not found:
            raise FormatError(self.source, None, self.missing(symbol))
        sym = found[0]
        if sym["st_size"] % RECORD_SIZE:
            raise FormatError(self.source, None, f"symbol '{sym.name}' is {sym['st_size']} bytes, not a whole "
                              f"number of {RECORD_SIZE}-byte struct sock_filter records")
        offset, _ = self.symbol_offset(sym)
        return self.decode(self.read(offset, sym["st_size"]), f"{self.source}:{sym.name}")

    def by_address(self, address: int) -> Filter:
        found = [c for c in self.candidates() if address in (c.address, c.offset)]
        if not found:
            listed = "; ".join(str(c) for c in self.candidates()) or "none found"
            raise FormatError(self.source, None, f"no filter at address or file offset {address:#x}; "
                                                 f"filters found: {listed}")
        return found[0].filter

    def missing(self, symbol: str) -> str:
        if self.elf.get_section_by_name(".symtab") is None:
            why = f"no symbol '{symbol}': the file has no .symtab (stripped?)"
        else:
            why = f"no symbol '{symbol}' with a size"
        candidates = self.candidates()
        if candidates:
            why += "; filters found: " + "; ".join(str(c) for c in candidates)
        return why

    def candidates(self) -> list[Candidate]:
        starts = {}
        for sym in self.symbols():
            if sym["st_info"]["type"] == "STT_OBJECT" and sym["st_size"] and sym.name:
                starts.setdefault((sym["st_shndx"], sym["st_value"]), sym.name)
        found = []
        for index, section in enumerate(self.elf.iter_sections()):
            if section.name not in DATA_SECTIONS or section["sh_type"] == "SHT_NOBITS":
                continue
            data = self.read(section["sh_offset"], section["sh_size"])
            base = 0 if self.relocatable else section["sh_addr"]
            for start, program in _scan(data, self.record):
                address = base + start
                symbol = starts.get((index, address))
                found.append(Candidate(section.name, section["sh_offset"] + start, address, symbol,
                                       Filter(tuple(program), f"{self.source}:{symbol or hex(address)}", self.arch)))
        return found


def _scan(data: bytes, record: struct.Struct) -> list[tuple[int, list[Instruction]]]:
    """Filters ``verify`` accepts, at every 4-byte alignment, that start by loading from seccomp_data.

    Filters are read up to their last reachable instruction, so neighbouring arrays stay apart.
    Linear in the data (issue 16 item 7): each record is decoded once per alignment, and the
    furthest pc each record leads to is found backwards (cBPF jumps only forward), so a start is
    verified only when every path from it ends in a return within BPF_MAXINSNS records.
    """
    from .errors import VerifyError
    from .verifier import verify
    starts = []
    for phase in (0, RECORD_SIZE // 2):
        records = [_seccomp_record(record, data, at) for at in range(phase, len(data) - RECORD_SIZE + 1, RECORD_SIZE)]
        for i, last in enumerate(_furthest(records)):
            insn = records[i]
            if (last is not None and 2 <= last - i + 1 <= op.BPF_MAXINSNS
                    and insn.code == op.BPF_LD | op.BPF_W | op.BPF_ABS and insn.k < abi.SECCOMP_DATA_SIZE):
                starts.append((phase + i * RECORD_SIZE, records[i:last + 1]))
    found = []
    covered = 0
    # Per alignment, the offsets of records that fail a check of their own, in any filter.
    refused: dict[int, list[int]] = {0: [], RECORD_SIZE // 2: []}
    for start, insns in sorted(starts, key=lambda s: s[0]):
        end = start + len(insns) * RECORD_SIZE
        bad = refused[start % RECORD_SIZE]
        if start < covered or bisect.bisect_left(bad, start) < bisect.bisect_left(bad, end):
            continue
        try:
            verify(insns)
        except VerifyError as error:
            if _refused_alone(error, insns):
                bisect.insort(bad, start + error.pc * RECORD_SIZE)
            continue
        found.append((start, insns))
        covered = end
    return found


def _refused_alone(error, insns: list[Instruction]) -> bool:
    """Does the verifier refuse this instruction wherever it is (an opcode, an offset, a division
    by 0), rather than for where a jump lands or a path reads a cell? Then no window holding it
    is verified again, which keeps the scan linear."""
    return (error.check in ("bpf_check_classic", "seccomp_check_filter") and error.pc is not None
            and not insns[error.pc].is_jump)


def _seccomp_record(record: struct.Struct, data: bytes, at: int) -> Instruction | None:
    """The record at ``at`` if it could be an instruction of a seccomp filter, else None."""
    insn = Instruction(*record.unpack_from(data, at))
    return insn if insn.code in op.SECCOMP_OPCODES and insn.is_canonical() else None


def _furthest(records: list[Instruction | None]) -> list[int | None]:
    """For each record, the furthest one its paths reach, which is a return; None when a path
    runs into a record that is no instruction or past the end."""
    furthest: list[int | None] = [None] * len(records)
    for pc in range(len(records) - 1, -1, -1):
        insn = records[pc]
        if insn is None:
            continue
        if insn.is_return:
            furthest[pc] = pc
            continue
        ends = [furthest[t] if t < len(records) else None for t in successors(pc, insn)]
        furthest[pc] = None if None in ends else max(ends)
    return furthest


def _arch(elf: ELFFile) -> str | None:
    """The AUDIT_ARCH name of the file's machine, class and byte order (x32 for a 32-bit x86-64 file)."""
    machine = elf["e_machine"]
    number = ENUM_E_MACHINE.get(machine, machine) if isinstance(machine, str) else machine
    bits = elf.elfclass
    byteorder = "little" if elf.little_endian else "big"
    if number == _EM_X86_64 and bits == 32:
        return "x32"
    for arch in abi.ARCHES:
        if arch.value & 0xFFFF == number and arch.bits == bits and arch.byteorder == byteorder \
                and not arch.value & 0x20000000:  # __AUDIT_ARCH_CONVENTION_MIPS64_N32
            return arch.name
    return None


def _open(path: str | os.PathLike, use, data: bytes | None = None):
    source = os.fsdecode(path)
    try:
        with (open(path, "rb") if data is None else io.BytesIO(data)) as stream:
            return use(_Elf(path, stream))
    except OSError as error:
        raise FormatError(source, None, f"cannot read it: {error.strerror or error}") from None
    except FormatError:
        raise
    except (ELFError, ConstructError, struct.error, ValueError, KeyError, IndexError, AttributeError,
            TypeError, AssertionError, RecursionError) as error:  # what pyelftools raises on corrupt files
        raise FormatError(source, None, f"not a readable ELF file: {error}") from None


def read_filter(path: str | os.PathLike, *, symbol: str | None = None, data: bytes | None = None) -> Filter:
    """The filter stored under ``symbol``; without one, the only filter found (see ``find_filters``).

    A ``symbol`` written as a number (``0x4a20``) is the address or file offset of a filter that
    ``find_filters`` finds, which is how a filter in a stripped binary is named. ``data``: the
    file's bytes, already read (``path`` then only names it).
    """
    def read(elf: _Elf) -> Filter:
        if symbol is not None:
            address = _number(symbol)
            return elf.by_symbol(symbol) if address is None else elf.by_address(address)
        candidates = elf.candidates()
        named = [c for c in candidates if c.symbol]
        chosen = named if named else candidates
        if len(chosen) == 1:
            return chosen[0].filter
        if not candidates:
            raise FormatError(elf.source, None, "no seccomp filter in it: no run of struct sock_filter records in "
                                                f"{', '.join(DATA_SECTIONS)} verifies as one")
        listed = "; ".join(str(c) for c in candidates)
        raise FormatError(elf.source, None, f"{len(candidates)} filters: name one by its symbol, or by its address "
                                            f"or file offset where it has none ({NAMING_ONE_FILTER}): {listed}")
    return _open(path, read, data)


def _number(symbol: str) -> int | None:
    """A C identifier never starts with a digit, so a number names a place instead."""
    try:
        return int(symbol, 0) if symbol[:1].isdigit() else None
    except ValueError:
        return None


def find_filters(path: str | os.PathLike) -> list[Candidate]:
    """Every run of records in .rodata/.data/.data.rel.ro that verifies as a seccomp filter."""
    return _open(path, lambda elf: elf.candidates())
