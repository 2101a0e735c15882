"""The assembler and disassembler: bpf_asm's grammar, the pseudo-C dialect, names, errors, round trips.

Encodings come from the kernel's tools/bpf/bpf_exp.y and uapi headers (filter.h, seccomp.h,
audit.h, asm/unistd_64.h); the golden pair in corpus/all_instructions is bpf_asm's own output.
"""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfsim import AsmError, FormatError, Instruction, Program
from bpfsim import asm
from bpfsim import opcodes as op

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
GOLDEN = CORPUS / "all_instructions"


def one(text: str, **kwargs) -> Instruction:
    prog = Program.from_asm(text, **kwargs)
    assert len(prog) == 1
    return prog[0]


def test_the_golden_pair_assembles_exactly_as_the_kernels_bpf_asm():
    ours = Program.from_asm((GOLDEN / "all.asm").read_text(), name="all.asm")
    assert asm.format_bytecode(ours) == (GOLDEN / "all.bpf").read_text()


@pytest.mark.parametrize("dialect", ["bpf_asm", "pseudo_c"])
def test_the_golden_program_round_trips_through_both_dialects(dialect):
    prog = Program(asm.parse_bytecode((GOLDEN / "all.bpf").read_text()))
    assert Program.from_asm(asm.disassemble(prog, dialect=dialect), dialect=dialect) == prog


@pytest.mark.parametrize("text, record", [
    pytest.param("ldx #len", (0x81, 0, 0, 0), id="ldx #len is BPF_LDX|BPF_W|BPF_LEN (the golden pair lacks it)"),
    pytest.param("ldx len", (0x81, 0, 0, 0), id="len without # as bpf_exp.l allows"),
    pytest.param("ldi #7", (0x00, 0, 0, 7), id="ldi is ld #k"),
    pytest.param("ldxi 7", (0x01, 0, 0, 7), id="ldxi takes a bare number"),
    pytest.param("ldxb 4*([14]&0xf)", (0xB1, 0, 0, 14), id="ldxb msh"),
    pytest.param("ldx 4*([14]&0xf)", (0xB1, 0, 0, 14), id="ldx msh spelling"),
    pytest.param("ld [%x + 4]", (0x40, 0, 0, 4), id="percent x in indirect loads"),
    pytest.param("add %x", (0x0C, 0, 0, 0), id="percent x in alu"),
    pytest.param("ret %a", (0x16, 0, 0, 0), id="ret percent a"),
    pytest.param("ret x", (0x0E, 0, 0, 0), id="ret x encodes BPF_RET|BPF_X as bpf_exp.y does"),
    pytest.param("LD [4]", (0x20, 0, 0, 4), id="mnemonics are caseless (bpf_exp.l %option caseless)"),
    pytest.param("ld #0b101", (0x00, 0, 0, 5), id="binary numbers"),
    pytest.param("ld #017", (0x00, 0, 0, 15), id="leading zero is octal"),
    pytest.param("ld #-1", (0x00, 0, 0, 0xFFFFFFFF), id="negative decimal wraps to u32 as strtol then uint32_t"),
    pytest.param("ldb #proto", (0x30, 0, 0, 0xFFFFF000), id="socket extension with ldb"),
    pytest.param("jeq #1, 2", (0x15, 2, 0, 1), id="numeric offsets are the jt field"),
    pytest.param("jset x, 1, 2", (0x4D, 1, 2, 0), id="jset x with two offsets"),
    pytest.param("ja 300", (0x05, 0, 0, 300), id="ja offsets are k and may pass 255"),
    pytest.param("raw 0xffff, 1, 2, 3", (0xFFFF, 1, 2, 3), id="raw record"),
    pytest.param("raw 0x06, 1, 0, 0", (0x06, 1, 0, 0), id="raw keeps ignored fields"),
])
def test_bpf_asm_spellings(text, record):
    assert one(text) == Instruction(*record)


