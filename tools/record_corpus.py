"""Record what the machine's kernel decides for every corpus filter stack: ``corpus/*/cases.json.gz``.

Run as root on Linux x86_64 (``make corpus-record``, or ``python tools/record_corpus.py NAME...``).
Inputs per stack: every x86_64 number to past the end of its table (but uretprobe and uprobe,
which newer kernels let past the filters, so they would really run here), every x32 number (the x32
bit over 0 to past 547), every i386 number (made with ``int $0x80``) and a few numbers no table
has, each with zero arguments and with two whole-argument patterns; then, for each argument word a
filter compares with a constant k on the way to its verdict, the same call with that word set to
k-1, k and k+1 (followed up to eight levels, so checks behind checks are reached).
bpfsim only *chooses* the inputs; every expected verdict is what ``bpfsim.kernel`` observed, with
its guard around the calls that must not run. The file says which kernel gave them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bpfsim import Program, SeccompData, trace  # noqa: E402
from bpfsim import abi, kernel  # noqa: E402
from bpfsim import opcodes as op  # noqa: E402
from bpfsim.profiles import MAYBE_UNFILTERED  # noqa: E402
from bpfsim.syscalls import syscall_table  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
X32 = 0x40000000
ODD_NUMBERS = (1024, 0x3FFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)  # no syscall has these
# Whole-argument patterns tried for every number: all bits set, and high words set over small
# low words (a filter that checks only low words, or forgets int $0x80's 64-bit registers, shows).
PATTERNS = ((0xFFFFFFFFFFFFFFFF,) * 6, tuple((i + 1) << 32 | i for i in range(6)))
MAX_DEPTH = 8  # levels of argument checks followed behind one another
MAX_VARIANTS = 512  # argument variants per (arch, nr)


def stack_files(case_dir: Path) -> list[Path]:
    """The stack's filter files in install order (``filter.bpf`` or ``filter-0.bpf``, …)."""
    single = case_dir / "filter.bpf"
    if single.exists():
        return [single]
    return sorted(case_dir.glob("filter-*.bpf"), key=lambda p: int(p.stem.split("-")[1]))


def base_calls(arch: str = "x86_64") -> list[tuple[str, int]]:
    """(arch, nr) for every number of the x86_64, x32 and i386 tables and just past them (for
    another ``arch``: of its own table; s390x calls carry 16-bit numbers)."""
    if arch != "x86_64":
        odd = (1024, 0xFFFF) if arch == "s390x" else ODD_NUMBERS
        return [(arch, nr) for nr in range(max(syscall_table(arch)) + 8)] + [(arch, nr) for nr in odd]
    top64 = max(syscall_table("x86_64")) + 8
    topx32 = (max(syscall_table("x32")) & ~X32) + 8
    top32 = max(syscall_table("i386")) + 8
    calls = [("x86_64", nr) for nr in range(top64)]
    calls += [("x86_64", X32 | nr) for nr in range(topx32)]
    calls += [("i386", nr) for nr in range(top32)]
    calls += [(arch, nr) for arch in ("x86_64", "i386") for nr in ODD_NUMBERS]
    return calls


def compared_words(prog: Program, data: SeccompData) -> list[tuple[int, int, int]]:
    """(offset, op, k) for each constant an executed jump compares a seccomp_data word with.

    The word's origin is followed through ALU ops, TAX/TXA and the scratch memory, so a masked or
    stored argument still counts as that argument.
    """
    a = x = None
    mem: dict[int, int | None] = {}
    found = []
    for step in trace(prog, data):
        insn = step.insn
        if insn.cls in (op.BPF_LD, op.BPF_LDX):
            origin = insn.k if insn.mode == op.BPF_ABS else mem.get(insn.k) if insn.mode == op.BPF_MEM else None
            if insn.cls == op.BPF_LD:
                a = origin
            else:
                x = origin
        elif insn.cls in (op.BPF_ST, op.BPF_STX):
            mem[insn.k] = a if insn.cls == op.BPF_ST else x
        elif insn.cls == op.BPF_MISC:
            a, x = (a, a) if op.BPF_MISCOP(insn.code) == op.BPF_TAX else (x, x)
        elif (insn.cls == op.BPF_JMP and insn.operation != op.BPF_JA and insn.source == op.BPF_K
              and a is not None):
            found.append((a, insn.operation, insn.k))
    return found


def neighbours(operation: int, k: int) -> tuple[int, ...]:
    """Values of a compared word on both sides of the constant."""
    if operation == op.BPF_JSET:
        return (k, 0, 0xFFFFFFFF, k & (k - 1))
    return ((k - 1) & 0xFFFFFFFF, k, (k + 1) & 0xFFFFFFFF)


def with_word(args: tuple[int, ...], offset: int, value: int, big_endian: bool = False) -> tuple[int, ...] | None:
    """``args`` with the 32-bit word at ``offset`` of struct seccomp_data replaced (on a
    big-endian arch the first word of each u64 argument is its high half)."""
    if not 16 <= offset < 64:
        return None  # nr, arch and instruction_pointer are the kernel's, not ours to choose
    index, high = (offset - 16) // 8, ((offset - 16) % 8 == 4) != big_endian
    old = args[index]
    new = (old & 0xFFFFFFFF) | (value << 32) if high else (old & ~0xFFFFFFFF) | value
    return args[:index] + (new,) + args[index + 1:]


def runs_past_the_filters(arch: str, nr: int) -> bool:
    """Issue 16 item 4: x86_64's uretprobe (335) and uprobe (336) skip the filters on kernels with
    seccomp_uprobe_exception, so on this machine they would really run whatever the stack says.
    Kept out of the host's recordings; a lab guest (a throwaway machine) records them."""
    return arch == "x86_64" and nr in MAYBE_UNFILTERED


