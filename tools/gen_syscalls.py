"""Generate bpfsim/syscalls/_<arch>.py from a Linux source tree's syscall tables.

Usage: python3 tools/gen_syscalls.py LINUX_SRC [--out DIR] [--tag TAG]

Each module lists the names and numbers that the arch's uapi <asm/unistd*.h> defines, so the
lines are picked the way the kernel's header rules pick them (scripts/syscallhdr.sh and the
arch's syscalls Makefile): by ABI column, plus the arch's number offset. A line is kept whatever
its entry point (sys_ni_syscall or none), since the header names it and a filter sees the number.
ABIs match exactly, where syscallhdr.sh's grep matches a prefix; no v6.18 line tells them apart.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

X32_SYSCALL_BIT = 0x40000000  # arch/x86/include/uapi/asm/unistd.h
MIPS_NR_LINUX = {"o32": 4000, "n64": 5000, "n32": 6000}  # arch/mips/include/uapi/asm/unistd.h
ARM_UNISTD = "arch/arm/include/uapi/asm/unistd.h"


class TableError(Exception):
    """A syscall table that does not read the way the kernel's scripts read it."""


@dataclass(frozen=True)
class Spec:
    """Where one module's numbers come from.

    ``abis`` None takes every line, as the mips, m68k, sh and xtensa Makefiles do. ``generic``
    names the arch whose kernel/Makefile.syscalls adds ABIs to scripts/Makefile.asm-headers'
    ``common,<bits>`` and may override the table.
    """

    module: str
    table: str = "scripts/syscall.tbl"
    abis: tuple[str, ...] | None = None
    offset: int = 0
    offset_name: str = ""
    generic: str = ""
    bits: int = 0
    arm_private: bool = False


SPECS = (
    Spec("_x86_64", "arch/x86/entry/syscalls/syscall_64.tbl", ("common", "64")),
    Spec("_x32", "arch/x86/entry/syscalls/syscall_64.tbl", ("common", "x32"),
         X32_SYSCALL_BIT, "__X32_SYSCALL_BIT"),
    Spec("_i386", "arch/x86/entry/syscalls/syscall_32.tbl", ("i386",)),
    Spec("_aarch64", generic="arm64", bits=64),
    Spec("_arm", "arch/arm/tools/syscall.tbl", ("common", "eabi"), arm_private=True),
    Spec("_riscv64", generic="riscv", bits=64),
    Spec("_riscv32", generic="riscv", bits=32),
    Spec("_s390x", "arch/s390/kernel/syscalls/syscall.tbl", ("common", "64")),
    Spec("_s390", "arch/s390/kernel/syscalls/syscall.tbl", ("common", "32")),
    Spec("_ppc64", "arch/powerpc/kernel/syscalls/syscall.tbl", ("common", "nospu", "64")),
    Spec("_ppc", "arch/powerpc/kernel/syscalls/syscall.tbl", ("common", "nospu", "32")),
    Spec("_mips", "arch/mips/kernel/syscalls/syscall_o32.tbl", None,
         MIPS_NR_LINUX["o32"], "__NR_Linux"),
    Spec("_mips64", "arch/mips/kernel/syscalls/syscall_n64.tbl", None,
         MIPS_NR_LINUX["n64"], "__NR_Linux"),
    Spec("_mips64n32", "arch/mips/kernel/syscalls/syscall_n32.tbl", None,
         MIPS_NR_LINUX["n32"], "__NR_Linux"),
    Spec("_parisc", "arch/parisc/kernel/syscalls/syscall.tbl", ("common", "32")),
    Spec("_parisc64", "arch/parisc/kernel/syscalls/syscall.tbl", ("common", "64")),
    Spec("_loongarch64", generic="loongarch", bits=64),
    Spec("_csky", generic="csky", bits=32),
    Spec("_m68k", "arch/m68k/kernel/syscalls/syscall.tbl"),
    Spec("_sh", "arch/sh/kernel/syscalls/syscall.tbl"),
    Spec("_xtensa", "arch/xtensa/kernel/syscalls/syscall.tbl"),
)


def kernel_tag(src: Path) -> str:
    """``v6.18.2`` from the top-level Makefile's VERSION, PATCHLEVEL, SUBLEVEL, EXTRAVERSION."""
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)",
                             (src / "Makefile").read_text(), re.M))
    tag = f"v{fields['VERSION']}.{fields['PATCHLEVEL']}"
    if fields.get("SUBLEVEL", "0") != "0":
        tag += f".{fields['SUBLEVEL']}"
    return tag + fields.get("EXTRAVERSION", "")


def read_table(path: Path) -> list[tuple[int, str, str]]:
    """The (number, abi, name) rows of a syscall.tbl; entry points do not matter here."""
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 3:
            raise TableError(f"{path}:{lineno}: expected 'nr abi name ...', got {line!r}")
        rows.append((int(fields[0], 0), fields[1], fields[2]))
    return rows