@pytest.mark.parametrize("text, record", [
    pytest.param("ld [nr]", (0x20, 0, 0, 0), id="seccomp_data nr at offset 0"),
    pytest.param("ld [arch]", (0x20, 0, 0, 4), id="arch at offset 4"),
    pytest.param("ld [instruction_pointer.hi]", (0x20, 0, 0, 12), id="ip high word on little endian"),
    pytest.param("ld [args[1]]", (0x20, 0, 0, 24), id="args[1] is its low word"),
    pytest.param("ld [args[1].hi]", (0x20, 0, 0, 28), id="args[1].hi on little endian"),
    pytest.param("jeq #AUDIT_ARCH_X86_64, 1", (0x15, 1, 0, 0xC000003E), id="audit arch constant"),
    pytest.param("jeq #AUDIT_ARCH_AARCH64, 1", (0x15, 1, 0, 0xC00000B7), id="aarch64 constant"),
    pytest.param("ret ALLOW", (0x06, 0, 0, 0x7FFF0000), id="action name without #"),
    pytest.param("ret #KILL_PROCESS", (0x06, 0, 0, 0x80000000), id="kill process"),
    pytest.param("ret ERRNO(1)", (0x06, 0, 0, 0x00050001), id="errno with a number"),
    pytest.param("ret #ERRNO(EPERM)", (0x06, 0, 0, 0x00050001), id="errno with an errno name"),
    pytest.param("ret TRACE(5)", (0x06, 0, 0, 0x7FF00005), id="trace data"),
    pytest.param("ret SECCOMP_RET_LOG", (0x06, 0, 0, 0x7FFC0000), id="kernel spelling of an action"),
    pytest.param("ld #EACCES", (0x00, 0, 0, 13), id="errno name as a value"),
])
def test_seccomp_names(text, record):
    assert one(text) == Instruction(*record)


@pytest.mark.parametrize("text, arch, k", [
    pytest.param("jeq #execve, 1", "x86_64", 59, id="execve on x86_64 (syscall_64.tbl)"),
    pytest.param("jeq #execve, 1", "aarch64", 221, id="execve on aarch64 (asm-generic unistd.h)"),
    pytest.param("jeq #execve, 1", "i386", 11, id="execve on i386 (syscall_32.tbl)"),
    pytest.param("arch x86_64\njeq #arch_prctl, 1", None, 158, id="arch directive and a name starting with arch"),
])
def test_syscall_names_follow_the_arch(text, arch, k):
    assert one(text, arch=arch).k == k


def test_the_arch_directive_sets_the_program_arch_and_word_order():
    prog = Program.from_asm("arch s390x\nld [args[0].hi]\nld [args[0].lo]")
    assert prog.arch == "s390x" and [i.k for i in prog] == [16, 20]


@pytest.mark.parametrize("text, expected", [
    pytest.param("jne #1, L\nL: ret #0", [(0x15, 0, 0, 1), (0x06, 0, 0, 0)], id="jne puts the label in jf"),
    pytest.param("jlt #1, xx\nret #1\nxx: ret #0", [(0x35, 0, 1, 1), (0x06, 0, 0, 1), (0x06, 0, 0, 0)],
                 id="jlt is jge with the label in jf"),
    pytest.param("jle x, xx\nret #1\nxx: ret #0", [(0x2D, 0, 1, 0), (0x06, 0, 0, 1), (0x06, 0, 0, 0)],
                 id="jle is jgt with the label in jf"),
    pytest.param("jeq #1, yes\nret #1\nyes: ret #0", [(0x15, 1, 0, 1), (0x06, 0, 0, 1), (0x06, 0, 0, 0)],
                 id="one label: false falls through"),
    pytest.param("ja end\nret #1\nend:\nret #0", [(0x05, 0, 0, 1), (0x06, 0, 0, 1), (0x06, 0, 0, 0)],
                 id="a label on its own line marks the next instruction"),
    pytest.param("; c\n// c\n/* a\nb */ # not at line start is a comment too\n# c\nret #0 ; c",
                 [(0x06, 0, 0, 0)], id="comments"),
])
def test_labels_and_pseudo_ops(text, expected):
    assert Program.from_asm(text) == Program([Instruction(*r) for r in expected])


