"""bpfsim.syscalls against the Linux v6.18.2 syscall tables, this machine's headers, and its recipe."""

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

import bpfsim.syscalls as syscalls
from bpfsim.abi import ARCHES, UnknownArchError, arch_info
from bpfsim.errors import BpfsimError
from bpfsim.syscalls import (UnknownSyscallError, describe_nr, known_arches, syscall_name,
                             syscall_number, syscall_table)
from tests.trees import module_value, write_tree

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bpfsim" / "syscalls"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_syscalls", ROOT / "tools" / "gen_syscalls.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


# Each value was read in the v6.18.2 .tbl file named in the id.
@pytest.mark.parametrize("arch, name, nr", [
    pytest.param("x86_64", "read", 0, id="syscall_64.tbl: read 0"),
    pytest.param("x86_64", "execve", 59, id="syscall_64.tbl: execve 59 (abi 64)"),
    pytest.param("x86_64", "openat", 257, id="syscall_64.tbl: openat 257"),
    pytest.param("x86_64", "seccomp", 317, id="syscall_64.tbl: seccomp 317"),
    pytest.param("x86_64", "exit_group", 231, id="syscall_64.tbl: exit_group 231"),
    pytest.param("x86_64", "uselib", 134, id="syscall_64.tbl: uselib 134 has no entry point but a number"),
    pytest.param("x86_64", "file_setattr", 469, id="syscall_64.tbl: file_setattr 469, newest"),
    pytest.param("x32", "read", 0x40000000, id="syscall_64.tbl: x32 read 0 | __X32_SYSCALL_BIT"),
    pytest.param("x32", "execve", 0x40000000 | 520, id="syscall_64.tbl: x32 execve 520"),
    pytest.param("x32", "openat", 0x40000000 | 257, id="syscall_64.tbl: x32 openat (common) 257"),
    pytest.param("i386", "execve", 11, id="syscall_32.tbl: execve 11"),
    pytest.param("i386", "getpid", 20, id="syscall_32.tbl: getpid 20"),
    pytest.param("i386", "socketcall", 102, id="syscall_32.tbl: socketcall 102"),
    pytest.param("i386", "break", 17, id="syscall_32.tbl: break 17 has no entry point but a number"),
    pytest.param("aarch64", "openat", 56, id="scripts/syscall.tbl: arm64 openat 56"),
    pytest.param("aarch64", "execve", 221, id="scripts/syscall.tbl: arm64 execve 221"),
    pytest.param("aarch64", "renameat", 38, id="scripts/syscall.tbl: arm64 selects abi renameat"),
    pytest.param("aarch64", "memfd_secret", 447, id="scripts/syscall.tbl: arm64 selects abi memfd_secret"),
    pytest.param("aarch64", "fstat", 80, id="scripts/syscall.tbl: arm64 fstat 80 (abi 64)"),
    pytest.param("arm", "openat", 322, id="arm syscall.tbl: openat 322"),
    pytest.param("arm", "execve", 11, id="arm syscall.tbl: execve 11"),
    pytest.param("arm", "cacheflush", 0x0F0002, id="arm unistd.h: __ARM_NR_cacheflush"),
    pytest.param("arm", "set_tls", 0x0F0005, id="arm unistd.h: __ARM_NR_set_tls"),
    pytest.param("riscv64", "riscv_hwprobe", 258, id="scripts/syscall.tbl: riscv_hwprobe 258"),
    pytest.param("riscv64", "clock_gettime", 113, id="scripts/syscall.tbl: riscv64 clock_gettime 113"),
    pytest.param("riscv32", "clock_gettime64", 403, id="scripts/syscall.tbl: riscv32 clock_gettime64 403"),
    pytest.param("s390x", "openat", 288, id="s390 syscall.tbl: openat 288"),
    pytest.param("s390x", "getrlimit", 191, id="s390 syscall.tbl: getrlimit 191 (abi 64)"),
    pytest.param("s390", "getrlimit", 76, id="s390 syscall.tbl: getrlimit 76 (abi 32)"),
    pytest.param("s390", "chown32", 212, id="s390 syscall.tbl: chown32 212 (abi 32)"),
    pytest.param("ppc64", "openat", 286, id="powerpc syscall.tbl: openat 286"),
    pytest.param("ppc64le", "newfstatat", 291, id="powerpc syscall.tbl: newfstatat 291 (abi 64)"),
    pytest.param("ppc", "fstat64", 197, id="powerpc syscall.tbl: fstat64 197 (abi 32)"),
    pytest.param("ppc", "spu_run", 278, id="powerpc syscall.tbl: spu_run 278 (abi nospu)"),
    pytest.param("mips", "read", 4003, id="syscall_o32.tbl: read 3 + 4000"),
    pytest.param("mipsel", "openat", 4288, id="syscall_o32.tbl: openat 288 + 4000"),
    pytest.param("mips64", "read", 5000, id="syscall_n64.tbl: read 0 + 5000"),
    pytest.param("mips64", "execve", 5057, id="syscall_n64.tbl: execve 57 + 5000"),
    pytest.param("mips64n32", "read", 6000, id="syscall_n32.tbl: read 0 + 6000"),
    pytest.param("mipsel64n32", "openat", 6251, id="syscall_n32.tbl: openat 251 + 6000"),
    pytest.param("parisc", "openat", 275, id="parisc syscall.tbl: openat 275"),
    pytest.param("parisc64", "cacheflush", 356, id="parisc syscall.tbl: cacheflush 356"),
    pytest.param("loongarch64", "openat", 56, id="scripts/syscall.tbl: loongarch openat 56"),
    pytest.param("csky", "set_thread_area", 244, id="scripts/syscall.tbl: csky set_thread_area 244"),
    pytest.param("csky", "cacheflush", 245, id="scripts/syscall.tbl: csky cacheflush 245"),
    pytest.param("m68k", "openat", 288, id="m68k syscall.tbl: openat 288"),
    pytest.param("sh", "openat", 295, id="sh syscall.tbl: openat 295"),
    pytest.param("xtensa", "execve", 117, id="xtensa syscall.tbl: execve 117"),
    pytest.param("xtensa", "spill", 0, id="xtensa syscall.tbl: spill 0 is sys_ni_syscall but named"),
])
def test_numbers_match_the_kernel_tables(arch, name, nr):
    assert syscall_number(name, arch) == nr
    assert syscall_name(nr, arch) == name


