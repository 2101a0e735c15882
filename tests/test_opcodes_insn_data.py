"""The vocabulary: the opcode table, the 8-byte record, and struct seccomp_data's layout."""

import struct

import pytest

from bpfsim import Instruction, Program, SeccompData, FormatError
from bpfsim import abi
from bpfsim import opcodes as op


def test_the_table_has_the_kernels_49_classic_and_41_seccomp_codes():
    """net/core/filter.c chk_code_allowed lists 49 codes; kernel/seccomp.c seccomp_check_filter 41."""
    assert len(op.OPCODES) == 49 and len(op.SECCOMP_OPCODES) == 41
    refused = {c for c in op.OPCODES if c not in op.SECCOMP_OPCODES}
    assert refused == {0x94, 0x9C, 0x28, 0x30, 0x40, 0x48, 0x50, 0xB1}


def test_records_are_little_endian_u16_u8_u8_u32():
    insn = Instruction(0x15, 1, 2, 0xC000003E)
    assert insn.to_bytes() == struct.pack("<HBBI", 0x15, 1, 2, 0xC000003E)
    assert Instruction.from_bytes(insn.to_bytes()) == insn


@pytest.mark.parametrize("fields", [(0x10000, 0, 0, 0), (0, 256, 0, 0), (0, 0, -1, 0), (0, 0, 0, 1 << 32)])
def test_fields_are_range_checked(fields):
    with pytest.raises(ValueError):
        Instruction(*fields)


@pytest.mark.parametrize("insn, text", [
    (Instruction(0x20, 0, 0, 4), "ld [4]"),
    (Instruction(0x15, 0, 5, 0xC000003E), "jeq #0xc000003e, 0, 5"),
    (Instruction(0x06, 0, 0, 0x7FFF0000), "ret #0x7fff0000"),
    (Instruction(0x16), "ret a"),
    (Instruction(0x02, 0, 0, 3), "st M[3]"),
    (Instruction(0x07), "tax"),
    (Instruction(0x1D, 1, 0), "jeq x, 1, 0"),
    (Instruction(0x06, 1, 0, 0), "raw 0x0006, 1, 0, 0x0"),
    (Instruction(0xFFFF, 1, 2, 3), "raw 0xffff, 1, 2, 0x3"),
])
def test_instruction_text(insn, text):
    assert str(insn) == text


def test_program_from_bytes_names_the_trailing_bytes():
    with pytest.raises(FormatError) as caught:
        Program.from_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f\x01\x02", name="f.bpf")
    assert (caught.value.source, caught.value.offset) == ("f.bpf", 8)


def test_program_is_an_immutable_sequence_compared_by_instructions():
    a = Program([Instruction(6, 0, 0, 0)], name="a")
    b = Program.from_bytes(a.to_bytes(), name="b")
    assert a == b and hash(a) == hash(b) and len(a) == 1 and a[0].k == 0 and list(a) == [a[0]]


def test_seccomp_data_layout_little_endian():
    data = SeccompData(59, "x86_64", 0x1122334455667788, (1, 0xFFFFFFFFFFFFFFFF))
    raw = bytes(data)
    assert len(raw) == 64
    assert struct.unpack_from("<iIQQQ", raw) == (59, 0xC000003E, 0x1122334455667788, 1, 0xFFFFFFFFFFFFFFFF)


def test_seccomp_data_layout_big_endian_puts_the_high_word_at_16():
    data = SeccompData(1, "s390x", 0, (0x1122334455667788,))
    assert data.word(16) == 0x11223344 and data.word(20) == 0x55667788
    assert bytes(data)[:8] == struct.pack(">iI", 1, 0x80000016)


@pytest.mark.parametrize("name, value", [
    ("x86_64", 0xC000003E), ("i386", 0x40000003), ("aarch64", 0xC00000B7), ("arm", 0x40000028),
    ("riscv64", 0xC00000F3), ("s390x", 0x80000016), ("ppc64le", 0xC0000015), ("ppc64", 0x80000015),
    ("mips", 0x00000008), ("mipsel64", 0xC0000008), ("mips64n32", 0xA0000008), ("loongarch64", 0xC0000102),
    ("parisc64", 0x8000000F), ("m68k", 0x00000004), ("sh", 0x0000002A), ("xtensa", 0x0000005E),
    ("csky", 0x400000FC), ("AUDIT_ARCH_X86_64", 0xC000003E),
])
def test_arch_values_are_audit_h(name, value):
    """include/uapi/linux/audit.h."""
    assert SeccompData(0, name).arch == value == abi.arch_info(name).value


def test_nr_is_a_signed_int_and_x32_sets_the_x32_bit():
    assert SeccompData(-1).nr == SeccompData(0xFFFFFFFF).nr == -1
    assert SeccompData(0xFFFFFFFF).word(0) == 0xFFFFFFFF
    assert SeccompData(0, "x32").nr == 0x40000000


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown architecture 'vax'"):
        SeccompData(0, "vax")
