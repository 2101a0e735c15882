"""Errno numbers and names per architecture, and every place a filter's errno is read or shown.

Expected numbers were read in Linux v6.18.2's include/uapi/asm-generic/errno*.h and
arch/{alpha,mips,parisc,powerpc,sparc}/include/uapi/asm/errno.h (cited per case); the generic
table is also checked against this x86_64 machine's own <errno.h>, through Python's errno module.
"""

import errno
import importlib
import os
import sys
from pathlib import Path

import pytest

from bpfsim import Action, Program, SeccompData, evaluate
from bpfsim import abi
from bpfsim.cli import main
from bpfsim.csource import render
from bpfsim.testing import assert_policy, assert_verdict
from tests.build import prog, ret
from tests.trees import module_value, write_tree

ROOT = Path(__file__).resolve().parent.parent
ERRNO, TRACE, USER_NOTIF = 0x00050000, 0x7FF00000, 0x7FC00000


def _load_tool(name: str):
    """A tool from tools/, which import each other as scripts beside each other do."""
    tools = str(ROOT / "tools")
    sys.path.insert(0, tools)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(tools)


gen = _load_tool("gen_errnos")


@pytest.mark.parametrize("arch, name, number", [
    pytest.param("x86_64", "ENOSYS", 38, id="asm-generic/errno.h: ENOSYS 38"),
    pytest.param("aarch64", "ENOSYS", 38, id="arm64 uses asm-generic"),
    pytest.param("mips", "ENOSYS", 89, id="mips errno.h: ENOSYS 89"),
    pytest.param("mips64n32", "ENOSYS", 89, id="every mips ABI shares mips' header"),
    pytest.param("parisc64", "ENOSYS", 251, id="parisc errno.h: ENOSYS 251"),
    pytest.param("sparc64", "ENOSYS", 90, id="sparc errno.h: ENOSYS 90"),
    pytest.param("alpha", "ENOSYS", 78, id="alpha errno.h: ENOSYS 78"),
    pytest.param("ppc64le", "ENOSYS", 38, id="powerpc includes asm-generic/errno.h"),
    pytest.param("ppc", "EDEADLOCK", 58, id="powerpc errno.h: #undef EDEADLOCK, then 58"),
    pytest.param("x86_64", "EDEADLOCK", 35, id="asm-generic: EDEADLOCK is EDEADLK"),
    pytest.param("x86_64", "EWOULDBLOCK", 11, id="asm-generic: EWOULDBLOCK is EAGAIN"),
    pytest.param("alpha", "EAGAIN", 35, id="alpha errno.h: #undef EAGAIN, then 35"),
    pytest.param("mips", "EDQUOT", 1133, id="mips errno.h: EDQUOT 1133"),
    pytest.param("parisc", "ECANCELED", 253, id="parisc errno.h: ECANCELED is ECANCELLED 253"),
    pytest.param("x86_64", "ENOTSUP", 95, id="glibc: ENOTSUP is EOPNOTSUPP"),
    pytest.param("mips", "ENOTSUP", 122, id="glibc's ENOTSUP on mips: EOPNOTSUPP 122"),
    pytest.param("x86_64", "EPERM", 1, id="errno-base.h is shared by every arch"),
    pytest.param("sparc", "EINVAL", 22, id="sparc includes errno-base.h"),
])
def test_errno_numbers_follow_the_arch_header(arch, name, number):
    assert abi.errno_number(name, arch) == number
    assert abi.errno_numbers(arch)[name] == number


@pytest.mark.parametrize("number, arch, name", [
    (89, "mips", "ENOSYS"), (89, "x86_64", "EDESTADDRREQ"), (38, "parisc", "EL2NSYNC"),
    (11, "x86_64", "EAGAIN"), (35, "x86_64", "EDEADLK"), (11, "alpha", "EDEADLK"), (58, "ppc", "EDEADLOCK"),
    (253, "parisc", "ECANCELLED"), (4000, "x86_64", "4000"), (None, "x86_64", "-"),
])
def test_a_number_is_named_by_its_first_definition(number, arch, name):
    assert abi.errno_name(number, arch) == name


def test_the_generic_table_is_this_machines_errno_h():
    generic = abi.errno_numbers()
    host = {name: getattr(errno, name) for name in dir(errno) if name.startswith("E")}
    assert {name: generic[name] for name in host} == host
    assert set(generic) - set(host) <= {"EHWPOISON"}  # newer than glibc's list Python was built with
    assert set(abi.errno_names()) == set(errno.errorcode) | {generic["EHWPOISON"]}


def test_every_family_shares_errno_base_but_alpha_renumbers_eagain():
    for arch in ("x86_64", "mips", "parisc", "sparc", "ppc"):
        assert [abi.errno_name(n, arch) for n in range(1, 35)] == [abi.errno_name(n) for n in range(1, 35)], arch
    alpha = [n for n in range(1, 35) if abi.errno_name(n, "alpha") != abi.errno_name(n)]
    assert alpha == [11] and abi.errno_name(11, "alpha") == "EDEADLK"