def inputs(programs: list[Program], ips: dict[str, int], native: str = "x86_64", *,
           on_host: bool = True) -> list[tuple[str, int, tuple[int, ...]]]:
    """Every call to record for this stack: the base grid and the argument neighbourhoods."""
    out = []
    for arch, nr in base_calls(native):
        if on_host and runs_past_the_filters(arch, nr):
            continue
        seen = {(0,) * 6, *PATTERNS}
        frontier = [(0,) * 6]
        for _ in range(MAX_DEPTH):
            grown = []
            for args in frontier:
                data = SeccompData(nr if nr < 1 << 31 else nr - (1 << 32), arch, ips[arch], args)
                for prog in programs:
                    for offset, operation, k in compared_words(prog, data):
                        for value in neighbours(operation, k):
                            new = with_word(args, offset, value, abi.arch_info(arch).byteorder == "big")
                            if new is not None and new not in seen and len(seen) < MAX_VARIANTS:
                                seen.add(new)
                                grown.append(new)
            frontier = grown
        out.extend((arch, nr, args) for args in sorted(seen))
    return out


def expectation(outcome: kernel.Observation) -> str:
    """The kernel's observation as text: the verdicts it admits, ``|``-separated."""
    if outcome.action == "NOT_FILTERED" and len(outcome.candidates) == 1:
        return "NOT_FILTERED"
    if not outcome.candidates:
        raise RuntimeError(f"the kernel showed nothing a verdict can match for {outcome.call}: {outcome}")
    return "|".join(name if data is None else f"{name}({data})" for name, data in outcome.candidates)


def check_siginfo(outcome: kernel.Observation, arch: str, nr: int, ip: int) -> None:
    """A TRAP's siginfo must describe the call itself; anything else is a finding to report."""
    info = outcome.siginfo
    want_arch = abi.arch_info(arch).value
    if outcome.action == "TRAP" and (info.si_syscall & 0xFFFFFFFF != nr or info.si_arch != want_arch
                                     or info.si_call_addr != ip):
        raise RuntimeError(f"unexpected TRAP siginfo for {arch} {nr:#x}: {info}")


def copies_accepted(blob: bytes, oracle: kernel.Oracle) -> list[int]:
    """[n, errno]: the kernel attached n copies of this filter to one thread and refused the next
    with errno (the per-thread instruction budget of seccomp_attach_filter)."""
    bound = (1 << 15) // (len(blob) // 8 + 4) + 2
    refused = oracle.install_error([blob] * bound)
    if refused is None:
        raise RuntimeError(f"the kernel accepted {bound} copies of a {len(blob) // 8}-instruction filter")
    return list(refused)


def record(case_dir: Path, oracle: kernel.Oracle) -> int:
    files = stack_files(case_dir)
    programs = [Program.from_bytes(p.read_bytes(), name=str(p)) for p in files]
    ips = {arch: oracle.instruction_pointer(arch) for arch in ("x86_64", "i386")}
    calls = inputs(programs, ips)
    blobs = [p.read_bytes() for p in files]
    chunk = 16384
    items = [(blobs, [SeccompData(nr, arch, args=args) for arch, nr, args in calls[i:i + chunk]])
             for i in range(0, len(calls), chunk)]
    results = oracle.run_batch(items)
    lines = []
    for (_, batch), outcomes in zip(items, results):
        if isinstance(outcomes, BaseException):
            raise outcomes
        for call, outcome in zip(batch, outcomes):
            nr, arch = call.nr & 0xFFFFFFFF, abi.arch_name(call.arch)
            check_siginfo(outcome, arch, nr, ips[arch])
            args = list(call.args)
            while args and not args[-1]:
                args.pop()
            lines.append(json.dumps([arch, nr, args, expectation(outcome)]))
    head = {
        "kernel": f"Linux {platform.release()} {platform.version()} {platform.machine()}",
        "recorded_by": "tools/record_corpus.py through bpfsim.kernel (guard filter around unsafe calls)",
        "filters": [p.name for p in files],
        "instruction_pointer": ips,
        "threads": 2,
        "copies_accepted": {p.name: copies_accepted(b, oracle) for p, b in zip(files, blobs)},
        "case": "[arch, nr as u32, args (trailing zeros dropped), verdicts the kernel admits]",
    }
    text = json.dumps(head, indent=1)[:-2] + ',\n "cases": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    with open(case_dir / "cases.json.gz", "wb") as raw:  # mtime 0: the same verdicts give the same bytes
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            out.write(text.encode())
    source = case_dir / "SOURCE"
    kept = [line for line in source.read_text().splitlines() if not line.startswith("recorded:")]
    kept.append(f"recorded: {len(lines)} kernel verdicts in cases.json.gz, {head['kernel']}")
    source.write_text("\n".join(kept) + "\n")
    return len(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="corpus directories (default: every <origin>-<name>)")
    opts = parser.parse_args(argv)
    reason = kernel.seccomp_unavailable_reason()
    if reason:
        print(f"record_corpus: cannot ask the kernel: {reason}", file=sys.stderr)
        return 2
    dirs = ([CORPUS / n for n in opts.names] if opts.names else
            sorted(d for d in CORPUS.iterdir() if d.is_dir() and "-" in d.name and stack_files(d)))
    total = 0
    with kernel.Oracle(workers=min(2, os.cpu_count() or 1)) as oracle:
        for case_dir in dirs:
            n = record(case_dir, oracle)
            total += n
            print(f"{case_dir.name}: {n} cases", flush=True)
    print(f"recorded {total} kernel verdicts in {len(dirs)} directories")
    return 0


if __name__ == "__main__":
    sys.exit(main())
