"""``Target``: the machine a filter runs on, resolved once where input enters.

A filter meets its machine through four facts: the AUDIT_ARCH value in ``seccomp_data.arch``, the
byte order of the words it loads (``populate_seccomp_data``, kernel/seccomp.c, stores them in the
CPU's order), the syscall numbers in ``seccomp_data.nr`` and the errno numbers of its ERRNO
returns. x86_64's x32 ABI shares AUDIT_ARCH_X86_64 and marks its calls with
``__X32_SYSCALL_BIT`` in ``nr`` (arch/x86/include/uapi/asm/unistd.h), so x32 is a ``Target`` of
its own over the same ``abi.Arch``. Names such as ``"x32"`` or ``"arm64"`` are read here and
nowhere below: the rest of the package asks the ``Target``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import abi
from .abi import Arch
from .errors import UnknownArchError


@dataclass(frozen=True, slots=True)
class Target:
    """An architecture as seccomp sees it: ``arch`` (its AUDIT_ARCH) and whether calls use x32's ABI."""

    arch: Arch
    x32: bool = False

    @classmethod
    def of(cls, arch: "str | int | Arch | Target") -> "Target":
        """Resolve a name (``"aarch64"``, ``"AUDIT_ARCH_ARM"``, ``"x32"``), an AUDIT_ARCH number or
        an ``Arch``; raises ``UnknownArchError`` naming the known arches."""
        if isinstance(arch, Target):
            return arch
        if isinstance(arch, str) and arch.strip().lower() == "x32":
            return X32
        return cls(abi.arch_info(arch))

    @classmethod
    def lenient(cls, arch: "str | int | Arch | Target | None") -> "Target | None":
        """``Target.of(arch)``, or ``None`` when ``arch`` is missing or unknown: for writers that
        annotate a filter from a machine bpfsim does not know, rather than refuse it."""
        if arch is None or arch == "":
            return None
        try:
            return cls.of(arch)
        except UnknownArchError:
            return None

    @property
    def name(self) -> str:
        """The short name users type: ``"x86_64"``, ``"x32"``, ``"aarch64"``."""
        return "x32" if self.x32 else self.arch.name

    @property
    def audit_arch(self) -> int:
        """The value a filter reads at ``seccomp_data.arch``."""
        return self.arch.value

    @property
    def byteorder(self) -> str:
        return self.arch.byteorder

    @property
    def bits(self) -> int:
        """The ABI's word size: 32 for x32, whose AUDIT_ARCH says 64."""
        return 32 if self.x32 else self.arch.bits

    @property
    def nr_bit(self) -> int:
        """What the ABI ORs into every syscall number: ``__X32_SYSCALL_BIT`` on x32, else 0."""
        return abi.X32_SYSCALL_BIT if self.x32 else 0

    @property
    def native_x86_64(self) -> bool:
        """x86_64's own 64-bit ABI, whose numbers the uprobe exception and x32 checks name."""
        return self.arch is abi.NATIVE_ARCH and not self.x32

    @property
    def shares_audit_arch(self) -> bool:
        """Two ABIs answer to this AUDIT_ARCH (x86_64 and x32); the x32 bit of ``nr`` tells them apart."""
        return self.arch is abi.NATIVE_ARCH

    @property
    def nr_mask(self) -> int:
        """The bits of the number register that the entry code dispatches on and the filters see
        (``syscall_get_nr``): s390's ``__do_syscall`` keeps the low 16 bits of gpr 1, the other
        arches an int, the low 32 (kernel-checked on lab guests: tests/test_process.py)."""
        return 0xFFFF if self.arch.name in ("s390x", "s390") else 0xFFFFFFFF

    def clone_args(self, flags: int, stack: int) -> tuple[int, int]:
        """clone(2)'s first two arguments in this arch's order: s390 selects CLONE_BACKWARDS2
        (arch/s390/Kconfig), which takes the new stack first and the flags second."""
        return (stack, flags) if self.arch.name in ("s390x", "s390") else (flags, stack)

    def errno_number(self, name: str) -> int:
        """``ENOSYS`` is 38 on x86_64 and 89 on mips (the arch's <asm/errno.h>)."""
        return abi.errno_number(name, self.arch)

    def errno_name(self, number: int | None) -> str:
        return abi.errno_name(number, self.arch)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Target({self.name!r})"


NATIVE = Target(abi.NATIVE_ARCH)
X32 = Target(abi.NATIVE_ARCH, x32=True)


def byteorder_of(target: Target | None) -> str:
    """The order a reader assumes for a filter's words: the target's, little-endian when no
    machine is known (the order of the arches most filters come from)."""
    return target.byteorder if target else "little"
