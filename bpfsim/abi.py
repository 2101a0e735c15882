"""The seccomp and audit ABI: action values, filter flags, struct seccomp_data, AUDIT_ARCH_*.

Values come from include/uapi/linux/seccomp.h, include/uapi/linux/audit.h,
include/uapi/linux/elf-em.h and include/linux/err.h (Linux 6.18).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .errors import UnknownArchError

# include/uapi/linux/seccomp.h: return values, most severe first.
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_KILL = SECCOMP_RET_KILL_THREAD
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_ACTION = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF

# seccomp(2) operations and modes.
SECCOMP_SET_MODE_STRICT = 0
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3
SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT, SECCOMP_MODE_FILTER = 0, 1, 2
SECCOMP_MODE_DEAD = 3  # kernel/seccomp.c (kernel-internal, 5.17): a thread a seccomp kill ended
PR_SET_SECCOMP = 22  # include/uapi/linux/prctl.h: prctl(PR_SET_SECCOMP, mode, filter)

# Filter flags.
SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
FILTER_FLAG_NAMES = {
    SECCOMP_FILTER_FLAG_TSYNC: "TSYNC", SECCOMP_FILTER_FLAG_LOG: "LOG",
    SECCOMP_FILTER_FLAG_SPEC_ALLOW: "SPEC_ALLOW", SECCOMP_FILTER_FLAG_NEW_LISTENER: "NEW_LISTENER",
    SECCOMP_FILTER_FLAG_TSYNC_ESRCH: "TSYNC_ESRCH",
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: "WAIT_KILLABLE_RECV",
}

# kernel/seccomp.c: the per-thread budget, counted in converted (eBPF) instructions.
MAX_INSNS_PER_PATH = (1 << 18) // 8
FILTER_PATH_PENALTY = 4

MAX_ERRNO = 4095  # include/linux/err.h

# Signals and ptrace bits observed by a seccomp'd thread.
SIGKILL = 9
SIGCHLD = 17  # a fork's exit signal (asm-generic, x86, s390; mips and parisc differ)
SIGSYS = 31
SYS_SECCOMP = 1  # si_code of a seccomp SIGSYS
PTRACE_EVENT_SECCOMP = 7

# struct seccomp_data (include/uapi/linux/seccomp.h).
SECCOMP_DATA_SIZE = 64
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_IP = 8
OFFSET_ARGS = 16


def offset_of_arg(index: int) -> int:
    """``offsetof(struct seccomp_data, args[index])``."""
    return OFFSET_ARGS + 8 * index


def field_name(offset: int, byteorder: str = "little") -> str | None:
    """The seccomp_data word at ``offset`` as a reader names it, e.g. ``args[1].hi``."""
    if offset % 4 or not 0 <= offset < SECCOMP_DATA_SIZE:
        return None
    if offset == OFFSET_NR:
        return "nr"
    if offset == OFFSET_ARCH:
        return "arch"
    low_first = byteorder == "little"
    half = "lo" if (offset % 8 == 0) == low_first else "hi"
    if offset < OFFSET_ARGS:
        return f"instruction_pointer.{half}"
    return f"args[{(offset - OFFSET_ARGS) // 8}].{half}"


# include/uapi/linux/audit.h
__AUDIT_ARCH_64BIT = 0x80000000
__AUDIT_ARCH_LE = 0x40000000
__AUDIT_ARCH_CONVENTION_MIPS64_N32 = 0x20000000


@dataclass(frozen=True, slots=True)
class Arch:
    """One AUDIT_ARCH_* value and how a seccomp filter sees it on that architecture."""

    name: str            # the short name users type ("x86_64")
    constant: str        # the kernel's macro ("AUDIT_ARCH_X86_64")
    value: int
    byteorder: str       # "little" or "big": the CPU's order, which seccomp_data uses
    seccomp: bool        # the kernel selects HAVE_ARCH_SECCOMP_FILTER for it (6.18)
    aliases: tuple[str, ...] = ()

    @property
    def errno_family(self) -> str:
        """Whose <asm/errno.h> the architecture's kernel uses: its own on alpha, mips, parisc,
        powerpc and sparc, else asm-generic's (tools/gen_errnos.py)."""
        return _ERRNO_FAMILIES.get(self.value & 0xFFFF, "generic")

    @property
    def bits(self) -> int:
        return 64 if self.value & 0x80000000 else 32  # __AUDIT_ARCH_64BIT (a name mangled in a class)


def _arch(name, constant, em, flags, byteorder, seccomp, *aliases):
    return Arch(name, "AUDIT_ARCH_" + constant, em | flags, byteorder, seccomp, tuple(aliases))


_B64, _LE, _N32 = __AUDIT_ARCH_64BIT, __AUDIT_ARCH_LE, __AUDIT_ARCH_CONVENTION_MIPS64_N32

