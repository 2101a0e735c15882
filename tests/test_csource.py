"""C initializers: what real code writes, checked against what gcc stores for the same text.

Where a C compiler is present, the expected records are the bytes gcc puts in the array (the
ground truth for a C initializer); the tables of literal records below come from the uapi
headers (filter.h, seccomp.h, audit.h) and the x86_64 syscall table.
"""

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from bpfsim import AsmError, FormatError, Instruction, Program
from bpfsim import asm, csource

CC = shutil.which("cc") or shutil.which("gcc")

SELFTEST_STYLE = """
#include <stddef.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#define ARCH_NR AUDIT_ARCH_X86_64
#define ALLOW_SYSCALL(name) \\
	BPF_JUMP(BPF_JMP+BPF_JEQ+BPF_K, __NR_##name, 0, 1), \\
	BPF_STMT(BPF_RET+BPF_K, SECCOMP_RET_ALLOW)

static int unrelated = 3; /* other declarations do not matter */

struct sock_filter filter[] = {
	/* validate the architecture */
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (offsetof(struct seccomp_data, arch))),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_NR, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD+BPF_W+BPF_ABS, offsetof(struct seccomp_data, nr)),
	ALLOW_SYSCALL(read),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 3),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + sizeof(__u32)),
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (unsigned int)(1 << 3) | 0x2, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	[9] = { 0x06, 0, 0, 0x00050000 | E2BIG },
	{ .code = BPF_RET | BPF_K, .k = SECCOMP_RET_TRACE | (~0u & 0xff) },
};

int main(void) { return unrelated; }
"""

EXPECTED = [
    (0x20, 0, 0, 4), (0x15, 1, 0, 0xC000003E), (0x06, 0, 0, 0x80000000), (0x20, 0, 0, 0),
    (0x15, 0, 1, 0), (0x06, 0, 0, 0x7FFF0000), (0x15, 0, 3, 257), (0x20, 0, 0, 28),
    (0x45, 0, 1, 10), (0x06, 0, 0, 0x00050007), (0x06, 0, 0, 0x7FF000FF),
]


def compiled(source: str, symbol: str, tmp_path: Path) -> Program:
    """The array's bytes as gcc lays them out, printed by the compiled program itself."""
    if CC is None:
        pytest.skip("no C compiler on this machine")
    c = tmp_path / "f.c"
    c.write_text(source.replace("int main(void)", "int main_unused(void)") + textwrap.dedent(f"""
        #include <stdio.h>
        int main(void) {{ fwrite({symbol}, sizeof {symbol}, 1, stdout); return 0; }}
    """))
    subprocess.run([CC, "-w", "-o", str(tmp_path / "f"), str(c)], check=True)
    return Program.from_bytes(subprocess.run([str(tmp_path / "f")], capture_output=True, check=True).stdout)


def test_a_selftest_style_file_parses_to_the_records_its_text_means():
    assert Program.from_c(SELFTEST_STYLE) == Program([Instruction(*r) for r in EXPECTED])


def test_a_selftest_style_file_parses_to_what_gcc_stores(tmp_path):
    assert Program.from_c(SELFTEST_STYLE) == compiled(SELFTEST_STYLE, "filter", tmp_path)


@pytest.mark.parametrize("text, record", [
    pytest.param("{ 0x20, 0, 0, 0x00000004 },", (0x20, 0, 0, 4), id="bpf_asm -c row"),
    pytest.param("{0x15,1,2,3}", (0x15, 1, 2, 3), id="row without spaces and comma"),
    pytest.param("BPF_STMT(BPF_RET|BPF_K, 0x7fff0000U)", (0x06, 0, 0, 0x7FFF0000), id="unsigned suffix"),
    pytest.param("BPF_STMT(BPF_LD|BPF_IMM, -1)", (0x00, 0, 0, 0xFFFFFFFF), id="negative k converts to u32"),
    pytest.param("BPF_STMT(BPF_LD|BPF_IMM, 010)", (0x00, 0, 0, 8), id="octal literal"),
    pytest.param("BPF_STMT(BPF_LD|BPF_IMM, -7 / 2)", (0x00, 0, 0, 0xFFFFFFFD), id="C division truncates"),
    pytest.param("BPF_STMT(BPF_LD|BPF_IMM, 1 ? 2 : 3)", (0x00, 0, 0, 2), id="conditional operator"),
    pytest.param("BPF_STMT(BPF_LD|BPF_IMM, (unsigned char)0x1ff)", (0x00, 0, 0, 0xFF), id="cast truncates"),
    pytest.param("BPF_STMT(BPF_LD|BPF_IMM, __NR_execve | __X32_SYSCALL_BIT)", (0x00, 0, 0, 0x4000003B),
                 id="x32 bit"),
    pytest.param("BPF_STMT(BPF_LD|BPF_W|BPF_ABS, sizeof(struct seccomp_data))", (0x20, 0, 0, 64), id="sizeof"),
    pytest.param("{ BPF_STMT(BPF_RET|BPF_K, 0) };", (0x06, 0, 0, 0), id="braced bare list"),
])
def test_constant_expressions(text, record):
    assert Program.from_c(text) == Program([Instruction(*record)])