def generic_abis(src: Path, spec: Spec) -> tuple[str, tuple[str, ...]]:
    """The table and ABIs that scripts/Makefile.asm-headers uses for ``spec.generic``."""
    makefile = f"arch/{spec.generic}/kernel/Makefile.syscalls"
    text = (src / makefile).read_text()
    abis = ["common", str(spec.bits)]
    for extra in re.findall(rf"^syscall_abis_{spec.bits}\s*\+=(.*)$", text, re.M):
        abis += extra.replace(",", " ").split()
    table = re.search(r"^syscalltbl\s*[:+]?=\s*(\S+)", text, re.M)
    path = table.group(1).replace("%", str(spec.bits)) if table else spec.table
    return path, tuple(abis)


def arm_private(src: Path) -> dict[str, int]:
    """The ARM private calls (__ARM_NR_*), which EABI seccomp filters see as 0x0f0000 + n.

    arch/arm/kernel/entry-common.S hands them to arm_syscall() only after the trace path ran
    secure_computing() with the same number (arch/arm/kernel/ptrace.c:syscall_trace_enter).
    """
    text = (src / ARM_UNISTD).read_text()
    base = re.search(r"#define\s+__ARM_NR_BASE\s+\(__NR_SYSCALL_BASE\s*\+\s*(\w+)\)", text)
    if not base:
        raise TableError(f"{ARM_UNISTD}: no __ARM_NR_BASE definition")
    return {name: int(base.group(1), 0) + int(n, 0) for name, n in
            re.findall(r"#define\s+__ARM_NR_(\w+)\s+\(__ARM_NR_BASE\s*\+\s*(\w+)\)", text)}


def build(src: Path, spec: Spec) -> tuple[dict[str, int], list[str]]:
    """One module's name -> number dict and the source lines its header cites."""
    table, abis = generic_abis(src, spec) if spec.generic else (spec.table, spec.abis)
    where = f"{table}, abis {','.join(abis)}" if abis else f"{table}, every line"
    if spec.generic:
        where += f" (arch/{spec.generic}/kernel/Makefile.syscalls)"
    if spec.offset:
        where += f", numbers + {spec.offset_name} ({number(spec.offset)})"
    sources = [where]
    syscalls: dict[str, int] = {}
    numbers: dict[int, str] = {}

    def add(name: str, nr: int, origin: str) -> None:
        if name in syscalls or nr in numbers:
            raise TableError(f"{origin}: {name} {nr} clashes with {numbers.get(nr) or name}")
        syscalls[name], numbers[nr] = nr, name

    for nr, abi, name in read_table(src / table):
        if abis is None or abi in abis:
            add(name, spec.offset + nr, table)
    if spec.arm_private:
        for name, nr in arm_private(src).items():
            add(name, nr, ARM_UNISTD)
        sources.append(f"{ARM_UNISTD}, __ARM_NR_* (EABI: __NR_SYSCALL_BASE is 0)")
    return dict(sorted(syscalls.items(), key=lambda item: item[1])), sources


def number(nr: int) -> str:
    """Decimal, except the x32 bit and ARM's private range, which read better in hex."""
    return f"{nr:#x}" if nr >= 0x10000 else str(nr)


def render(tag: str, syscalls: dict[str, int], sources: list[str]) -> str:
    """The module text: a header comment naming the kernel and files, then one dict literal."""
    lines = [f"# Generated by tools/gen_syscalls.py from Linux {tag}; do not edit.",
             *(f"# From {source}." for source in sources),
             "SYSCALLS = {"]
    lines += [f'    "{name}": {number(nr)},' for name, nr in syscalls.items()]
    return "\n".join(lines) + "\n}\n"


def generate(src: Path, tag: str | None = None) -> dict[str, str]:
    """Module file name -> text, for every spec."""
    tag = tag or kernel_tag(src)
    return {f"{spec.module}.py": render(tag, *build(src, spec)) for spec in SPECS}


def generator_main(argv: list[str] | None, *, tool: str, doc: str, default_out: Path, generate,
                   errors: tuple[type[Exception], ...]) -> int:
    """The command line every table generator shares: ``LINUX_SRC [--out PATH] [--tag TAG]``.
    ``generate(src, tag)`` returns ``{name: text}``: a file of the ``--out`` directory, or ``""``
    for ``--out`` itself."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("linux_src", type=Path, help="a Linux source tree (checkout or export)")
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--tag", help="kernel tag for the header (default: from the Makefile)")
    args = parser.parse_args(argv)
    try:
        files = generate(args.linux_src, args.tag)
    except (OSError, *errors) as err:
        print(f"{tool}: {err}", file=sys.stderr)
        return 1
    for name, text in files.items():
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return generator_main(argv, tool="gen_syscalls", doc=__doc__, generate=generate, errors=(TableError,),
                          default_out=Path(__file__).resolve().parent.parent / "bpfsim" / "syscalls")


if __name__ == "__main__":
    sys.exit(main())
