"""Generate bpfsim/_constants.py from a Linux source tree's headers: the names filters compare arguments with.

Usage: python3 tools/gen_constants.py LINUX_SRC [--out FILE] [--tag TAG]

For each architecture bpfsim knows, the headers below are read the way that arch's compiler reads
them: with its predefined macros, following ``#include <asm/...>`` into arch/<arch>/include/uapi
(asm-generic's header where the arch has none, as Kbuild's generic-y wrappers do), through
bpfsim's own C reader (bpfsim/csource.py), which expands macros and evaluates constant expressions.
AF_*, MSG_* and the SOCK_* types are not uapi: glibc copies them from include/linux/socket.h and
include/linux/net.h (mips overrides the types in arch/mips/include/asm/socket.h), so those files
are read without their includes. Ioctl numbers are sized by the structs the headers define, laid
out as the arch's ABI lays them out (csource._Layouts). A name whose value the reader cannot
compute (a cast to a type the headers do not define, a size that depends on the C library's
time_t) is left out and listed in the module's header.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from gen_syscalls import generator_main, kernel_tag  # tools/ is on sys.path when a tool runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bpfsim import abi, csource  # noqa: E402  (the repository's package, not an installed one)
from bpfsim.errors import BpfsimError  # noqa: E402

# asm/termbits.h, asm/termios.h and linux/serial.h define the structs that size ioctl numbers
# (struct termios: powerpc's TCGETS; struct winsize: its TIOCGWINSZ; struct termios2: TCGETS2).
UAPI = ("linux/sched.h", "linux/prctl.h", "linux/fcntl.h", "linux/mman.h", "asm/ioctls.h", "asm/termbits.h",
        "asm/termios.h", "linux/serial.h", "linux/in.h", "linux/in6.h", "linux/net.h", "linux/ipc.h", "linux/futex.h")
KERNEL_ONLY = {"mips": ("arch/mips/include/asm/socket.h",)}  # read before the generic ones
KERNEL_ONLY_GENERIC = ("include/linux/net.h", "include/linux/socket.h")
# SYS_: socketcall(2)'s calls (linux/net.h); SEM, MSG, SHM: ipc(2)'s calls (linux/ipc.h), and MSG_*
# flags; SO_*, SOL_* (asm/socket.h, linux/socket.h); FUTEX_* (linux/futex.h), IP_*, IPV6_* (options of
# setsockopt's IPPROTO_IP and IPPROTO_IPV6 levels, linux/in.h and linux/in6.h).
PREFIXES = ("AF_", "PF_", "CLONE_", "PR_", "SOCK_", "IPPROTO_", "MAP_", "PROT_", "MADV_", "O_", "AT_", "F_",
            "TIOC", "FIO", "TC", "SYS_", "SEM", "MSG", "SHM", "IPC_", "SO_", "SOL_", "FUTEX_", "IP_", "IPV6_")
KERNEL_ARCH = {"x86_64": "x86", "x32": "x86", "i386": "x86", "aarch64": "arm64", "arm": "arm", "armeb": "arm",
               "riscv64": "riscv", "riscv32": "riscv", "s390x": "s390", "s390": "s390", "ppc64le": "powerpc",
               "ppc64": "powerpc", "ppc": "powerpc", "parisc": "parisc", "parisc64": "parisc",
               "loongarch64": "loongarch", "loongarch32": "loongarch", "csky": "csky", "m68k": "m68k", "sh": "sh",
               "shel": "sh", "xtensa": "xtensa", "sparc": "sparc", "sparc64": "sparc", "alpha": "alpha"}
KERNEL_ARCH |= {a.name: "mips" for a in abi.ARCHES if a.name.startswith("mips")}
# Macros gcc predefines that csource's own list (csource._predefined) has no use for.
EXTRA_PREDEFINED = {"sparc": {"__sparc__": 1}, "sparc64": {"__sparc__": 1, "__arch64__": 1},
                    "alpha": {"__alpha__": 1}, "xtensa": {"__XTENSA_EL__": 1},
                    "sh": {"__BIG_ENDIAN__": 1}, "shel": {"__LITTLE_ENDIAN__": 1}}
MIPS_SIM = {"mips": 1, "mipsel": 1, "mips64n32": 2, "mipsel64n32": 2, "mips64": 3, "mipsel64": 3}  # asm/sgidefs.h


def extra_predefined(arch: str) -> dict[str, int]:
    if arch in MIPS_SIM:
        order = "__MIPSEL__" if abi.arch_info(arch).byteorder == "little" else "__MIPSEB__"
        return {"_MIPS_SIM": MIPS_SIM[arch], order: 1}
    return EXTRA_PREDEFINED.get(arch, {})


# scripts/headers_install.sh deletes these includes from every exported header.
HEADERS_INSTALL_DROPS = ("linux/compiler.h", "linux/compiler_types.h")
_INCLUDE = re.compile(r"\s*#\s*include\s*<([\w/.-]+)>")


def header_text(src: Path, arch_dir: str, include: str, chain: tuple[str, ...] = ()) -> str:
    """``include`` with its uapi includes expanded in place; their include guards, evaluated by
    the reader, keep a second copy out, and ``chain`` (the files being expanded) stops a cycle."""
    if include.startswith("asm/"):
        own = f"arch/{arch_dir}/include/uapi/{include}"
        path = own if (src / own).exists() else f"include/uapi/asm-generic/{include[4:]}"
    else:
        path = f"include/uapi/{include}"
    if path in chain or include in HEADERS_INSTALL_DROPS:
        return ""
    if not (src / path).exists():  # an error only where the include is compiled, as in cpp
        return f'#error "{path} is missing (included as <{include}> for {arch_dir})"'
    lines = []
    for line in (src / path).read_text().splitlines():
        included = _INCLUDE.match(line)
        lines.append(header_text(src, arch_dir, included.group(1), chain + (path,)) if included else line)
    return "\n".join(lines)


def kernel_only_text(src: Path, path: str) -> str:
    """A kernel-internal header without its includes: only its own definitions matter here."""
    return "\n".join(line for line in (src / path).read_text().splitlines() if not _INCLUDE.match(line))


def constants(src: Path, arch: str) -> tuple[dict[str, int], list[str]]:
    """``arch``'s names with a wanted prefix and their values, and the names left out."""
    arch_dir = KERNEL_ARCH[arch]
    parts = [f"#define {name} {value}" for name, value in extra_predefined(arch).items()]
    parts += [header_text(src, arch_dir, include) for include in UAPI]
    parts += [kernel_only_text(src, path) for path in KERNEL_ONLY.get(arch_dir, ()) + KERNEL_ONLY_GENERIC]
    text = "\n".join(parts)
    reader = csource.HeaderReader(text, f"headers for {arch}", arch)
    values: dict[str, int] = {}
    left_out = []
    for name in reader.names():
        if not name.startswith(PREFIXES):
            continue
        try:
            values[name] = reader.value(name)
        except BpfsimError:
            left_out.append(name)
    return dict(sorted(values.items())), sorted(left_out)