@pytest.mark.parametrize("text, expected", [
    pytest.param("A = sys_number", (0x20, 0, 0, 0), id="A = sys_number"),
    pytest.param("A = arch", (0x20, 0, 0, 4), id="A = arch"),
    pytest.param("A = args[1]", (0x20, 0, 0, 24), id="A = args[1] is the low word"),
    pytest.param("A = args[1] >> 32", (0x20, 0, 0, 28), id="A = args[1] >> 32"),
    pytest.param("A = args_h[1]", (0x20, 0, 0, 28), id="A = args_h[1]"),
    pytest.param("A = instruction_pointer >> 32", (0x20, 0, 0, 12), id="instruction pointer high"),
    pytest.param("A = data[8]", (0x20, 0, 0, 8), id="data[k]"),
    pytest.param("A = 0x3b", (0x00, 0, 0, 0x3B), id="immediate"),
    pytest.param("X = mem[3]", (0x61, 0, 0, 3), id="X from scratch"),
    pytest.param("mem[3] = X", (0x03, 0, 0, 3), id="stx"),
    pytest.param("A = len", (0x80, 0, 0, 0), id="len"),
    pytest.param("X = A", (0x07, 0, 0, 0), id="tax"),
    pytest.param("A = X", (0x87, 0, 0, 0), id="txa"),
    pytest.param("A = -A", (0x84, 0, 0, 0), id="neg"),
    pytest.param("A &= 0xff", (0x54, 0, 0, 0xFF), id="and k"),
    pytest.param("A <<= X", (0x6C, 0, 0, 0), id="lsh x"),
    pytest.param("return ALLOW", (0x06, 0, 0, 0x7FFF0000), id="return action"),
    pytest.param("return ERRNO(1)", (0x06, 0, 0, 0x00050001), id="return errno"),
    pytest.param("return A", (0x16, 0, 0, 0), id="return A"),
    pytest.param("if (A == 0x3b) goto 3", (0x15, 3, 0, 0x3B), id="numeric goto is relative as in seccomp-tools"),
    pytest.param("if (A != 0x3b) goto 3", (0x15, 0, 3, 0x3B), id="!= swaps the targets"),
    pytest.param("if (A < X) goto 1 else goto 2", (0x3D, 2, 1, 0), id="< is jge swapped"),
    pytest.param("if (A & 4) goto 1", (0x45, 1, 0, 4), id="jset"),
    pytest.param("if (!(A & 4)) goto 1", (0x45, 0, 1, 4), id="negated jset"),
])
def test_pseudo_c_statements(text, expected):
    assert one(text) == Instruction(*expected)


def test_seccomp_tools_disasm_output_with_raw_columns_assembles():
    text = """ line  CODE  JT   JF      K
=================================
 0000: 0x20 0x00 0x00 0x00000004  A = arch
 0001: 0x15 0x00 0x01 0xc000003e  if (A != ARCH_X86_64) goto 0003
 0002: 0x06 0x00 0x00 0x7fff0000  return ALLOW
 0003: 0x06 0x00 0x00 0x00000000  return KILL
"""
    assert Program.from_asm(text) == Program([Instruction(0x20, 0, 0, 4), Instruction(0x15, 0, 1, 0xC000003E),
                                          Instruction(0x06, 0, 0, 0x7FFF0000), Instruction(0x06, 0, 0, 0)])


def test_seccomp_tools_numbered_lines_resolve_gotos_to_line_labels():
    text = "0000: A = arch\n0001: if (A != ARCH_X86_64) goto 0003\n0002: return ALLOW\n0003: return KILL\n"
    assert Program.from_asm(text)[1] == Instruction(0x15, 0, 1, 0xC000003E)