def test_syscall_names_use_the_given_arch():
    assert Program.from_c("BPF_STMT(BPF_LD|BPF_IMM, __NR_execve)", arch="aarch64")[0].k == 221


CONDITIONAL = """
#include <errno.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#if defined(__i386__)
#define ARCH_NR AUDIT_ARCH_I386
#elif defined(__x86_64__)
#define ARCH_NR AUDIT_ARCH_X86_64
#else
#error no such arch here
#endif
struct sock_filter filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_NR, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_sigreturn
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sigreturn, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !defined(NOT_DEFINED_ANYWHERE)
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
#else
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
};
"""


@pytest.mark.parametrize("arch, expected", [
    pytest.param("x86_64", [(0x20, 0, 0, 4), (0x15, 1, 0, 0xC000003E), (0x06, 0, 0, 0), (0x20, 0, 0, 0),
                            (0x06, 0, 0, 0x00050026)], id="x86_64 has no sigreturn"),
    pytest.param("i386", [(0x20, 0, 0, 4), (0x15, 1, 0, 0x40000003), (0x06, 0, 0, 0), (0x20, 0, 0, 0),
                          (0x15, 0, 1, 119), (0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050026)],
                 id="i386 has sigreturn 119 (syscall_32.tbl)"),
])
def test_conditional_compilation_follows_the_arch(arch, expected):
    assert Program.from_c(CONDITIONAL, arch=arch) == Program([Instruction(*r) for r in expected])


def test_conditional_compilation_agrees_with_gcc(tmp_path):
    assert Program.from_c(CONDITIONAL) == compiled(CONDITIONAL, "filter", tmp_path)


@pytest.mark.parametrize("text, words", [
    pytest.param("#if 1\nBPF_STMT(BPF_RET|BPF_K, 0)", "never closed", id="unterminated if"),
    pytest.param("#endif\nBPF_STMT(BPF_RET|BPF_K, 0)", "without #if", id="endif without if"),
])
def test_conditional_errors(text, words):
    with pytest.raises(FormatError, match=words):
        Program.from_c(text)


def test_a_declared_size_zero_fills_as_c_does():
    prog = Program.from_c("struct sock_filter f[3] = { BPF_STMT(BPF_RET|BPF_K, 1) };")
    assert prog == Program([Instruction(6, 0, 0, 1), Instruction(0), Instruction(0)])


TWO = """
static struct sock_filter first[] = { BPF_STMT(BPF_RET|BPF_K, 1) };
static const struct sock_filter second[] = { BPF_STMT(BPF_RET|BPF_K, 2) };
"""


def test_a_symbol_picks_one_of_several_arrays():
    assert Program.from_c(TWO, symbol="second")[0].k == 2


@pytest.mark.parametrize("text, symbol, line, column, words", [
    pytest.param(TWO, None, None, None, "first, second", id="several arrays and no symbol"),
    pytest.param(TWO, None, None, None, "FILE:SYMBOL or --symbol NAME on the command line, symbol= from Python",
                 id="several arrays: how to name one, on the command line too (it said only symbol=)"),
    pytest.param(TWO, "third", None, None, "first, second", id="missing symbol lists the arrays"),
    pytest.param("int x;\nstruct sock_filter f[] = {\n  BPF_STMT(BPF_LD, NOPE),\n};", None, 3, 20, "NOPE",
                 id="unknown identifier with line and column"),
    pytest.param("struct sock_filter f[] = { BPF_STMT(BPF_LD, 1 / 0) };", None, 1, 47, "division",
                 id="division by zero"),
    pytest.param("struct sock_filter f[] = { BPF_STMT(BPF_LD, 1) ", None, 1, 26, "never closed",
                 id="unclosed brace"),
    pytest.param("BPF_STMT(BPF_LD, __NR_nosuchcall)", None, 1, 18, "nosuchcall", id="unknown syscall"),
    pytest.param("{ 1, 2, 3, 4, 5 }", None, 1, 15, "four fields", id="five fields"),
    pytest.param("int main(void) { return 0; }", None, 1, 1, "BPF_STMT", id="no filter at all"),
    pytest.param("#ifdef SANDBOX\nstruct sock_filter f[] = { BPF_STMT(BPF_RET|BPF_K, 0) };\n#endif\n", None, None,
                 None, "; f is inside an #if branch not taken here (set the build's macros: -D NAME",
                 id="an array in an #if branch not taken says so (OpenSSH's is in #ifdef SANDBOX_SECCOMP_FILTER)"),
    pytest.param("#define A A\nBPF_STMT(BPF_LD, A)", None, 1, 11, "unknown identifier 'A'",
                 id="self-referential macro stops"),
])
def test_errors_say_where(text, symbol, line, column, words):
    with pytest.raises(FormatError) as caught:
        Program.from_c(text, symbol=symbol, name="f.c")
    error = caught.value
    assert (error.source, error.line, getattr(error, "column", None)) == ("f.c", line, column)
    assert words in error.message