@pytest.mark.parametrize("arch, name", [
    pytest.param("aarch64", "open", id="the generic table has no open"),
    pytest.param("loongarch64", "renameat", id="loongarch does not select abi renameat"),
    pytest.param("loongarch64", "getrlimit", id="loongarch does not select abi rlimit"),
    pytest.param("riscv32", "clock_gettime", id="riscv32 does not select abi time32"),
    pytest.param("riscv64", "clock_gettime64", id="abi 32 lines stay out of 64-bit tables"),
    pytest.param("x32", "uselib", id="abi 64 lines stay out of x32"),
    pytest.param("s390x", "chown32", id="abi 32 lines stay out of s390x"),
    pytest.param("ppc64", "fstat64", id="abi 32 lines stay out of ppc64"),
    pytest.param("arm", "time", id="abi oabi lines stay out: filters see EABI numbers"),
])
def test_names_outside_the_selected_abis_are_unknown(arch, name):
    with pytest.raises(UnknownSyscallError):
        syscall_number(name, arch)


@pytest.mark.parametrize("arch", known_arches())
def test_every_name_round_trips_through_its_number(arch):
    table = syscall_table(arch)
    assert list(table) == sorted(table)
    for nr, name in table.items():
        assert syscall_number(name, arch) == nr
        assert syscall_name(nr, arch) == name


def test_every_seccomp_arch_has_a_table_and_x32_too():
    assert set(known_arches()) == {a.name for a in ARCHES if a.seccomp} | {"x32"}


@pytest.mark.parametrize("arch", [a.name for a in ARCHES if not a.seccomp])
def test_arches_without_seccomp_filters_have_no_table(arch):
    with pytest.raises(UnknownArchError, match="no syscall table"):
        syscall_number("read", arch)


def test_arch_may_be_a_name_an_alias_an_audit_arch_value_or_an_arch():
    x86_64 = arch_info("x86_64")
    for arch in ("x86_64", "AMD64", "AUDIT_ARCH_X86_64", x86_64.value, x86_64):
        assert syscall_number("openat", arch) == 257


def test_only_the_name_x32_selects_the_x32_table():
    assert syscall_number("read", " X32 ") == 0x40000000
    assert syscall_number("read", arch_info("x32")) == 0  # the Arch is AUDIT_ARCH_X86_64


def test_endian_twins_share_a_table():
    assert syscall_table("mipsel") == syscall_table("mips")
    assert syscall_table("ppc64le") == syscall_table("ppc64")
    assert syscall_table("shel") == syscall_table("sh")


def test_syscall_table_is_a_copy():
    syscall_table("x86_64").clear()
    assert syscall_name(0, "x86_64") == "read"