@pytest.mark.parametrize("text, line, column, words", [
    pytest.param("ld [4]\nfoo #1", 2, 1, "unknown", id="unknown mnemonic"),
    pytest.param("ja nowhere", 1, 4, "undefined label", id="undefined label"),
    pytest.param("aa: ret #0\naa: ret #1", 2, 1, "already defined", id="duplicate label"),
    pytest.param("aa: ld #1\nja aa", 2, 4, "backwards", id="backward jump"),
    pytest.param("jeq #1, far\n" + "ld #0\n" * 256 + "far: ret #0", 1, 9, "255", id="conditional too far"),
    pytest.param("jeq #1, 256", 1, 9, "255", id="numeric offset too far"),
    pytest.param("ld #0x100000000", 1, 5, "32 bits", id="number too large"),
    pytest.param("ld #08", 1, 5, "not a number", id="bad octal"),
    pytest.param("jeq #execve, 1", 1, 6, "arch", id="syscall name without an arch"),
    pytest.param("arch x86_64\njeq #nosuchcall, 1", 2, 6, "nosuchcall", id="unknown syscall"),
    pytest.param("arch vax", 1, 6, "vax", id="unknown arch"),
    pytest.param("ld [args[6]]", 1, 10, "args[6]", id="args index"),
    pytest.param("ret ERRNO(70000)", 1, 5, "16 bits", id="errno data too large"),
    pytest.param("ldxb 3*([1]&0xf)", 1, 6, "4*([k]&0xf)", id="msh multiplier must be 4 as bpf_asm insists"),
    pytest.param("ld [4] x", 1, 8, "unexpected", id="trailing garbage"),
    pytest.param("ret #0\nlast:", 2, None, "no instruction", id="label at the end"),
    pytest.param("raw 0x10000, 0, 0, 0", 1, 5, "16 bits", id="raw code too wide"),
    pytest.param("ldh #1", 1, 6, "immediate", id="ldh has no immediate"),
])
def test_errors_say_line_column_and_what(text, line, column, words):
    with pytest.raises(AsmError) as caught:
        Program.from_asm(text, name="f.asm")
    error = caught.value
    assert (error.source, error.line, error.column) == ("f.asm", line, column)
    assert words in error.message


def test_forcing_a_dialect_refuses_the_other():
    with pytest.raises(AsmError):
        Program.from_asm("A = arch", dialect="bpf_asm")
    with pytest.raises(AsmError):
        Program.from_asm("ld [4]", dialect="pseudo_c")
    assert Program.from_asm("raw 6, 0, 0, 0", dialect="pseudo_c") == Program.from_asm("ret #0", dialect="bpf_asm")


def _alone(insn: Instruction) -> Program:
    """``insn`` followed by three returns, so that short jumps land on a label and long ones do not."""
    return Program([insn, *(Instruction(op.BPF_RET | op.BPF_K, 0, 0, value) for value in range(3))])


def _spellings_read_back(insn: Instruction) -> None:
    for dialect in asm.DIALECTS:
        text = asm.disassemble(_alone(insn), arch="x86_64", dialect=dialect)
        assert Program.from_asm(text, dialect=dialect)[0] == insn, text


def test_every_instruction_of_the_golden_pair_is_read_back_from_its_spelling_in_every_dialect():
    for insn in asm.parse_bytecode((GOLDEN / "all.bpf").read_text()):
        _spellings_read_back(insn)


@settings(max_examples=300, deadline=None)
@given(st.builds(Instruction, st.sampled_from(sorted(op.OPCODES)), st.sampled_from([0, 1, 2, 255]),
                 st.sampled_from([0, 1, 2, 255]), st.one_of(st.integers(0, 64), st.integers(0, 0xFFFFFFFF))))
def test_every_instruction_is_read_back_from_its_spelling_in_every_dialect(insn):
    _spellings_read_back(insn)


def test_the_pseudo_c_parser_reads_exactly_the_comparisons_the_writer_writes():
    """Each jump operation with each source, to jt, to jf alone, to both: the operator written is
    one of the vocabulary's, and every operator of the vocabulary is written somewhere."""
    written = set()
    for code, row in op.OPCODES.items():
        for jt, jf in ((1, 0), (0, 1), (1, 2)) if row.is_conditional else ():
            insn = Instruction(code, jt, jf, 7)
            text = asm.disassemble(_alone(insn), dialect="pseudo_c")
            written |= {symbol for symbol in asm._COMPARE if f" {symbol} " in text.splitlines()[0]}
            assert Program.from_asm(text, dialect="pseudo_c")[0] == insn
    vocabulary = {symbol for pair in op.PSEUDO_C_COMPARISONS.values() for symbol in pair if symbol}
    assert written == vocabulary == set(asm._COMPARE)