PROGRAMS = {
    "demo sandbox": Program.load(Path(__file__).resolve().parent.parent / "corpus" / "bpfsim-demo-sandbox" / "filter.asm"),
    "every code": Program(asm.parse_bytecode(
        (Path(__file__).resolve().parent.parent / "corpus" / "all_instructions" / "all.bpf").read_text())),
    "odd records": Program([Instruction(0xFFFF, 1, 2, 3), Instruction(0x06, 1, 0, 0), Instruction(0x0E),
                            Instruction(0x20, 0, 0, 40), Instruction(0x06, 0, 0, 0x10000000)]),
}


@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("arch", [None, "x86_64", "s390x"])
def test_render_parses_back(name, arch):
    prog = PROGRAMS[name]
    assert Program.from_c(csource.render(prog, arch=arch)) == prog


@pytest.mark.parametrize("name", PROGRAMS)
def test_render_compiles_to_the_same_bytes(name, tmp_path):
    prog = PROGRAMS[name]
    assert compiled(csource.render(prog, arch="x86_64"), "filter", tmp_path) == prog


def test_errors_are_asm_errors_with_columns():
    with pytest.raises(AsmError):
        Program.from_c("BPF_STMT(BPF_LD, NOPE)")


def test_an_active_error_directive_stops_reading_as_the_compiler_would():
    text = ("#ifdef __x86_64__\n#error this filter is for mips\n#endif\n"
            "struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };\n")
    with pytest.raises(FormatError, match=r"<string>:2:2: #error this filter is for mips"):
        Program.from_c(text)
    assert Program.from_c(text, arch="mips")[0].k == 0x7FFF0000


ARG_LOW_WORD_BY_BYTE_ORDER = """
#include <endian.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#if __BYTE_ORDER == __LITTLE_ENDIAN
# define ARG_LO_OFFSET 0
#elif __BYTE_ORDER == __BIG_ENDIAN
# define ARG_LO_OFFSET sizeof(unsigned int)
#else
#error "Unknown endianness"
#endif
struct sock_filter lo_word[] = {
	BPF_STMT(BPF_LD+BPF_W+BPF_ABS, offsetof(struct seccomp_data, args[1]) + ARG_LO_OFFSET),
	BPF_STMT(BPF_RET+BPF_K, SECCOMP_RET_ALLOW),
};
"""


@pytest.mark.parametrize("arch, compiler", [("x86_64", "gcc"), ("s390x", "s390x-linux-gnu-gcc")])
def test_glibc_byte_order_names_choose_the_arg_word_as_the_compiler_does(tmp_path, arch, compiler):
    """A new-user walk: OpenSSH's sandbox finds an argument's low word with glibc's
    '#if __BYTE_ORDER == __LITTLE_ENDIAN'; both names were unknown, so 0 == 0 and an s390x filter
    read 'ld [24]' (args[1]'s high word there) where s390x gcc compiles 'ld [28]'."""
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed: no {arch} compiler to compare with")
    (tmp_path / "f.c").write_text(ARG_LOW_WORD_BY_BYTE_ORDER)
    subprocess.run([compiler, "-c", "-o", str(tmp_path / "f.o"), str(tmp_path / "f.c")], check=True)
    assert Program.from_c(ARG_LOW_WORD_BY_BYTE_ORDER, arch=arch) == Program.from_elf(tmp_path / "f.o")


CONFIGURED_BY_THE_BUILD = """
#include <errno.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#ifdef SANDBOX_SECCOMP_FILTER
static const struct sock_filter preauth_insns[] = {
	BPF_STMT(BPF_LD+BPF_W+BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP+BPF_JEQ+BPF_K, SECCOMP_AUDIT_ARCH, 1, 0),
	BPF_STMT(BPF_RET+BPF_K, SECCOMP_RET_KILL),
	BPF_STMT(BPF_RET+BPF_K, SECCOMP_RET_ERRNO | (DENY_ERRNO)),
};
const void *keep = preauth_insns;
#endif
"""


def test_defines_configure_a_source_as_the_compilers_dash_d_does(tmp_path):
    """A new-user walk: OpenSSH's sandbox-seccomp-filter.c is all inside '#ifdef SANDBOX_SECCOMP_FILTER'
    and names SECCOMP_AUDIT_ARCH, both set by its configure script on the compiler's command line; with
    no way to set them the reader found no array at all."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "f.c").write_text(CONFIGURED_BY_THE_BUILD)
    subprocess.run(["gcc", "-c", "-DSANDBOX_SECCOMP_FILTER", "-DSECCOMP_AUDIT_ARCH=AUDIT_ARCH_X86_64",
                    "-DDENY_ERRNO=EACCES | 0", "-o", str(tmp_path / "f.o"), str(tmp_path / "f.c")], check=True)
    defines = {"SANDBOX_SECCOMP_FILTER": "1", "SECCOMP_AUDIT_ARCH": "AUDIT_ARCH_X86_64", "DENY_ERRNO": "EACCES | 0"}
    assert Program.from_c(CONFIGURED_BY_THE_BUILD, defines=defines) == Program.from_elf(tmp_path / "f.o")
    with pytest.raises(FormatError, match="no struct sock_filter array"):
        Program.from_c(CONFIGURED_BY_THE_BUILD)
