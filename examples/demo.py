"""`make demo`: load a filter from corpus/, evaluate a handful of system calls, and replay the
example of the seccomp(2) manual page. Every verdict printed is what Linux 6.18 would do."""

import errno
from pathlib import Path

import bpfsim
from bpfsim import SeccompData

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

O_RDONLY, O_WRONLY, PROT_READ, PROT_EXEC, AF_UNIX, AF_INET, TCGETS = 0, 1, 1, 4, 1, 2, 0x5401

CALLS = [
    ("read(0, buf, 64)", SeccompData(0, args=(0, 0x7FFD0000, 64))),
    ("openat(AT_FDCWD, path, O_RDONLY)", SeccompData(257, args=(-100, 0x4000, O_RDONLY))),
    ("openat(AT_FDCWD, path, O_WRONLY)", SeccompData(257, args=(-100, 0x4000, O_WRONLY))),
    ("mmap(.., PROT_READ|PROT_EXEC, ..)", SeccompData(9, args=(0, 4096, PROT_READ | PROT_EXEC))),
    ("socket(AF_UNIX, SOCK_STREAM, 0)", SeccompData(41, args=(AF_UNIX, 1, 0))),
    ("socket(AF_INET, SOCK_STREAM, 0)", SeccompData(41, args=(AF_INET, 1, 0))),
    ("ioctl(1, TCGETS, ..)", SeccompData(16, args=(1, TCGETS))),
    ("execve(\"/bin/sh\", ..)", SeccompData(59)),
    ("getpid() from i386 code", SeccompData(20, "i386")),
    ("x32 read()", SeccompData(0, "x32")),
    ("mkdir(path, 0755)", SeccompData(83, args=(0x4000, 0o755))),
]


def man_page_filter(syscall_nr: int, errno_value: int) -> bpfsim.Program:
    """seccomp(2)'s example: kill on a foreign arch or an x32 call, fail one call, allow the rest."""
    return bpfsim.Program.from_asm(f"""
        arch x86_64
        ld [arch]
        jeq #AUDIT_ARCH_X86_64, native, kill
    native:
        ld [nr]
        jge #0x40000000, kill, check
    check:
        jeq #{syscall_nr}, refuse, allow
    refuse:
        ret ERRNO({errno_value})
    allow:
        ret ALLOW
    kill:
        ret KILL_PROCESS
    """, name=f"man-page filter for {syscall_nr}")


def main() -> None:
    path = CORPUS / "bpfsim-demo-sandbox" / "filter.bpf"
    sandbox = bpfsim.Program.load(path)
    print(f"Loaded {path.relative_to(CORPUS.parent)}: {len(sandbox)} instructions")
    print(sandbox.listing(arch="x86_64"))
    print()
    chain = bpfsim.FilterChain([sandbox])
    width = max(len(label) for label, _ in CALLS)
    for label, data in CALLS:
        verdict = chain.evaluate(data)
        print(f"  {label:<{width}}  {str(verdict):<48}  {verdict.outcome}")
    print()
    print("seccomp(2) manual page example, errno 99 (EADDRNOTAVAIL) for the chosen call:")
    for blocked, name in ((59, "execve"), (1, "write"), (295, "preadv")):
        filters = [man_page_filter(blocked, errno.EADDRNOTAVAIL)]
        results = []
        for nr, call in ((59, "execve"), (1, "write"), (295, "preadv")):
            verdict = bpfsim.evaluate(filters, SeccompData(nr))
            results.append(f"{call}: {verdict.outcome}")
        print(f"  ./a.out {blocked} 99 /bin/whoami  (blocks {name})")
        for line in results:
            print(f"      {line}")


if __name__ == "__main__":
    main()