@pytest.mark.parametrize("records", [
    pytest.param([(0x05, 0, 0, 0xFFFFFFFF), (0x06, 0, 0, 0)], id="ja far past the end stays a number"),
    pytest.param([(0x15, 0, 0, 1), (0x06, 0, 0, 0)], id="jeq with both offsets 0"),
    pytest.param([(0x45, 0, 1, 1), (0x06, 0, 0, 0), (0x06, 0, 0, 1)], id="jset with jt 0 has no pseudo-op"),
    pytest.param([(0x15, 255, 255, 1)], id="conditional offsets past the end"),
    pytest.param([(0x0E, 0, 0, 0), (0x28, 0, 0, 1), (0x20, 0, 0, 66)], id="ret x, ldh, out-of-struct load"),
    pytest.param([(0x20, 0, 0, 4), (0x15, 1, 0, 0xC000003E), (0x15, 0, 0, 0xC0000001)],
                 id="arch compare with an unknown AUDIT_ARCH value"),
])
@pytest.mark.parametrize("arch", [None, "x86_64", "s390x", "x32", "sparc"])
@pytest.mark.parametrize("dialect", ["bpf_asm", "pseudo_c"])
def test_disassembly_round_trips(records, arch, dialect):
    prog = Program([Instruction(*r) for r in records])
    assert Program.from_asm(asm.disassemble(prog, arch=arch, dialect=dialect)) == prog


def test_disassembly_names_labels_and_comments():
    prog = Program.from_asm("""arch x86_64
        ld [arch]
        jeq #AUDIT_ARCH_X86_64, ok
        ret KILL_PROCESS
ok:     ld [nr]
        jeq #execve, deny
        ret ALLOW
deny:   ret ERRNO(EPERM)""")
    assert asm.disassemble(prog) == """arch x86_64
        ld [4]                  ; A = arch
        jeq #0xc000003e, L0003  ; AUDIT_ARCH_X86_64
        ret #0x80000000         ; KILL_PROCESS
L0003:  ld [0]                  ; A = nr
        jeq #0x3b, L0006        ; execve
        ret #0x7fff0000         ; ALLOW
L0006:  ret #0x50001            ; ERRNO(1)
"""
    assert asm.disassemble(prog, dialect="pseudo_c") == """arch x86_64
        A = arch
        if (A == AUDIT_ARCH_X86_64) goto L0003
        return KILL_PROCESS
L0003:  A = sys_number
        if (A == execve) goto L0006
        return ALLOW
L0006:  return ERRNO(1)
"""


@pytest.mark.parametrize("text, words", [
    pytest.param("3,6 0 0 0,6 0 0 1", "count says 3", id="count mismatch"),
    pytest.param("1,6 0 0", "not 'code jt jf k'", id="short record"),
    pytest.param("1,6 0 0 4294967296", "does not fit", id="k too large"),
    pytest.param("x,6 0 0 0", "count", id="no count"),
])
def test_bytecode_errors(text, words):
    with pytest.raises(FormatError) as caught:
        asm.parse_bytecode(text, name="f.txt")
    assert caught.value.source == "f.txt" and words in caught.value.message


def test_bytecode_accepts_tcpdump_ddd_lines():
    assert Program(asm.parse_bytecode("2\n6 0 0 1\n6 0 0 0\n")) == Program([Instruction(6, 0, 0, 1), Instruction(6, 0, 0, 0)])


# The kernel's own grammar as an oracle: the PyPI package bpf-asm is tools/bpf/bpf_exp.l and
# bpf_exp.y compiled into a Python extension. Without it these tests skip with a reason.
numbers = st.one_of(st.integers(0, 2**32 - 1).map(str), st.integers(0, 2**32 - 1).map(hex),
                    st.integers(1, 255).map(lambda v: "0" + oct(v)[2:]), st.integers(0, 255).map(lambda v: f"0b{v:b}"),
                    st.integers(-2**31 + 1, -1).map(str))
registers = st.sampled_from(["x", "%x", "X"])


@st.composite
def bpf_asm_lines(draw):
    """One line of kernel bpf_asm, in any of the spellings bpf_exp.y accepts, jumping to 'end'."""
    n, size = draw(numbers), draw(st.sampled_from(["ld", "ldh", "ldb"]))
    condition = draw(st.sampled_from(["jeq", "jgt", "jge", "jset", "jne", "jneq", "jlt", "jle"]))
    operand = draw(st.one_of(registers, st.just("#" + n)))
    return draw(st.sampled_from([
        f"{size} [{n}]", f"{size} [{draw(registers)} + {n}]", f"{size} #proto", f"{size} rand",
        f"{draw(st.sampled_from(['ld #', 'ldi #', 'ldi ', 'ldx #', 'ldxi ']))}{n}",
        f"{draw(st.sampled_from(['ld', 'ldx', 'st', 'stx']))} M[{n}]", f"ldxb 4*([{n}]&0xf)", f"ldx 4*([{n}]&0xf)",
        draw(st.sampled_from(["ld #len", "ldx len", "tax", "txa", "neg", "ret a", "ret %a", "ret x", "Ld #LEN"])),
        f"{draw(st.sampled_from(sorted(asm._ALU)))} {draw(st.one_of(registers, st.just('#' + n)))}",
        f"ret #{n}", "ja end", "jmp end", f"{condition} {operand}, end",
        f"{condition.replace('jneq', 'jeq').replace('jne', 'jeq').replace('jlt', 'jge').replace('jle', 'jgt')}"
        f" {operand},end , end",
    ]))


