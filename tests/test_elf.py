"""Filters read out of ELF files that gcc built from C: by symbol, by scanning, and the failures.

The expected records are what the compiled program itself writes from the same array, so the
oracle is the compiler's layout, not bpfsim's reading of it.
"""

import shutil
import struct
import subprocess
import pytest

from bpfsim import FormatError, Instruction, Program
from bpfsim import elf

CC = shutil.which("cc") or shutil.which("gcc")

SOURCE = r"""
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

static const struct sock_filter sandbox[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

const int not_a_filter[3] = { 1, 2, 3 };

int main(int argc, char **argv)
{
	static struct sock_filter local[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 7),
	};
	if (argc > 1)
		fwrite(local, sizeof local, 1, stdout);
	else
		fwrite(sandbox, sizeof sandbox, 1, stdout);
	return 0;
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The program at -O0 and -O2, its object file, a stripped copy, and the arrays' true bytes."""
    if CC is None:
        pytest.skip("no C compiler on this machine")
    work = tmp_path_factory.mktemp("elf")
    (work / "f.c").write_text(SOURCE)
    files = {}
    for flags, out in ((["-O0"], "f0"), (["-O2"], "f2"), (["-O2", "-c"], "f.o")):
        subprocess.run([CC, *flags, "-o", str(work / out), str(work / "f.c")], check=True)
        files[out] = work / out
    shutil.copy(files["f2"], work / "stripped")
    subprocess.run(["strip", str(work / "stripped")], check=True)
    files["stripped"] = work / "stripped"
    truth = {
        "sandbox": Program.from_bytes(subprocess.run([str(files["f0"])], capture_output=True, check=True).stdout),
        "local": Program.from_bytes(subprocess.run([str(files["f0"]), "x"], capture_output=True, check=True).stdout),
    }
    return files, truth


@pytest.mark.parametrize("file", ["f0", "f2", "f.o"])
@pytest.mark.parametrize("symbol", ["sandbox", "local"])
def test_a_filter_is_read_by_its_symbol(built, file, symbol):
    files, truth = built
    prog = Program.from_elf(files[file], symbol=symbol)
    assert prog == truth[symbol] and prog.arch == "x86_64"


@pytest.mark.parametrize("file", ["f0", "f.o", "stripped"])
def test_scanning_finds_both_arrays(built, file):
    files, truth = built
    found = elf.find_filters(files[file])
    assert {Program(c.filter.instructions) for c in found} == set(truth.values())


def test_scanning_names_the_symbols_it_finds(built):
    files, _ = built
    assert {c.symbol for c in elf.find_filters(files["f0"])} == {"sandbox", "local.0"}


def test_without_a_symbol_several_filters_are_listed(built):
    files, _ = built
    with pytest.raises(FormatError) as caught:
        Program.from_elf(files["f2"])
    assert "'sandbox'" in caught.value.message and caught.value.source == str(files["f2"])


def test_several_filters_say_how_each_front_end_names_one(built):
    files, _ = built
    with pytest.raises(FormatError) as caught:
        Program.from_elf(files["stripped"])
    assert caught.value.message.startswith("2 filters: name one by its symbol, or by its address or file offset")
    assert "FILE:SYMBOL or --symbol NAME on the command line, symbol= from Python" in caught.value.message


def test_a_binary_without_a_filter_says_so(tmp_path):
    """A new-user walk: 'bpfsim disasm /usr/bin/ls' said "name the filter by its symbol ...: none found"."""
    if CC is None:
        pytest.skip("no C compiler on this machine")
    (tmp_path / "plain.c").write_text("int main(void) { return 0; }\n")
    subprocess.run([CC, "-o", str(tmp_path / "plain"), str(tmp_path / "plain.c")], check=True)
    with pytest.raises(FormatError) as caught:
        Program.from_elf(tmp_path / "plain")
    assert caught.value.message.startswith("no seccomp filter in it: no run of struct sock_filter records in .rodata")


def test_a_stripped_binary_says_it_has_no_symbol_table(built):
    files, _ = built
    with pytest.raises(FormatError) as caught:
        Program.from_elf(files["stripped"], symbol="sandbox")
    assert "no .symtab" in caught.value.message and "filters found" in caught.value.message


@pytest.mark.parametrize("content, words", [
    pytest.param(b"\x7fELF\x02\x01\x01" + b"\0" * 9, "not a readable ELF", id="truncated header"),
    pytest.param(b"hello", "not a readable ELF", id="not an ELF file"),
])
def test_corrupt_files_are_format_errors(tmp_path, content, words):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(FormatError) as caught:
        Program.from_elf(path, symbol="x")
    assert caught.value.source == str(path) and words in caught.value.message


def test_a_missing_symbol_and_a_missing_file(built, tmp_path):
    files, _ = built
    with pytest.raises(FormatError, match="no symbol 'nope'"):
        Program.from_elf(files["f0"], symbol="nope")
    with pytest.raises(FormatError, match="cannot read"):
        Program.from_elf(tmp_path / "absent", symbol="x")


