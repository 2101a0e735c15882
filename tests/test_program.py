"""Program.load: every format a filter is found in is recognized from the content alone."""

import shutil
import subprocess

import pytest

from bpfsim import FormatError, Instruction, Program
from bpfsim import asm, csource

FILTER = Program([Instruction(0x20, 0, 0, 4), Instruction(0x15, 1, 0, 0xC000003E),
                  Instruction(0x06, 0, 0, 0x80000000), Instruction(0x06, 0, 0, 0x7FFF0000)])


@pytest.mark.parametrize("content", [
    pytest.param(FILTER.to_bytes(), id="raw records"),
    pytest.param(asm.format_bytecode(FILTER).encode(), id="bpf_asm bytecode"),
    pytest.param(b"4\n32 0 0 4\n21 1 0 3221225534\n6 0 0 2147483648\n6 0 0 2147418112\n", id="tcpdump -ddd"),
    pytest.param(asm.disassemble(FILTER).encode(), id="bpf_asm text"),
    pytest.param(asm.disassemble(FILTER, dialect="pseudo_c").encode(), id="pseudo-C text"),
    pytest.param(csource.render(FILTER).encode(), id="C file"),
    pytest.param(b"{ 0x20, 0, 0, 0x00000004 },\n{ 0x15, 1, 0, 0xc000003e },\n"
                 b"{ 0x06, 0, 0, 0x80000000 },\n{ 0x06, 0, 0, 0x7fff0000 },\n", id="bpf_asm -c rows"),
])
def test_load_recognizes_the_format(tmp_path, content):
    path = tmp_path / "filter"
    path.write_bytes(content)
    assert Program.load(path) == FILTER


def test_load_reads_an_elf_file(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on this machine")
    (tmp_path / "f.c").write_text(csource.render(FILTER) + "int main(void) { return filter[0].code; }\n")
    subprocess.run([cc, "-o", str(tmp_path / "f"), str(tmp_path / "f.c")], check=True)
    assert Program.load(tmp_path / "f") == FILTER


def test_raw_bytes_that_are_not_utf8_are_records(tmp_path):
    path = tmp_path / "f.bpf"
    prog = Program([Instruction(0x06, 0, 0, 0xFFFFFFFF)])
    path.write_bytes(prog.to_bytes())
    assert Program.load(path) == prog and Program.load(path).name == str(path)


@pytest.mark.parametrize("content, words", [
    pytest.param(b"\x06\x00\x00\x00\x00\x00\xff", "trailing", id="truncated records"),
    pytest.param(b"ld [4]\nbogus\n", "unknown mnemonic", id="bad assembler"),
    pytest.param(b"BPF_STMT(BPF_LD, NOPE)", "NOPE", id="bad C"),
    pytest.param(b"\x7fELF garbage", "ELF", id="corrupt ELF"),
])
def test_load_errors_name_the_file(tmp_path, content, words):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(FormatError) as caught:
        Program.load(path)
    assert caught.value.source == str(path) and words in caught.value.message


def test_an_unreadable_path_is_a_format_error(tmp_path):
    with pytest.raises(FormatError) as caught:
        Program.load(tmp_path / "absent")
    assert caught.value.source == str(tmp_path / "absent")
    with pytest.raises(FormatError):
        Program.load(tmp_path)


def test_from_asm_and_to_asm_go_through_the_assembler():
    prog = Program.from_asm("arch aarch64\nld [nr]\njeq #execve, 1\nret ALLOW\nret KILL_PROCESS")
    assert prog.arch == "aarch64" and prog[1].k == 221
    assert Program.from_asm(prog.to_asm(dialect="pseudo_c")) == prog


def test_of_keeps_a_program_and_wraps_instructions():
    program = Program([Instruction(0x06, 0, 0, 0x7FFF0000)])
    assert Program.of(program) is program
    wrapped = Program.of(list(program))
    assert wrapped == program and wrapped is not program and isinstance(wrapped, Program)


def test_load_sniffs_past_comments_and_refuses_text_that_is_not_utf8(tmp_path, monkeypatch):
    """Found by review: a comment naming sock_filter made assembler read as C, and Latin-1 text
    read as raw records (raw records of valid opcodes always hold a NUL byte)."""
    commented = tmp_path / "commented.asm"
    commented.write_text("; this is a struct sock_filter program, BPF_STMT and all\nret #0x7fff0000\n")
    assert Program.load(commented) == Program([Instruction(0x06, 0, 0, 0x7FFF0000)])
    latin1 = tmp_path / "latin1.asm"
    latin1.write_bytes(b"ret #0x7fff0000 ; caf\xe9\n        ")
    with pytest.raises(FormatError, match=r"latin1.asm:1: text that is not UTF-8 \(byte 0xe9\)"):
        Program.load(latin1)
    monkeypatch.setattr("bpfsim.program.MAX_FILE_SIZE", 16)
    with pytest.raises(FormatError, match="larger than"):
        Program.load(latin1)


BIG_ENDIAN_SOURCE = """
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
struct sock_filter filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_S390X, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 38),
};
"""


def test_big_endian_records_read_as_an_s390x_machine_stores_them(tmp_path):
    """A new-user walk: libseccomp exports an s390x filter in s390x's byte order, and every record of
    it read as 'undefined opcode'. The records are what s390x gcc lays out for the same array."""
    if shutil.which("s390x-linux-gnu-gcc") is None:
        pytest.skip("s390x-linux-gnu-gcc is not installed: no big-endian compiler to compare with")
    (tmp_path / "f.c").write_text(BIG_ENDIAN_SOURCE)
    subprocess.run(["s390x-linux-gnu-gcc", "-c", "-o", str(tmp_path / "f.o"), str(tmp_path / "f.c")], check=True)
    subprocess.run(["s390x-linux-gnu-objcopy", "-O", "binary", "--only-section=.data", str(tmp_path / "f.o"),
                    str(tmp_path / "f.bpf")], check=True)
    compiled = Program.from_elf(tmp_path / "f.o")
    assert Program.load(tmp_path / "f.bpf", byteorder="big") == compiled
    assert Program.from_bytes((tmp_path / "f.bpf").read_bytes(), byteorder="big") == compiled
    assert Program.load(tmp_path / "f.bpf") != compiled
    with pytest.raises(ValueError, match="'little' or 'big'"):
        Program.from_bytes(b"", byteorder="network")