def test_syscall_name_reads_only_the_arch_s_own_table():
    assert syscall_name(0x40000000, "x86_64") is None
    assert syscall_name(0, "x32") is None
    assert syscall_name(999_999, "aarch64") is None


@pytest.mark.parametrize("nr, arch, text", [
    pytest.param(0, "x86_64", "read", id="own table"),
    pytest.param(0x40000000, "x86_64", "x32 read", id="x32 number seen by an x86_64 filter"),
    pytest.param(0x40000000 | 520, "x86_64", "x32 execve", id="x32-only number"),
    pytest.param(59, "x32", "x86_64 execve", id="x86_64 number seen by an x32 filter"),
    pytest.param(0x40000000, "x32", "read", id="x32 own table"),
    pytest.param(0x40000000, "aarch64", None, id="the x32 bit means nothing elsewhere"),
    pytest.param(0x40000000 | 999, "x86_64", None, id="unknown x32 number"),
])
def test_describe_nr(nr, arch, text):
    assert describe_nr(nr, arch) == text


def test_unknown_name_names_the_arch_and_close_matches():
    with pytest.raises(UnknownSyscallError) as info:
        syscall_number("opnat", "x86_64")
    err = info.value
    assert (err.name, err.arch) == ("opnat", "x86_64")
    assert "openat" in err.suggestions
    assert "'opnat'" in str(err) and "x86_64" in str(err) and "openat" in str(err)
    assert isinstance(err, BpfsimError) and isinstance(err, LookupError)


def test_unknown_name_without_close_matches_says_so_plainly():
    with pytest.raises(UnknownSyscallError) as info:
        syscall_number("zzzzzzzzzzzz", "arm")
    assert info.value.suggestions == ()
    assert str(info.value) == "no syscall named 'zzzzzzzzzzzz' on arm"


def test_unknown_arch_is_an_arch_error():
    with pytest.raises(UnknownArchError):
        syscall_name(0, "vax")


# --- this machine's uapi headers -------------------------------------------------------------

def _machine_header(name):
    for directory in ("/usr/include/asm", "/usr/include/x86_64-linux-gnu/asm"):
        path = Path(directory) / name
        if path.exists():
            return path
    pytest.skip(f"{name} not installed (no x86 linux-libc-dev / kernel-headers on this machine)")


@pytest.mark.parametrize("header, arch", [
    ("unistd_64.h", "x86_64"), ("unistd_32.h", "i386"), ("unistd_x32.h", "x32"),
])
def test_machine_headers_agree_with_the_table(header, arch):
    """The installed headers may be older than v6.18.2, so every __NR_ they define must match."""
    defines = re.findall(r"^#define __NR_(\w+)\s+(.+?)\s*$", _machine_header(header).read_text(), re.M)
    assert defines
    for name, value in defines:
        x32 = re.fullmatch(r"\(__X32_SYSCALL_BIT \+ (\d+)\)", value)
        nr = 0x40000000 + int(x32.group(1)) if x32 else int(value)
        assert syscall_number(name, arch) == nr, name


# --- the recipe: tools/gen_syscalls.py --------------------------------------------------------

def _module_files():
    return sorted(p for p in PACKAGE.glob("_*.py") if p.name != "__init__.py")


def test_generator_covers_exactly_the_modules_the_package_uses():
    assert {f"{spec.module}.py" for spec in gen.SPECS} == {p.name for p in _module_files()}
    assert {f"{m}.py" for m in syscalls._MODULES.values()} == {p.name for p in _module_files()}


@pytest.mark.parametrize("path", _module_files(), ids=lambda p: p.name)
def test_committed_modules_are_generator_output_from_the_pinned_tag(path):
    """Header and body are byte for byte what render() writes for that data and those sources."""
    text = path.read_text()
    tree = ast.parse(text)
    assert [type(node) for node in tree.body] == [ast.Assign]
    assert [t.id for t in tree.body[0].targets] == ["SYSCALLS"]
    first = text.splitlines()[0]
    tag = re.fullmatch(r"# Generated by tools/gen_syscalls.py from Linux (\S+); do not edit.", first)[1]
    assert tag == "v6.18.2" and tag in syscalls.__doc__
    sources = [line[len("# From "):-1] for line in text.splitlines() if line.startswith("# From ")]
    namespace = {}
    exec(compile(tree, str(path), "exec"), namespace)
    assert gen.render(tag, namespace["SYSCALLS"], sources) == text