ARCHES: tuple[Arch, ...] = (
    _arch("x86_64", "X86_64", 62, _B64 | _LE, "little", True, "amd64", "x86-64", "x64"),
    _arch("i386", "I386", 3, _LE, "little", True, "x86", "ia32", "i686"),
    _arch("aarch64", "AARCH64", 183, _B64 | _LE, "little", True, "arm64"),
    _arch("arm", "ARM", 40, _LE, "little", True, "armel", "armhf"),
    _arch("armeb", "ARMEB", 40, 0, "big", False),
    _arch("riscv64", "RISCV64", 243, _B64 | _LE, "little", True),
    _arch("riscv32", "RISCV32", 243, _LE, "little", True),
    _arch("s390x", "S390X", 22, _B64, "big", True),
    _arch("s390", "S390", 22, 0, "big", True),
    _arch("ppc64le", "PPC64LE", 21, _B64 | _LE, "little", True, "powerpc64le"),
    _arch("ppc64", "PPC64", 21, _B64, "big", True, "powerpc64"),
    _arch("ppc", "PPC", 20, 0, "big", True, "powerpc"),
    _arch("mips", "MIPS", 8, 0, "big", True),
    _arch("mipsel", "MIPSEL", 8, _LE, "little", True),
    _arch("mips64", "MIPS64", 8, _B64, "big", True),
    _arch("mipsel64", "MIPSEL64", 8, _B64 | _LE, "little", True, "mips64el"),
    _arch("mips64n32", "MIPS64N32", 8, _B64 | _N32, "big", True),
    _arch("mipsel64n32", "MIPSEL64N32", 8, _B64 | _LE | _N32, "little", True, "mips64n32el"),
    _arch("parisc", "PARISC", 15, 0, "big", True),
    _arch("parisc64", "PARISC64", 15, _B64, "big", True),
    _arch("loongarch64", "LOONGARCH64", 258, _B64 | _LE, "little", True),
    _arch("loongarch32", "LOONGARCH32", 258, _LE, "little", False),
    _arch("csky", "CSKY", 252, _LE, "little", True),
    _arch("m68k", "M68K", 4, 0, "big", True),
    _arch("sh", "SH", 42, 0, "big", True),
    _arch("shel", "SHEL", 42, _LE, "little", True),
    _arch("xtensa", "XTENSA", 94, 0, "little", True),
    _arch("sparc", "SPARC", 2, 0, "big", False),
    _arch("sparc64", "SPARC64", 43, _B64, "big", False),
    _arch("alpha", "ALPHA", 0x9026, _B64 | _LE, "little", False),
)

_BY_VALUE = {a.value: a for a in ARCHES}
_BY_NAME = {n.lower(): a for a in ARCHES for n in (a.name, a.constant, *a.aliases)}
_BY_NAME["x32"] = _BY_VALUE[0xC000003E]  # x32 shares AUDIT_ARCH_X86_64; nr carries the x32 bit

X32_SYSCALL_BIT = 0x40000000  # arch/x86/include/uapi/asm/unistd.h
NATIVE_ARCH = _BY_VALUE[0xC000003E]


def arch_info(arch: int | str | Arch) -> Arch:
    """Resolve a name (``"aarch64"``, ``"AUDIT_ARCH_ARM"``) or number to its ``Arch``."""
    if isinstance(arch, Arch):
        return arch
    if isinstance(arch, int):
        try:
            return _BY_VALUE[arch]
        except KeyError:
            raise UnknownArchError(f"unknown AUDIT_ARCH value {arch:#x}") from None
    try:
        return _BY_NAME[arch.strip().lower()]
    except (KeyError, AttributeError):
        known = ", ".join(a.name for a in ARCHES if a.seccomp)
        raise UnknownArchError(f"unknown architecture {arch!r} (known: {known}, x32)") from None


# ELF machine numbers (include/uapi/linux/elf-em.h) of the arches with their own errno numbers.
_ERRNO_FAMILIES = {2: "sparc", 43: "sparc", 8: "mips", 15: "parisc", 20: "powerpc", 21: "powerpc",
                   0x9026: "alpha"}
# glibc's and musl's <bits/errno.h> name EOPNOTSUPP ENOTSUP as well; C filters use either.
_LIBC_ALIASES = {"ENOTSUP": "EOPNOTSUPP"}


@cache
def _errnos(family: str) -> tuple[dict[str, int], dict[int, str]]:
    """A family's numbers by name and names by number."""
    from ._errnos import ERRNOS  # 800 lines of data, read when a name is first wanted
    numbers = ERRNOS[family] | {alias: ERRNOS[family][name] for alias, name in _LIBC_ALIASES.items()}
    names: dict[int, str] = {}
    for name, number in numbers.items():
        names.setdefault(number, name)
    return numbers, names


def _errno_family(arch: int | str | Arch | None) -> str:
    return "generic" if arch is None else arch_info(arch).errno_family


def errno_numbers(arch: int | str | Arch | None = None) -> dict[str, int]:
    """Every errno name of ``arch``'s <asm/errno.h> (aliases such as EWOULDBLOCK too, and
    ENOTSUP), with its number there; ``None`` means asm-generic's, which x86 and arm64 use."""
    return dict(_errnos(_errno_family(arch))[0])


def errno_names(arch: int | str | Arch | None = None) -> dict[int, str]:
    """Each errno number of ``arch`` with its name: the first its header defines, so EAGAIN
    rather than EWOULDBLOCK."""
    return dict(_errnos(_errno_family(arch))[1])


