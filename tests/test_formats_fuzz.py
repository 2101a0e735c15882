"""Every reader, fed random bytes and text, fails only with FormatError; every writer round-trips.

Random programs are random 8-byte records (invalid ones included), biased towards the codes of
the opcode table, small jump offsets and seccomp-flavoured constants so that labels, field
names, syscall names and actions all occur.
"""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfsim import FormatError, Instruction, Program
from bpfsim import asm, csource, elf
from bpfsim import opcodes as op

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

codes = st.one_of(st.sampled_from(sorted(op.OPCODES)), st.integers(0, 0xFFFF))
offsets = st.one_of(st.integers(0, 4), st.integers(0, 0xFF))
constants = st.one_of(st.sampled_from([0, 4, 16, 20, 59, 0x3B, 0x40000000, 0xC000003E, 0x80000000, 0x7FFF0000,
                                       0x00050001, 0x7FF00005, 0xFFFFF000]),
                      st.integers(0, 0xFFFFFFFF), st.integers(0, 64))
records = st.builds(Instruction, codes, offsets, offsets, constants)
programs = st.builds(Program, st.lists(records, max_size=24))
arches = st.sampled_from([None, "x86_64", "i386", "aarch64", "s390x", "x32", "mips", "sparc"])

# Text drawn from the alphabet the grammars use, so the parsers get past their first token.
asm_alphabet = string.ascii_letters + string.digits + " \t\n#%[]()+*&,:;.-_/=<>!?{}|^~'\""
fragments = st.sampled_from([
    "ld ", "ldx ", "ldxb ", "jeq ", "jne ", "ja ", "ret ", "raw ", "#", "[", "]", "x", "M[", "4*([", "&0xf)",
    "A = ", "X = ", "if (A == ", ") goto ", " else goto ", "return ", "args[", "nr", "arch ", "x86_64",
    "ERRNO(", "ALLOW", "AUDIT_ARCH_X86_64", "execve", "L1", "L1:", ",", "\n", "0x", "255", "256", "-1",
    "BPF_STMT(", "BPF_JUMP(", "BPF_LD | BPF_W | BPF_ABS", "offsetof(struct seccomp_data, ", ")", "{", "}",
    "struct sock_filter f[] = {", "};", "#define ", "__NR_", "SECCOMP_RET_ERRNO", "(unsigned int)", "[0] = ",
    "/*", "*/", "//", "(", "<<", "?", ":",
])
texts = st.one_of(st.text(asm_alphabet, max_size=200), st.lists(fragments, max_size=40).map("".join),
                  st.text(max_size=100))


def only_format_errors(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except FormatError:
        pass


@FUZZ
@given(st.binary(max_size=200))
def test_from_bytes_only_raises_format_error(data):
    only_format_errors(Program.from_bytes, data)


@FUZZ
@given(texts, st.sampled_from([None, "bpf_asm", "pseudo_c"]), arches)
def test_assemble_only_raises_format_error(text, dialect, arch):
    only_format_errors(asm.assemble, text, dialect=dialect, arch=arch)


@FUZZ
@given(texts)
def test_bytecode_and_c_only_raise_format_error(text):
    only_format_errors(asm.parse_bytecode, text)
    only_format_errors(csource.parse, text)
    only_format_errors(csource.parse, text, symbol="f")


@FUZZ
@given(st.one_of(st.binary(max_size=300),
                 st.binary(max_size=300).map(lambda b: b"\x7fELF" + b),
                 st.tuples(st.sampled_from([1, 2]), st.sampled_from([1, 2]), st.binary(max_size=300))
                 .map(lambda t: b"\x7fELF" + bytes([t[0], t[1], 1]) + bytes(9) + t[2])),
       st.sampled_from([None, "filter"]))
def test_elf_and_load_only_raise_format_error(tmp_path, data, symbol):
    path = tmp_path / "random"
    path.write_bytes(data)
    only_format_errors(elf.read_filter, path, symbol=symbol)
    only_format_errors(elf.find_filters, path)
    only_format_errors(Program.load, path)


@FUZZ
@given(texts)
def test_load_of_random_text_only_raises_format_error(tmp_path, text):
    path = tmp_path / "random.txt"
    path.write_bytes(text.encode())
    only_format_errors(Program.load, path)


@FUZZ
@given(programs)
def test_bytes_round_trip(prog):
    assert Program.from_bytes(prog.to_bytes()) == prog


@FUZZ
@given(programs, arches, st.sampled_from(["bpf_asm", "pseudo_c"]))
def test_asm_round_trip(prog, arch, dialect):
    text = asm.disassemble(prog, arch=arch, dialect=dialect)
    assert Program.from_asm(text, dialect=dialect) == prog
    assert Program.from_asm(text) == prog


@FUZZ
@given(programs)
def test_bytecode_round_trip(prog):
    assert Program(asm.parse_bytecode(asm.format_bytecode(prog))) == prog


@FUZZ
@given(programs, arches)
def test_c_round_trip(prog, arch):
    assert Program.from_c(csource.render(prog, arch=arch)) == prog