FAKE_TREE = {
    "Makefile": "VERSION = 9\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\nNAME = Fake\n",
    "arch/x86/entry/syscalls/syscall_64.tbl": (
        "# comment\n\n"
        "0\tcommon\tread\t\t\tsys_read\n"
        "59\t64\texecve\t\t\tsys_execve\n"
        "134\t64\tuselib\n"
        "512\tx32\trt_sigaction\t\tcompat_sys_rt_sigaction\n"
        "520\tx32\texecve\t\t\tcompat_sys_execve\n"),
    "arch/x86/entry/syscalls/syscall_32.tbl": "17\ti386\tbreak\n20\ti386\tgetpid\tsys_getpid\n",
    "arch/arm/tools/syscall.tbl": (
        "3\tcommon\tread\tsys_read\n13\toabi\ttime\tsys_time32\n"
        "322\tcommon\topenat\tsys_openat\n400\teabi\tmade_up\tsys_made_up\n"),
    "arch/arm/include/uapi/asm/unistd.h": (
        "#define __ARM_NR_BASE\t\t\t(__NR_SYSCALL_BASE+0x0f0000)\n"
        "#define __ARM_NR_breakpoint\t\t(__ARM_NR_BASE+1)\n"
        "#define __ARM_NR_set_tls\t\t(__ARM_NR_BASE+5)\n"),
    "scripts/syscall.tbl": (
        "25\t32\tfcntl64\t\tsys_fcntl64\n25\t64\tfcntl\t\tsys_fcntl\n"
        "38\trenameat renameat\tsys_renameat\n"
        "113\ttime32\tclock_gettime\tsys_clock_gettime32\n113\t64\tclock_gettime\tsys_clock_gettime\n"
        "244\tcsky\tset_thread_area\tsys_set_thread_area\n"
        "258\triscv\triscv_hwprobe\tsys_riscv_hwprobe\n"
        "403\t32\tclock_gettime64\tsys_clock_gettime\n"),
    "arch/arm64/kernel/Makefile.syscalls": (
        "syscall_abis_32 +=\nsyscall_abis_64 += renameat rlimit memfd_secret\n\n"
        "syscalltbl = arch/arm64/tools/syscall_%.tbl\n"),
    "arch/arm64/tools/syscall_64.tbl": "56\tcommon\topenat\tsys_openat\n",
    "arch/riscv/kernel/Makefile.syscalls": (
        "syscall_abis_32 += riscv memfd_secret\nsyscall_abis_64 += riscv rlimit memfd_secret\n"),
    "arch/loongarch/kernel/Makefile.syscalls": "syscall_abis_64 +=\n",
    "arch/csky/kernel/Makefile.syscalls": "syscall_abis_32 += csky time32 stat64 rlimit\n",
    "arch/s390/kernel/syscalls/syscall.tbl": (
        "76   32\t\tgetrlimit\t-\t\tcompat_sys_old_getrlimit\n"
        "191  64\t\tgetrlimit\tsys_getrlimit\t-\n"
        "288  common\topenat\t\tsys_openat\tcompat_sys_openat\n"),
    "arch/powerpc/kernel/syscalls/syscall.tbl": (
        "11\tnospu\texecve\tsys_execve\n13\tspu\ttime\tsys_time\n"
        "197\t32\tfstat64\tsys_fstat64\n291\t64\tnewfstatat\tsys_newfstatat\n"),
    "arch/mips/kernel/syscalls/syscall_o32.tbl": "3\to32\tread\tsys_read\n",
    "arch/mips/kernel/syscalls/syscall_n64.tbl": "0\tn64\tread\tsys_read\n450\tcommon\tx\tsys_x\n",
    "arch/mips/kernel/syscalls/syscall_n32.tbl": "0\tn32\tread\tsys_read\n",
    "arch/parisc/kernel/syscalls/syscall.tbl": "1\tcommon\texit\tsys_exit\n2\t32\tlo\tsys_lo\n3\t64\thi\tsys_hi\n",
    "arch/m68k/kernel/syscalls/syscall.tbl": "288\tcommon\topenat\tsys_openat\n",
    "arch/sh/kernel/syscalls/syscall.tbl": "295\tcommon\topenat\tsys_openat\n",
    "arch/xtensa/kernel/syscalls/syscall.tbl": "0\tcommon\tspill\tsys_ni_syscall\n",
}