def errno_number(name: str, arch: int | str | Arch | None = None) -> int:
    """The number of errno ``name`` on ``arch``: ``ENOSYS`` is 38 on x86_64 and 89 on mips."""
    return _errnos(_errno_family(arch))[0][name]


def errno_name(number: int | None, arch: int | str | Arch | None = None) -> str:
    """The name of errno ``number`` on ``arch``, else its digits; ``"-"`` for ``None``."""
    if number is None:
        return "-"
    return _errnos(_errno_family(arch))[1].get(number, str(number))


@cache
def _constants(arch: str) -> dict[str, int]:
    from ._constants import COMMON, GROUPS  # generated data, read when a name is first wanted
    differences = next(names for arches, names in GROUPS.items() if arch in arches)
    return {name: value for name, value in (COMMON | differences).items() if value is not None}


def constant_numbers(arch: int | str | Arch | None = None) -> dict[str, int]:
    """The uapi constants filters compare arguments with (O_*, AF_*, SOCK_*, CLONE_*, PR_*,
    IPPROTO_*, MAP_*, PROT_*, MADV_*, AT_*, F_*, TIOC*/FIO*/TC* ioctls, MSG_*, SO_*, SOL_*,
    socketcall's SYS_* and ipc's calls and IPC_*), numbered as ``arch``'s
    headers number them (tools/gen_constants.py): ``O_CREAT`` is 0x40 on x86_64 and 0x100 on mips;
    ``None`` means x86_64's. ``"x32"`` is read as its own ABI."""
    if isinstance(arch, str) and arch.strip().lower() == "x32":
        return _constants("x32")
    return _constants(NATIVE_ARCH.name if arch is None else arch_info(arch).name)


# Compiled by re when first used: most commands read no value from the command line.
_C_INTEGER = r"-?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)"
_C_NAME = r"[A-Za-z_]\w*"


def c_integer(text: str) -> int:
    """A value as C writes an integer constant: decimal, 0x-hex, or octal with a leading 0 (0101
    is 65), optionally negative; Python's own 0o and 0b prefixes are refused, as C would.
    Raises ``ValueError`` saying why."""
    value = text.strip()
    if re.fullmatch(_C_INTEGER, value):
        negative, digits = value.startswith("-"), value.lstrip("-")
        base = 16 if digits[1:2] in ("x", "X") else 8 if digits.startswith("0") else 10
        number = int(digits, base)
        return -number if negative else number
    digits = value.lstrip("-")
    if digits[:2].lower() in ("0o", "0b"):
        why = f"{digits[:2]} is Python's prefix, not C's: write octal with a leading 0 (0101), binary in hex"
    elif digits[:1] == "0" and digits.isdigit():
        why = "a leading 0 makes it octal, as in C, and octal has no digit 8 or 9"
    else:
        why = "a number is decimal, 0x-hex or 0-octal, as in C"
    raise ValueError(f"{text!r} is not a number: {why}")


def argument_value(text: str, arch: int | str | Arch | None = None) -> int:
    """A syscall argument as a user writes it: C integers and constant names OR-ed with ``|``
    (``O_WRONLY|O_CREAT``), each name numbered by ``arch``'s headers (``constant_numbers``).
    Raises ``ValueError`` naming the first part it cannot read."""
    value = 0
    for part in (p.strip() for p in text.split("|")):
        if not re.fullmatch(_C_NAME, part):
            value |= c_integer(part)
            continue
        known = constant_numbers(arch)
        if part not in known:
            where = "x86_64" if arch is None else arch if isinstance(arch, str) else arch_info(arch).name
            raise ValueError(f"unknown constant {part!r} for {where} (a C integer, or names such as "
                             "O_CREAT, AF_INET, CLONE_NEWUSER joined by |)")
        value |= known[part]
    return value


def arch_name(value: int) -> str | None:
    """The short name of an AUDIT_ARCH value, or ``None``."""
    found = _BY_VALUE.get(value)
    return found.name if found else None


ACTION_NAMES = {
    SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS", SECCOMP_RET_KILL_THREAD: "KILL_THREAD",
    SECCOMP_RET_TRAP: "TRAP", SECCOMP_RET_ERRNO: "ERRNO", SECCOMP_RET_USER_NOTIF: "USER_NOTIF",
    SECCOMP_RET_TRACE: "TRACE", SECCOMP_RET_LOG: "LOG", SECCOMP_RET_ALLOW: "ALLOW",
}
ACTIONS_WITH_DATA = frozenset({SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE})


def describe_return(ret: int) -> str:
    """A filter's 32-bit return value as a reader says it: ``ERRNO(1)``, ``ALLOW``, ``0x10000000?``.

    Data bits on an action whose data the kernel ignores are shown too, so nothing is hidden.
    """
    action, data = ret & SECCOMP_RET_ACTION_FULL, ret & SECCOMP_RET_DATA
    name = ACTION_NAMES.get(action)
    if name is None:
        return f"unknown action {ret:#010x}"
    if data or action in ACTIONS_WITH_DATA:
        return f"{name}({data})"
    return name