@settings(max_examples=500, deadline=None)
@given(st.lists(bpf_asm_lines(), min_size=1, max_size=20), st.sampled_from(["", " ; c", " /* c */"]))
def test_the_kernels_bpf_asm_reads_text_as_we_do(lines, comment):
    bpf_asm = pytest.importorskip("bpf_asm", reason="the kernel grammar (pip install bpf-asm) is not installed")
    text = "\n".join(line + comment for line in lines) + "\nend: ret #0\n"
    assert Program.from_asm(text) == Program([Instruction(*r) for r in bpf_asm.assemble(text)])


def canonical_in_range(code: int, jt: int, jf: int, k: int, left: int) -> Instruction:
    """A record bpf_asm can write: no ignored field set, and jumps that land on an instruction."""
    row = op.OPCODES[code]
    if not row.is_jump:
        return Instruction(code, 0, 0, k if row.uses_k else 0)
    if left == 0:
        return Instruction(0x06)
    if row.form == op.JUMP:
        return Instruction(code, 0, 0, k % left)
    reach = min(left, 256)
    return Instruction(code, jt % reach, jf % reach, 0 if row.form == op.COND_X else k)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(op.OPCODES)), st.integers(0, 255), st.integers(0, 255),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=30))
def test_the_kernels_bpf_asm_reads_our_disassembly(rows):
    bpf_asm = pytest.importorskip("bpf_asm", reason="the kernel grammar (pip install bpf-asm) is not installed")
    prog = Program([canonical_in_range(*row, len(rows) - pc - 1) for pc, row in enumerate(rows)])
    text = asm.disassemble(prog)
    assert "raw" not in text
    assert Program([Instruction(*r) for r in bpf_asm.assemble(text)]) == prog


SECCOMP_TOOLS_STYLE = """# seccomp-tools' spec/data/libseccomp.asm (MIT), whose libseccomp.bpf holds the records below
A = arch
A == ARCH_X86_64 ? next : dead
A = sys_number
A >= 0x40000000 ? dead : next
A == write ? ok : next
A == close ? ok : next
A == dup ? ok : next
A == exit ? ok : next
return ERRNO(5)
ok:
return ALLOW
dead:
return KILL
"""


def test_seccomp_tools_ternary_syntax_assembles_to_its_bpf():
    expected = [(0x20, 0, 0, 4), (0x15, 0, 8, 0xC000003E), (0x20, 0, 0, 0), (0x35, 6, 0, 0x40000000),
                (0x15, 4, 0, 1), (0x15, 3, 0, 3), (0x15, 2, 0, 0x20), (0x15, 1, 0, 0x3C), (0x06, 0, 0, 0x50005),
                (0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0)]
    assert Program.from_asm(SECCOMP_TOOLS_STYLE, arch="x86_64") == Program([Instruction(*r) for r in expected])


def test_a_pseudo_c_if_may_span_lines_with_comments():
    text = """if (A == X)
  goto next # the next statement
else
  goto out
if (
  A # a comment inside the condition
    == 0x123
  ) goto out
if (! (A & 0x1337))
  goto 0
else goto 1
A = sys_number
out: return KILL
"""
    assert Program.from_asm(text) == Program([Instruction(0x1D, 0, 3), Instruction(0x15, 2, 0, 0x123),
                                          Instruction(0x45, 1, 0, 0x1337), Instruction(0x20),
                                          Instruction(0x06)])


def test_an_unfinished_if_is_an_error_at_its_last_line():
    with pytest.raises(AsmError) as caught:
        Program.from_asm("if (A == 1)\n  goto", name="f")
    assert caught.value.line == 2
