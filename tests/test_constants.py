"""The uapi constants filters use (tools/gen_constants.py, abi.constant_numbers), checked against
the values a C compiler sees in the machine's kernel headers, and the generator on a fake tree."""

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bpfsim import Program, abi, csource
from trees import module_value, write_tree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import gen_constants  # noqa: E402

SAMPLE = ["O_WRONLY", "O_CREAT", "O_EXCL", "O_TRUNC", "O_APPEND", "O_NONBLOCK", "O_DIRECTORY", "O_NOFOLLOW",
          "O_LARGEFILE", "O_DIRECT", "O_CLOEXEC", "O_PATH", "O_TMPFILE", "AT_FDCWD", "AT_EMPTY_PATH",
          "F_SETFL", "F_DUPFD_CLOEXEC", "CLONE_NEWUSER", "CLONE_THREAD", "CLONE_NEWNS", "CLONE_VM",
          "PR_SET_NO_NEW_PRIVS", "PR_SET_SECCOMP", "PR_CAPBSET_DROP", "IPPROTO_TCP", "IPPROTO_UDP",
          "IPPROTO_ICMPV6", "MAP_SHARED", "MAP_PRIVATE", "MAP_FIXED", "MAP_ANONYMOUS", "MAP_NORESERVE",
          "MAP_GROWSDOWN", "MAP_STACK", "PROT_READ", "PROT_WRITE", "PROT_EXEC", "MADV_DONTNEED",
          "TIOCSTI", "TIOCGWINSZ", "TIOCSCTTY", "TIOCLINUX", "TIOCSETD", "FIONREAD", "FIOCLEX", "FIONBIO",
          "TCGETS", "TCSETS", "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "SOCK_STREAM",
          "SOCK_DGRAM", "SOCK_RAW", "SOCK_NONBLOCK", "SOCK_CLOEXEC"]
HEADERS = ["linux/fcntl.h", "linux/sched.h", "linux/prctl.h", "linux/in.h", "linux/in6.h", "linux/mman.h", "asm/ioctls.h",
           "asm/termbits.h", "sys/socket.h"]
COMPILERS = [("x86_64", "gcc"), ("aarch64", "aarch64-linux-gnu-gcc"), ("s390x", "s390x-linux-gnu-gcc")]


def compiled_values(compiler: str, names: list[str], tmp_path: Path, headers=HEADERS) -> dict[str, int]:
    """Each name's value as ``compiler`` sees it through the installed headers: a static array of
    the values, compiled to an object whose .data section is read back in the target's order."""
    source = tmp_path / "values.c"
    source.write_text("".join(f"#include <{h}>\n" for h in headers)
                      + "long long values[] = {\n" + "".join(f"  (long long)({n}),\n" for n in names) + "};\n")
    subprocess.run([compiler, "-c", "-o", tmp_path / "values.o", source], check=True, capture_output=True)
    with open(tmp_path / "values.o", "rb") as stream:
        elf = ELFFile(stream)
        data = elf.get_section_by_name(".data").data()
        order = "<" if elf.little_endian else ">"
    return dict(zip(names, struct.unpack(f"{order}{len(names)}q", data[:8 * len(names)])))


