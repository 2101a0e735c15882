"""``SeccompData``: the 64-byte ``struct seccomp_data`` a filter reads (include/uapi/linux/seccomp.h).

The kernel fills it in ``populate_seccomp_data`` (kernel/seccomp.c) in the CPU's byte order, so on
a big-endian architecture the word at offset 16 is the high half of ``args[0]``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import abi
from .target import X32, Target

TYPE_CHECKING = False  # typing is for type checkers only, as in program.py
if TYPE_CHECKING:
    from typing import Any

_U64 = (1 << 64) - 1


def _signed32(nr: int) -> int:
    return ((nr & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


@dataclass(frozen=True, slots=True, init=False)
class SeccompData:
    """What a filter sees of one system call.

    ``nr`` is kept as the signed 32-bit ``int`` the kernel stores (``-1`` and ``0xffffffff`` are
    the same call); a whole register value is accepted and its low 32 bits kept, as
    ``populate_seccomp_data`` does with ``syscall_get_nr`` (rax = 0x100000027 is nr 39 on x86_64);
    a syscall name is looked up in the arch's table; ``arch`` (a name, a number
    or a ``Target``) becomes the AUDIT_ARCH_* number; ``args`` is padded to six u64.
    ``byteorder`` defaults to the architecture's; pass it for bi-endian CPUs (big-endian arm64).
    ``target`` is the ``Target`` of the call: x32's when the arch is x86_64's and ``nr`` has the
    x32 bit.
    """

    nr: int
    arch: int
    instruction_pointer: int
    args: tuple[int, int, int, int, int, int]
    byteorder: str = field(default="little")
    target: Target = field(default=None, repr=False, compare=False)
    _words: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __init__(self, nr: int | str, arch: int | str | Target = "x86_64", instruction_pointer: int = 0,
                 args: Iterable[int] = (), *, byteorder: str | None = None) -> None:
        target = Target.of(arch)
        if isinstance(nr, str):
            from .syscalls import syscall_number
            nr = syscall_number(nr, target)
        if isinstance(nr, int):
            nr |= target.nr_bit  # an x32 call is an x86_64 call with the x32 bit in nr
        if not -(1 << 63) <= nr < 1 << 64:
            raise ValueError(f"nr {nr} does not fit in the 64-bit register that holds it")
        args = tuple(args)
        if len(args) > 6:
            raise ValueError(f"seccomp_data has 6 args, got {len(args)}")
        for i, value in enumerate(args):
            if not isinstance(value, int) or not -(1 << 63) <= value <= _U64:
                raise ValueError(f"args[{i}]={value!r} is not a 64-bit integer")
        if not isinstance(instruction_pointer, int) or not -(1 << 63) <= instruction_pointer <= _U64:
            raise ValueError(f"instruction_pointer={instruction_pointer!r} is not a 64-bit integer")
        if target.shares_audit_arch and nr & abi.X32_SYSCALL_BIT:
            target = X32
        order = byteorder or target.byteorder
        if order not in ("little", "big"):
            raise ValueError(f"byteorder must be 'little' or 'big', not {order!r}")
        set_ = object.__setattr__
        set_(self, "nr", _signed32(nr))
        set_(self, "arch", target.audit_arch)
        set_(self, "instruction_pointer", instruction_pointer & _U64)
        set_(self, "args", tuple(a & _U64 for a in args) + (0,) * (6 - len(args)))
        set_(self, "byteorder", order)
        set_(self, "target", target)
        fmt = ("<" if order == "little" else ">")
        packed = struct.pack(fmt + "iIQ6Q", self.nr, self.arch, self.instruction_pointer, *self.args)
        set_(self, "_words", struct.unpack(fmt + "16I", packed))

    def __bytes__(self) -> bytes:
        return struct.pack(("<" if self.byteorder == "little" else ">") + "16I", *self._words)

    def words(self) -> tuple[int, ...]:
        """The sixteen 32-bit words a ``ld [k]`` reads, indexed by ``k // 4``."""
        return self._words

    def word(self, offset: int) -> int:
        """The 32-bit word at byte ``offset`` (a multiple of 4 below 64), as ``ld [offset]`` reads it."""
        return self.words()[offset // 4]

    @classmethod
    def from_bytes(cls, raw: bytes, *, byteorder: str = "little") -> "SeccompData":
        """Decode a 64-byte struct, e.g. one a USER_NOTIF listener received."""
        if len(raw) != abi.SECCOMP_DATA_SIZE:
            raise ValueError(f"struct seccomp_data is {abi.SECCOMP_DATA_SIZE} bytes, got {len(raw)}")
        nr, arch, ip, *args = struct.unpack(("<" if byteorder == "little" else ">") + "iIQ6Q", raw)
        return cls(nr, arch, ip, args, byteorder=byteorder)

    def replace(self, **changes: Any) -> "SeccompData":
        fields = {"nr": self.nr, "arch": self.arch, "instruction_pointer": self.instruction_pointer,
                  "args": self.args, "byteorder": self.byteorder}
        fields.update(changes)
        return SeccompData(fields.pop("nr"), fields.pop("arch"), fields.pop("instruction_pointer"),
                           fields.pop("args"), byteorder=fields.pop("byteorder"))

    def __repr__(self) -> str:
        arch = abi.arch_name(self.arch) or f"{self.arch:#x}"
        try:
            from .syscalls import describe_nr
            name = describe_nr(self.nr & 0xFFFFFFFF, arch)
        except (ImportError, LookupError, ValueError):
            name = None
        nr = (f"{self.nr:#x}" if self.nr >= 0x10000 else f"{self.nr}") + (f" ({name})" if name else "")
        parts = [f"nr={nr}", f"arch={arch!r}"]
        if self.instruction_pointer:
            parts.append(f"instruction_pointer={self.instruction_pointer:#x}")
        if any(self.args):
            last = max(i for i, a in enumerate(self.args) if a)
            shown = [hex(a) for a in self.args[:last + 1]]
            parts.append("args=(" + ", ".join(shown) + ("," if len(shown) == 1 else "") + ")")
        return "SeccompData(" + ", ".join(parts) + ")"
