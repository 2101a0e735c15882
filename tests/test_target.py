"""Target: an architecture resolved once, x32 included (arch/x86/include/uapi/asm/unistd.h,
include/uapi/linux/audit.h)."""

import pytest

from bpfsim import SeccompData, Target, UnknownArchError
from bpfsim import abi
from bpfsim.syscalls import describe_nr, syscall_number
from bpfsim.target import X32, byteorder_of


@pytest.mark.parametrize("name, audit_arch, order, bits, nr_bit", [
    pytest.param("x86_64", 0xC000003E, "little", 64, 0, id="x86_64"),
    pytest.param("x32", 0xC000003E, "little", 32, 0x40000000, id="x32 shares AUDIT_ARCH_X86_64, marks nr"),
    pytest.param("arm64", 0xC00000B7, "little", 64, 0, id="an alias"),
    pytest.param("s390x", 0x80000016, "big", 64, 0, id="big-endian"),
    pytest.param(0x40000003, 0x40000003, "little", 32, 0, id="a number"),
])
def test_a_target_answers_what_a_filter_meets(name, audit_arch, order, bits, nr_bit):
    target = Target.of(name)
    assert (target.audit_arch, target.byteorder, target.bits, target.nr_bit) == (audit_arch, order, bits, nr_bit)
    assert Target.of(target) is target


def test_x32_is_named_once_and_kept():
    assert Target.of(" X32 ") is X32 and str(X32) == "x32" and X32.shares_audit_arch and not X32.native_x86_64
    assert SeccompData("read", X32).nr == 0x40000000  # x32's read is 0 | __X32_SYSCALL_BIT
    assert SeccompData(0x40000000, "x86_64").target is X32  # the kernel tells them apart by the bit
    assert SeccompData(0, "x86_64").target == Target.of("x86_64")
    assert syscall_number("read", X32) == 0x40000000 and describe_nr(0x40000000, "x86_64") == "x32 read"


def test_errno_numbers_are_the_arch_s():
    assert (Target.of("x86_64").errno_number("ENOSYS"), Target.of("mips").errno_number("ENOSYS")) == (38, 89)


def test_unknown_arches_are_refused_or_read_leniently():
    with pytest.raises(UnknownArchError):
        Target.of("vax")
    assert Target.lenient("vax") is None and Target.lenient(None) is None
    assert byteorder_of(Target.lenient("vax")) == "little" and byteorder_of(Target.of("ppc64")) == "big"
    assert abi.UnknownArchError is UnknownArchError  # still importable where users import it