# The socket and ipc families: send/recv flags and socket options (glibc's <sys/socket.h>, which
# takes SO_* from <asm/socket.h>), socketcall(2)'s calls (<linux/net.h>), ipc(2)'s calls and flags;
# futex(2)'s operations; the IPPROTO_IP and IPPROTO_IPV6 levels' options.
FAMILIES = {
    "MSG_": ["MSG_OOB", "MSG_PEEK", "MSG_DONTWAIT", "MSG_NOSIGNAL", "MSG_WAITALL", "MSG_MORE", "MSG_CMSG_CLOEXEC",
             "MSG_ZEROCOPY", "MSG_FASTOPEN", "MSG_ERRQUEUE", "MSG_TRUNC"],
    "SO_": ["SO_REUSEADDR", "SO_REUSEPORT", "SO_PEERCRED", "SO_ATTACH_FILTER", "SO_LOCK_FILTER", "SO_RCVBUF",
            "SO_SNDBUF", "SO_BINDTODEVICE", "SO_PASSCRED", "SO_RCVLOWAT", "SO_TIMESTAMP_NEW", "SO_MARK"],
    "SOL_": ["SOL_SOCKET", "SOL_PACKET", "SOL_NETLINK", "SOL_ALG", "SOL_TLS", "SOL_RAW"],
    "SYS_": ["SYS_SOCKET", "SYS_CONNECT", "SYS_ACCEPT4", "SYS_SENDMMSG", "SYS_RECVMMSG", "SYS_SETSOCKOPT"],
    "ipc": ["SEMOP", "SEMTIMEDOP", "MSGSND", "MSGRCV", "SHMAT", "SHMCTL", "IPC_CREAT", "IPC_RMID", "IPC_64"],
    "FUTEX_": ["FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_PRIVATE_FLAG", "FUTEX_WAIT_PRIVATE", "FUTEX_WAKE_PRIVATE",
               "FUTEX_CLOCK_REALTIME", "FUTEX_WAIT_BITSET", "FUTEX_CMP_REQUEUE_PI", "FUTEX_CMD_MASK"],
    "IP_": ["IP_TOS", "IP_TTL", "IP_RECVERR", "IP_PKTINFO", "IP_MULTICAST_IF", "IP_TRANSPARENT", "IP_FREEBIND"],
    "IPV6_": ["IPV6_TCLASS", "IPV6_V6ONLY", "IPV6_RECVERR", "IPV6_UNICAST_HOPS", "IPV6_RECVPKTINFO"],
}
FAMILY_HEADERS = ["sys/socket.h", "linux/net.h", "linux/ipc.h", "linux/futex.h", "linux/in.h", "linux/in6.h"]
# Ioctl numbers whose size field is sizeof a struct the headers define.
STRUCT_SIZED = ["TCGETS", "TCGETS2", "TCSETS2", "TCSETSW2", "TIOCGWINSZ", "TIOCSWINSZ", "FIONREAD", "TIOCINQ",
                "TIOCGISO7816", "TIOCSISO7816", "TIOCGRS485", "FIOQSIZE"]
STRUCT_HEADERS = ["asm/termbits.h", "asm/ioctls.h", "linux/serial.h"]