def test_unknown_names_raise():
    with pytest.raises(KeyError):
        abi.errno_number("ENOTANERRNO", "x86_64")
    with pytest.raises(abi.UnknownArchError):
        abi.errno_number("ENOSYS", "vax")


# kernel/seccomp.c: TRACE without a tracer and USER_NOTIF without a listener set -ENOSYS, the
# kernel's own constant, which is the arch's.
@pytest.mark.parametrize("arch, enosys", [("x86_64", 38), ("mips", 89), ("parisc", 251), ("mipsel64n32", 89)])
@pytest.mark.parametrize("action", [TRACE, USER_NOTIF])
def test_the_kernels_own_enosys_is_the_arch_one(arch, enosys, action):
    verdict = evaluate([prog(ret(action))], SeccompData(1, arch))
    assert (verdict.outcome.runs, verdict.outcome.retval, verdict.outcome.errno) == (False, -enosys, enosys)
    assert "ENOSYS" in verdict.outcome.description


def test_a_verdict_names_its_errno_as_the_arch_does():
    mips, x86 = SeccompData(4001, "mips"), SeccompData(60, "x86_64")
    assert repr(evaluate([prog(ret(ERRNO | 89))], mips)) == "Verdict(ERRNO, errno=89 ENOSYS, filter=0)"
    assert repr(evaluate([prog(ret(ERRNO | 89))], x86)) == "Verdict(ERRNO, errno=89 EDESTADDRREQ, filter=0)"
    assert "errno 89 (ENOSYS)" in evaluate([prog(ret(ERRNO | 89))], mips).outcome.description


@pytest.mark.parametrize("arch, number", [(None, 38), ("x86_64", 38), ("mips", 89), ("parisc", 251)])
def test_assembler_numbers_errno_names_for_its_arch(arch, number):
    assert Program.from_asm("ret ERRNO(ENOSYS)", arch=arch)[0].k == abi.SECCOMP_RET_ERRNO | number
    assert Program.from_asm("return ERRNO(ENOSYS)", arch=arch)[0].k == abi.SECCOMP_RET_ERRNO | number


def test_the_arch_directive_renumbers_the_names_after_it():
    prog_ = Program.from_asm("ret ERRNO(ENOSYS)\narch mips\nret ERRNO(ENOSYS)\n")
    assert [i.k & abi.SECCOMP_RET_DATA for i in prog_] == [38, 89]


C_FILTER = "struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)) };"


@pytest.mark.parametrize("arch, number", [("x86_64", 38), ("mips", 89), ("sparc64", 90)])
def test_c_source_reads_errno_names_as_compiled_for_its_arch(arch, number):
    assert Program.from_c(C_FILTER, arch=arch)[0].k == abi.SECCOMP_RET_ERRNO | number


def test_c_rendering_names_only_errnos_numbered_alike_everywhere_and_reads_back():
    """A review found mips C output naming 38 EL2NSYNC, which a reader without arch= took as 45."""
    program = Program(prog(ret(ERRNO | 89), ret(ERRNO | 1), ret(ERRNO | 38)), arch="mips")
    mips, x86 = render(program, arch="mips"), render(program, arch="x86_64")
    assert "ENOSYS" not in mips and "EL2NSYNC" not in mips  # 89 and 38 stay numbers
    assert "SECCOMP_RET_ERRNO | EPERM" in mips  # errno-base.h: 1 on every arch
    assert "SECCOMP_RET_ERRNO | EDESTADDRREQ" in x86 and "SECCOMP_RET_ERRNO | ENOSYS" in x86
    assert Program.from_c(mips) == Program.from_c(mips, arch="mips") == Program.from_c(x86) == program


def test_the_pytest_helpers_take_errno_names_for_the_arch():
    deny = Program(prog(ret(ERRNO | 89)))
    assert assert_verdict(deny, 4001, arch="mips", action="ERRNO", errno="ENOSYS").errno == 89
    with pytest.raises(AssertionError, match=r"expected ERRNO errno=38 \(ENOSYS\), got .*errno=89 EDESTADDRREQ"):
        assert_verdict(deny, 60, action="ERRNO", errno="ENOSYS")
    assert_policy(deny, {}, arch="mips", default=("ERRNO", "ENOSYS"))
    with pytest.raises(ValueError, match="unknown errno name 'ENOPE' for mips"):
        assert_verdict(deny, 4001, arch="mips", action=Action.ERRNO, errno="ENOPE")


def test_the_table_command_names_errnos_for_the_arch(tmp_path, capsys):
    path = tmp_path / "deny.bpf"
    path.write_bytes(Program(prog(ret(ERRNO | 89))).to_bytes())
    assert main(["table", str(path), "--arch", "mips"]) == 0
    assert "89 (ENOSYS)" in capsys.readouterr().out


# --- the recipe: tools/gen_errnos.py ----------------------------------------------------------