def test_a_symbol_that_is_not_a_filter_array(built):
    files, _ = built
    with pytest.raises(FormatError, match="12 bytes, not a whole number"):
        Program.from_elf(files["f0"], symbol="not_a_filter")


def big_endian_object(records, machine=22) -> bytes:
    """A minimal ELF64 big-endian relocatable (default e_machine EM_S390) with one array 'flt' in .rodata."""
    import struct
    rodata = b"".join(struct.pack(">HBBI", *r) for r in records)
    strtab = b"\0flt\0"
    symtab = bytes(24) + struct.pack(">IBBHQQ", 1, 0x11, 0, 1, 0, len(rodata))  # STB_GLOBAL, STT_OBJECT
    shstrtab = b"\0.rodata\0.strtab\0.symtab\0.shstrtab\0"
    blobs, offset, placed = [rodata, strtab, symtab, shstrtab], 64, []
    for blob in blobs:
        placed.append(offset)
        offset += len(blob)
    shoff = offset
    sections = [bytes(64)]
    for name, kind, flags, link, info, entsize, index in (
            (1, 1, 2, 0, 0, 0, 0), (9, 3, 0, 0, 0, 0, 1), (17, 2, 0, 2, 1, 24, 2), (25, 3, 0, 0, 0, 0, 3)):
        sections.append(struct.pack(">IIQQQQIIQQ", name, kind, flags, 0, placed[index], len(blobs[index]),
                                    link, info, 1, entsize))
    header = b"\x7fELF\x02\x02\x01" + bytes(9) + struct.pack(">HHIQQQIHHHHHH", 1, machine, 1, 0, 0, shoff,
                                                                0, 64, 0, 0, 64, 5, 4)
    return header + b"".join(blobs) + b"".join(sections)


def test_a_big_endian_file_holds_big_endian_records(tmp_path):
    path = tmp_path / "s390x.o"
    records = [(0x20, 0, 0, 4), (0x15, 1, 0, 0x80000016), (0x06, 0, 0, 0), (0x06, 0, 0, 0x7FFF0000)]
    path.write_bytes(big_endian_object(records))
    prog = Program.from_elf(path, symbol="flt")
    assert prog == Program([Instruction(*r) for r in records]) and prog.arch == "s390x"
    assert [c.symbol for c in elf.find_filters(path)] == ["flt"]


@pytest.mark.parametrize("flag, arch", [pytest.param("-m32", "i386", id="i386"),
                                        pytest.param("-mx32", "x32", id="x32")])
def test_the_arch_comes_from_machine_class_and_byte_order(tmp_path, flag, arch):
    if CC is None:
        pytest.skip("no C compiler on this machine")
    (tmp_path / "f.c").write_text("struct sock_filter { unsigned short code; unsigned char jt, jf; unsigned k; };\n"
                                  "const struct sock_filter flt[] = { { 6, 0, 0, 0x7fff0000 } };\n")
    result = subprocess.run([CC, flag, "-c", "-o", str(tmp_path / "f.o"), str(tmp_path / "f.c")], capture_output=True)
    if result.returncode:
        pytest.skip(f"{CC} {flag} cannot compile here")
    assert Program.from_elf(tmp_path / "f.o", symbol="flt").arch == arch


@pytest.mark.parametrize("size", [1 << 62, (1 << 64) - 1], ids=["4 EiB", "SIZE_MAX"])
def test_a_section_larger_than_the_file_is_a_format_error(built, tmp_path, size):
    """A corrupt sh_size must not make the scan allocate or seek past the file (found by review)."""
    from elftools.elf.elffile import ELFFile
    files, _ = built
    raw = bytearray(files["f.o"].read_bytes())
    with open(files["f.o"], "rb") as stream:
        elf_file = ELFFile(stream)
        index = next(i for i, s in enumerate(elf_file.iter_sections()) if s.name == ".data")
        header = elf_file["e_shoff"] + index * elf_file["e_shentsize"]
    struct.pack_into("<Q", raw, header + 0x20, size)  # Elf64_Shdr.sh_size
    path = tmp_path / "corrupt.o"
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="go past the end of the"):
        Program.load(path)


def test_a_filter_in_a_stripped_binary_is_named_by_its_offset_or_address(built):
    """The issue: filters found in stripped binaries could be listed but not chosen."""
    files, truth = built
    found = {Program(c.filter.instructions): c for c in elf.find_filters(files["stripped"])}
    sandbox = found[truth["sandbox"]]
    for place in (sandbox.offset, sandbox.address):
        assert Program.from_elf(files["stripped"], symbol=hex(place)) == truth["sandbox"]
    assert Program.load(files["stripped"], symbol=str(sandbox.offset)) == truth["sandbox"]
    with pytest.raises(FormatError, match="no filter at address or file offset 0x1"):
        Program.from_elf(files["stripped"], symbol="0x1")
    assert f"file offset {sandbox.offset:#x}" in str(sandbox)


def test_elf_bytes_already_read_are_read_alike(built):
    files, truth = built
    assert Program.parse(files["f2"].read_bytes(), name="<stdin>", symbol="local") == truth["local"]