def render(tag: str, tables: dict[str, dict[str, int]], left_out: dict[str, list[str]]) -> str:
    """COMMON: each name's value on most arches; GROUPS: per tuple of arches that agree, where they
    differ from COMMON (None: the arch's headers do not define the name)."""
    names = sorted({name for table in tables.values() for name in table})
    common = {}
    for name in names:
        values = [table.get(name) for table in tables.values()]
        usual = max(dict.fromkeys(values), key=values.count)
        if usual is not None:
            common[name] = usual
    groups: dict[tuple, list[str]] = {}
    for arch, table in tables.items():
        differences = tuple((n, table.get(n)) for n in names if table.get(n) != common.get(n))
        groups.setdefault(differences, []).append(arch)
    lines = [f"# Generated by tools/gen_constants.py from Linux {tag}; do not edit.",
             "# The headers, as each arch's compiler reads them: " + ", ".join(f"<{h}>" for h in UAPI) + ",",
             "# and, for AF_*, MSG_* and the SOCK_* types glibc copies, " + ", ".join(KERNEL_ONLY_GENERIC)
             + " (mips: arch/mips/include/asm/socket.h).",
             "# Names with the prefixes " + " ".join(PREFIXES) + ". Left out where the reader cannot compute",
             "# a value (a cast to a type the headers do not define, a size that depends on libc's time_t):"]
    lines += [f"#   {arch}: {', '.join(names)}" for arch, names in left_out.items() if names]
    lines.append("COMMON = {")
    lines += [f'    "{name}": {value:#x},' for name, value in common.items()]
    lines += ["}", "GROUPS = {"]
    for differences, members in groups.items():
        lines.append(f"    ({', '.join(repr(m) for m in members)},): {{")
        lines += [f'        "{name}": {"None" if value is None else f"{value:#x}"},' for name, value in differences]
        lines.append("    },")
    return "\n".join(lines) + "\n}\n"


def generate(src: Path, tag: str | None = None) -> str:
    results = {arch: constants(src, arch) for arch in KERNEL_ARCH}
    return render(tag or kernel_tag(src), {a: r[0] for a, r in results.items()}, {a: r[1] for a, r in results.items()})


def main(argv: list[str] | None = None) -> int:
    return generator_main(argv, tool="gen_constants", doc=__doc__, generate=lambda src, tag: {"": generate(src, tag)},
                          errors=(BpfsimError,), default_out=Path(__file__).resolve().parent.parent / "bpfsim" / "_constants.py")


if __name__ == "__main__":
    sys.exit(main())