FAKE_TREE = {
    "Makefile": "VERSION = 9\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n",
    "include/uapi/asm-generic/errno-base.h":
        "#ifndef _G\n#define _G\n#define\tEPERM\t 1\t/* Operation not permitted */\n#define\tEAGAIN\t11\n#endif\n",
    "include/uapi/asm-generic/errno.h":
        "#ifndef _E\n#define _E\n#include <asm-generic/errno-base.h>\n/*\n * a comment\n */\n"
        "#define\tEDEADLK\t\t35\n#define\tEWOULDBLOCK\tEAGAIN\n#define\tEDEADLOCK\tEDEADLK\n#endif\n",
    "arch/alpha/include/uapi/asm/errno.h":
        "#include <asm-generic/errno-base.h>\n#undef\tEAGAIN\t\t\t/* 11 in errno-base.h */\n"
        "#define\tEDEADLK\t11\n#define\tEAGAIN\t35\n",
    "arch/mips/include/uapi/asm/errno.h": "#include <asm-generic/errno-base.h>\n#define ENOSYS\t\t89\n",
    "arch/parisc/include/uapi/asm/errno.h":
        "#include <asm-generic/errno-base.h>\n#define EREFUSED\tECONNREFUSED\n#define ECONNREFUSED\t239\n",
    "arch/powerpc/include/uapi/asm/errno.h":
        "#undef\tEDEADLOCK\n#include <asm-generic/errno.h>\n#undef\tEDEADLOCK\n#define\tEDEADLOCK\t58\n",
    "arch/sparc/include/uapi/asm/errno.h": "#include <asm-generic/errno-base.h>\n",
}


def test_generator_reads_the_headers_as_the_preprocessor_does(tmp_path):
    text = gen.generate(write_tree(tmp_path, FAKE_TREE))
    assert text.startswith("# Generated by tools/gen_errnos.py from Linux v9.1; do not edit.\n")
    tables = module_value(text, "ERRNOS")
    assert list(tables["generic"].items()) == [("EPERM", 1), ("EAGAIN", 11), ("EDEADLK", 35),
                                               ("EWOULDBLOCK", 11), ("EDEADLOCK", 35)]
    assert list(tables["alpha"].items()) == [("EPERM", 1), ("EDEADLK", 11), ("EAGAIN", 35)]
    assert tables["mips"] == {"EPERM": 1, "EAGAIN": 11, "ENOSYS": 89}
    assert list(tables["parisc"].items())[-2:] == [("ECONNREFUSED", 239), ("EREFUSED", 239)]
    assert list(tables["powerpc"].items()) == [("EPERM", 1), ("EAGAIN", 11), ("EDEADLK", 35), ("EDEADLOCK", 58),
                                               ("EWOULDBLOCK", 11)]
    assert tables["sparc"] == {"EPERM": 1, "EAGAIN": 11}


def test_generator_main_writes_the_module(tmp_path):
    src, out = write_tree(tmp_path / "linux", FAKE_TREE), tmp_path / "errnos.py"
    assert gen.main([str(src), "--out", str(out), "--tag", "v1.2"]) == 0
    assert out.read_text().startswith("# Generated by tools/gen_errnos.py from Linux v1.2;")


@pytest.mark.parametrize("text, message", [
    pytest.param("#if FOO\n#endif\n", r"errno.h:1: cannot read #if FOO", id="a conditional"),
    pytest.param("#include <asm/other.h>\n", "not an asm-generic errno header", id="another include"),
    pytest.param("#define EX 1\n#define EX 2\n", "EX is defined twice", id="a name defined twice"),
    pytest.param("#define EX 1\n#define EY 1\n", "EX, EY share a number", id="a number used twice"),
    pytest.param("#define EX EY\n", "EX is EY, which is not a numbered errno", id="an alias of nothing"),
    pytest.param("int x;\n", "errno.h:1: not a directive", id="C code"),
])
def test_generator_refuses_headers_it_cannot_read(tmp_path, text, message):
    write_tree(tmp_path, {**FAKE_TREE, "arch/mips/include/uapi/asm/errno.h": text})
    with pytest.raises(gen.HeaderError, match=message):
        gen.generate(tmp_path)


def test_the_committed_tables_are_what_the_tools_make_of_a_real_tree():
    """Both generated tables, syscalls and errnos, in one test: only a kernel tree can check them."""
    src = os.environ.get("BPFSIM_LINUX_SRC")
    if not src:
        pytest.skip("set BPFSIM_LINUX_SRC to a Linux v6.18.2 tree to regenerate the tables")
    assert gen.generate(Path(src)) == (ROOT / "bpfsim" / "_errnos.py").read_text()
    syscall_modules = [p for p in (ROOT / "bpfsim" / "syscalls").glob("_*.py") if p.name != "__init__.py"]
    assert _load_tool("gen_syscalls").generate(Path(src)) == {p.name: p.read_text() for p in syscall_modules}