EXPECTED = {
    "_x86_64": {"read": 0, "execve": 59, "uselib": 134},
    "_x32": {"read": 0x40000000, "rt_sigaction": 0x40000200, "execve": 0x40000208},
    "_i386": {"break": 17, "getpid": 20},
    "_aarch64": {"openat": 56},
    "_arm": {"read": 3, "openat": 322, "made_up": 400, "breakpoint": 0xF0001, "set_tls": 0xF0005},
    "_riscv64": {"fcntl": 25, "clock_gettime": 113, "riscv_hwprobe": 258},
    "_riscv32": {"fcntl64": 25, "riscv_hwprobe": 258, "clock_gettime64": 403},
    "_s390x": {"getrlimit": 191, "openat": 288},
    "_s390": {"getrlimit": 76, "openat": 288},
    "_ppc64": {"execve": 11, "newfstatat": 291},
    "_ppc": {"execve": 11, "fstat64": 197},
    "_mips": {"read": 4003},
    "_mips64": {"read": 5000, "x": 5450},
    "_mips64n32": {"read": 6000},
    "_parisc": {"exit": 1, "lo": 2},
    "_parisc64": {"exit": 1, "hi": 3},
    "_loongarch64": {"fcntl": 25, "clock_gettime": 113},
    "_csky": {"fcntl64": 25, "clock_gettime": 113, "set_thread_area": 244, "clock_gettime64": 403},
    "_m68k": {"openat": 288},
    "_sh": {"openat": 295},
    "_xtensa": {"spill": 0},
}


def test_generator_selects_lines_as_the_kernel_header_rules_do(tmp_path):
    out = gen.generate(write_tree(tmp_path, FAKE_TREE))
    assert ({name: module_value(text, "SYSCALLS") for name, text in out.items()}
            == {f"{m}.py": d for m, d in EXPECTED.items()})


def test_generator_writes_the_header_and_hex_for_large_numbers(tmp_path):
    out = gen.generate(write_tree(tmp_path, FAKE_TREE))
    assert out["_x32.py"] == (
        "# Generated by tools/gen_syscalls.py from Linux v9.1-rc3; do not edit.\n"
        "# From arch/x86/entry/syscalls/syscall_64.tbl, abis common,x32,"
        " numbers + __X32_SYSCALL_BIT (0x40000000).\n"
        "SYSCALLS = {\n"
        '    "read": 0x40000000,\n'
        '    "rt_sigaction": 0x40000200,\n'
        '    "execve": 0x40000208,\n'
        "}\n")
    assert out["_arm.py"].splitlines()[1:3] == [
        "# From arch/arm/tools/syscall.tbl, abis common,eabi.",
        "# From arch/arm/include/uapi/asm/unistd.h, __ARM_NR_* (EABI: __NR_SYSCALL_BASE is 0).",
    ]
    assert out["_aarch64.py"].splitlines()[1] == (
        "# From arch/arm64/tools/syscall_64.tbl, abis common,64,renameat,rlimit,memfd_secret"
        " (arch/arm64/kernel/Makefile.syscalls).")
    assert out["_mips.py"].splitlines()[1:] == [
        "# From arch/mips/kernel/syscalls/syscall_o32.tbl, every line, numbers + __NR_Linux (4000).",
        "SYSCALLS = {", '    "read": 4003,', "}"]


def test_generator_main_writes_the_modules_and_takes_a_tag(tmp_path):
    src, out = write_tree(tmp_path / "linux", FAKE_TREE), tmp_path / "out"
    out.mkdir()
    assert gen.main([str(src), "--out", str(out), "--tag", "v1.2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{m}.py" for m in EXPECTED)
    assert (out / "_sh.py").read_text().startswith("# Generated by tools/gen_syscalls.py from Linux v1.2;")


@pytest.mark.parametrize("path, text, message", [
    pytest.param("arch/sh/kernel/syscalls/syscall.tbl", "1\tcommon\ta\n1\tcommon\tb\n", "clashes",
                 id="a number used twice"),
    pytest.param("arch/sh/kernel/syscalls/syscall.tbl", "1\tcommon\ta\n2\tcommon\ta\n", "clashes",
                 id="a name used twice"),
    pytest.param("arch/sh/kernel/syscalls/syscall.tbl", "1\tcommon\n", "syscall.tbl:1:",
                 id="a line without a name"),
    pytest.param("arch/arm/include/uapi/asm/unistd.h", "\n", "__ARM_NR_BASE",
                 id="arm header without __ARM_NR_BASE"),
])
def test_generator_refuses_tables_it_cannot_read_as_the_kernel_does(tmp_path, path, text, message):
    write_tree(tmp_path, {**FAKE_TREE, path: text})
    with pytest.raises(gen.TableError, match=message):
        gen.generate(tmp_path)