@pytest.mark.parametrize("arch, compiler", [pytest.param(a, c, id=a) for a, c in COMPILERS])
def test_constants_are_the_values_the_c_compiler_sees(arch, compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed: no {arch} headers to compare with")
    expected = compiled_values(compiler, SAMPLE, tmp_path)
    table = abi.constant_numbers(arch)
    assert {name: table.get(name) for name in SAMPLE} == expected


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("arch, compiler", [pytest.param(a, c, id=a) for a, c in COMPILERS])
def test_each_socket_and_ipc_family_is_what_the_c_compiler_sees(arch, compiler, family, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed: no {arch} headers to compare with")
    names = FAMILIES[family]
    expected = compiled_values(compiler, names, tmp_path, FAMILY_HEADERS)
    table = abi.constant_numbers(arch)
    assert {name: table.get(name) for name in names} == expected


@pytest.mark.parametrize("arch, compiler", [pytest.param(a, c, id=a) for a, c in COMPILERS])
def test_ioctl_numbers_sized_by_a_struct_are_what_the_c_compiler_sees(arch, compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed: no {arch} headers to compare with")
    expected = compiled_values(compiler, STRUCT_SIZED, tmp_path, STRUCT_HEADERS)
    table = abi.constant_numbers(arch)
    assert {name: table.get(name) for name in STRUCT_SIZED} == expected


LAYOUTS = """
typedef unsigned char cc_t;
struct odd { char c; long long wide; short s; };
struct words { long l; void *p; int i; };
struct nested { cc_t tag[3]; union { unsigned int word; struct { cc_t lo, hi; }; }; struct odd inner[2]; };
#define SIZE_ODD sizeof(struct odd)
#define SIZE_WORDS sizeof(struct words)
#define SIZE_NESTED sizeof(struct nested)
#define SIZE_LONG sizeof(long)
"""
LAYOUT_COMPILERS = COMPILERS + [("i386", "gcc -m32")]


@pytest.mark.parametrize("arch, compiler", [pytest.param(a, c, id=a) for a, c in LAYOUT_COMPILERS])
def test_the_c_reader_lays_out_structs_as_the_compiler_does(arch, compiler, tmp_path):
    """i386 aligns long long to 4 bytes in a struct, the 64-bit arches to 8; long is the word."""
    command = compiler.split()
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    names = ["SIZE_ODD", "SIZE_WORDS", "SIZE_NESTED", "SIZE_LONG"]
    source = tmp_path / "layouts.c"
    source.write_text(LAYOUTS + "long long values[] = {" + ", ".join(names) + "};\n")
    subprocess.run([*command, "-c", "-o", tmp_path / "layouts.o", source], check=True, capture_output=True)
    with open(tmp_path / "layouts.o", "rb") as stream:
        elf = ELFFile(stream)
        data = elf.get_section_by_name(".data").data()
        order = "<" if elf.little_endian else ">"
    expected = dict(zip(names, struct.unpack(f"{order}{len(names)}q", data[:8 * len(names)])))
    reader = csource.HeaderReader(LAYOUTS, "layouts.c", arch)
    assert {name: reader.value(name) for name in names} == expected


def _powerpc_ior(group: str, number: int, size: int) -> int:
    """arch/powerpc/include/uapi/asm/ioctl.h: _IOC_READ is 2 in 3 direction bits at bit 29, the
    size 13 bits at bit 16."""
    return 2 << 29 | size << 16 | ord(group) << 8 | number


@pytest.mark.parametrize("name, expected", [
    pytest.param("TCGETS", _powerpc_ior("t", 19, 44),
                 id="_IOR('t', 19, struct termios): 4 tcflag_t, cc_t c_cc[19], c_line, 2 speed_t"),
    pytest.param("TIOCGWINSZ", _powerpc_ior("t", 104, 8), id="_IOR('t', 104, struct winsize): 4 unsigned short"),
    pytest.param("FIONREAD", _powerpc_ior("f", 127, 4), id="_IOR('f', 127, int)"),
    pytest.param("TIOCINQ", _powerpc_ior("f", 127, 4), id="TIOCINQ is FIONREAD"),
    pytest.param("FIOQSIZE", _powerpc_ior("f", 128, 8), id="_IOR('f', 128, loff_t)"),
    pytest.param("TIOCGETP", _powerpc_ior("t", 8, 6), id="_IOR('t', 8, struct sgttyb): 4 char, short"),
])
def test_powerpc_ioctl_numbers_are_sized_by_its_own_structs(name, expected):
    """arch/powerpc/include/uapi/asm/ioctls.h, termbits.h and termios.h (v6.18.2); the same on
    ppc, ppc64 and ppc64le, whose structs have no member wider than 4 bytes."""
    assert {abi.constant_numbers(a)[name] for a in ("ppc", "ppc64", "ppc64le")} == {expected}


def test_o_creat_is_numbered_by_the_arch():
    """arch/mips/include/uapi/asm/fcntl.h: O_CREAT 0x0100; asm-generic/fcntl.h: 00000100 (0x40);
    arch/sparc/include/uapi/asm/fcntl.h: 0x200; SOCK_STREAM is 2 on mips (arch/mips/include/asm/socket.h)."""
    assert [abi.constant_numbers(a)["O_CREAT"] for a in ("x86_64", "mips", "sparc64")] == [0x40, 0x100, 0x200]
    assert abi.constant_numbers("mipsel")["SOCK_STREAM"] == 2


def test_a_c_filter_using_constants_parses_to_the_bytes_gcc_compiles(tmp_path):
    """A filter in the style of real sandboxes (refuse write opens and new user namespaces)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    source = tmp_path / "filter.c"
    source.write_text("""#include <stddef.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 2),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_WRONLY | O_RDWR | O_CREAT | O_TRUNC, 4, 5),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 0, 2),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER | CLONE_NEWNET, 1, 2),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
""")
    subprocess.run(["gcc", "-D_GNU_SOURCE", "-c", "-o", tmp_path / "filter.o", source], check=True, capture_output=True)
    assert Program.from_c(source.read_text(), arch="x86_64") == Program.from_elf(str(tmp_path / "filter.o"), "filter")


FAKE_TREE = {
    "Makefile": "VERSION = 6\nPATCHLEVEL = 18\nSUBLEVEL = 0\nEXTRAVERSION =\n",
    "include/uapi/linux/sched.h": "#define CLONE_NEWUSER 0x10000000\n",
    "include/uapi/linux/prctl.h": "#define PR_SET_NO_NEW_PRIVS 38\n",
    "include/uapi/linux/fcntl.h": "#include <asm/fcntl.h>\n#define AT_FDCWD -100\n",
    "include/uapi/asm-generic/fcntl.h": "#ifndef O_CREAT\n#define O_CREAT 00000100\n#endif\n#define O_WRONLY 1\n",
    "arch/mips/include/uapi/asm/fcntl.h": "#define O_CREAT 0x0100\n#include <asm-generic/fcntl.h>\n",
    "include/uapi/linux/mman.h": "#include <asm/mman.h>\n#define MAP_SHARED 0x01\n",
    "include/uapi/asm-generic/mman.h": "#define PROT_EXEC 0x4\n#define MAP_ANONYMOUS 0x20\n",
    "include/uapi/linux/in6.h": "#define IPPROTO_ICMPV6 58\n",
    "include/uapi/asm-generic/ioctls.h": "#include <linux/ioctl.h>\n#define TIOCSTI 0x5412\n"
                                         "#define TCGETS2 _IOR('T', 0x2A, struct termios2)\n"
                                         "#define TIOCGPTN _IOR('T', 0x30, unsigned int)\n",
    "include/uapi/asm-generic/termbits.h": "typedef unsigned int tcflag_t;\ntypedef unsigned char cc_t;\n"
                                           "struct termios2 {\n  tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;\n"
                                           "  cc_t c_line;\n  cc_t c_cc[19];\n  unsigned int c_ispeed, c_ospeed;\n};\n",
    "include/uapi/asm-generic/termios.h": "#include <asm/termbits.h>\n",
    "include/uapi/linux/serial.h": "#define TIOCGNOSUCH _IOR('T', 0x7f, struct not_in_the_headers)\n",
    "include/uapi/linux/ioctl.h": "#define _IOR(t, n, s) ((2U << 30) | ((t) << 8) | (n) | (sizeof(s) << 16))\n",
    "include/uapi/linux/in.h": "enum {\n  IPPROTO_IP = 0,\n#define IPPROTO_IP IPPROTO_IP\n  IPPROTO_ICMP = 1,\n"
                               "  IPPROTO_IGMP,\n};\n",
    "include/linux/net.h": "#include <linux/kernel_only.h>\n#ifndef ARCH_HAS_SOCKET_TYPES\n"
                           "enum sock_type { SOCK_STREAM = 1, SOCK_DGRAM = 2, };\n#endif\n"
                           "#define SOCK_CLOEXEC O_CLOEXEC\n",
    "include/linux/socket.h": "#define AF_INET 2\n#define PF_INET AF_INET\n#define MSG_PEEK 2\n",
    "include/uapi/linux/net.h": "#include <asm/socket.h>\n#define SYS_CONNECT 3\n",
    "include/uapi/asm-generic/socket.h": "#define SOL_SOCKET 1\n#define SO_REUSEADDR 2\n",
    "arch/mips/include/uapi/asm/socket.h": "#define SOL_SOCKET 0xffff\n#define SO_REUSEADDR 0x0004\n",
    "include/uapi/linux/ipc.h": "#define IPC_RMID 0\n#define SEMOP 1\n#define SHMAT 21\n",
    "include/uapi/linux/futex.h": "#define FUTEX_WAIT 0\n#define FUTEX_PRIVATE_FLAG 128\n"
                                  "#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)\n",
    "arch/mips/include/asm/socket.h": "enum sock_type { SOCK_DGRAM = 1, SOCK_STREAM = 2, };\n"
                                      "#define ARCH_HAS_SOCKET_TYPES 1\n",
}


def test_the_generator_reads_headers_as_the_compiler_does(tmp_path):
    """Arch headers win over asm-generic's #ifndef defaults, enums count on, aliases resolve, an
    ioctl is sized by the struct the headers define (TCGETS2: 4 + 4 + 4 + 4 + 1 + 19 + 4 + 4 = 44
    bytes), a name that needs an unknown struct's size is left out and listed, arches that agree
    share a group."""
    text = gen_constants.generate(write_tree(tmp_path, FAKE_TREE))
    common, groups = module_value(text, "COMMON"), module_value(text, "GROUPS")
    assert common == {"AF_INET": 2, "AT_FDCWD": -100, "CLONE_NEWUSER": 0x10000000, "IPPROTO_ICMP": 1,
                      "IPPROTO_ICMPV6": 58, "IPPROTO_IGMP": 2, "IPPROTO_IP": 0, "MAP_ANONYMOUS": 0x20, "MAP_SHARED": 1, "O_CREAT": 0x40, "O_WRONLY": 1,
                      "PF_INET": 2, "PROT_EXEC": 4, "PR_SET_NO_NEW_PRIVS": 38, "SOCK_DGRAM": 2,
                      "SOCK_STREAM": 1, "TIOCSTI": 0x5412, "TIOCGPTN": 0x80045430, "TCGETS2": 0x802c542a, "MSG_PEEK": 2,
                      "SYS_CONNECT": 3, "SOL_SOCKET": 1, "SO_REUSEADDR": 2, "IPC_RMID": 0, "SEMOP": 1, "SHMAT": 21,
                      "FUTEX_WAIT": 0, "FUTEX_PRIVATE_FLAG": 128, "FUTEX_WAIT_PRIVATE": 128}
    mips = [names for arches, names in groups.items() if "mips" in arches]
    assert mips == [{"O_CREAT": 0x100, "SOCK_DGRAM": 1, "SOCK_STREAM": 2, "SOL_SOCKET": 0xffff, "SO_REUSEADDR": 4}]
    assert "Linux v6.18" in text and "TIOCGNOSUCH" in text.split("COMMON")[0] and "SOCK_CLOEXEC" not in common


def test_every_arch_bpfsim_knows_has_its_constants():
    from bpfsim._constants import GROUPS
    arches = {arch for group in GROUPS for arch in group}
    assert arches == set(gen_constants.KERNEL_ARCH) and {a.name for a in abi.ARCHES} <= arches


def test_the_committed_module_is_what_the_generator_makes_of_a_real_tree():
    """Only a kernel tree can check bpfsim/_constants.py: it was written by the tool, not edited."""
    src = os.environ.get("BPFSIM_LINUX_SRC")
    if not src:
        pytest.skip("set BPFSIM_LINUX_SRC to a Linux v6.18.2 tree to regenerate the constants")
    committed = Path(__file__).resolve().parent.parent / "bpfsim" / "_constants.py"
    assert gen_constants.generate(Path(src)) == committed.read_text()


@pytest.mark.parametrize("arch, expected", [
    pytest.param("x86_64", 0x41, id="asm-generic/fcntl.h"),
    pytest.param("mipsel", 0x101, id="arch/mips/include/uapi/asm/fcntl.h"),
])
def test_the_c_reader_numbers_constants_for_the_arch_it_reads_for(arch, expected):
    prog = Program.from_c("BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_WRONLY | O_CREAT, 0, 1),", arch=arch)
    assert prog[0].k == expected
