"""Record what a lab kernel decides: ``corpus/lab/<kernel>.json.xz`` (``make corpus-record KERNEL=...``).

The kernel is a qemu guest (``make lab``, bpfsim.guest) asked through ``bpfsim.kernel.Oracle``.
What is recorded, for the guest's arch:

- the corpus's real filters of that arch (KERNEL_CORPUS), each with every syscall number of the
  arch and the argument vectors aimed at its constants (tools/record_corpus.py ``inputs``);
- random stacks (bpfsim.strategies, derandomized: the same stacks on every kernel) with every
  action, unknown return values, ``RET A``, tracer and listener variants, and calls aimed at
  their constants; the first few also with every syscall number of the arch;
- byte-order probes: filters whose errno is the word a load read, for every word of seccomp_data,
  and small argument checks called with the witnesses of bpfsim's policy table and lint
  (tests/test_lab_byte_order.py);
- each program of those stacks and generated invalid programs alone (seccomp(2)'s errno);
- filter flags, alone and combined, and the per-thread instruction budget;
- facts, in corpus/lab/facts.json: the user-notification ioctls the kernel knows, whether a
  KILL_PROCESS in a clone(CLONE_VM) child takes its parent along, stacks judging the program
  execve() starts, and which calls strict mode lets run (read, write, exit, the sigreturns and
  a few others per arch).

``--add-missing`` records only the corpus filters and probes a kernel's recording lacks (say, a
newly compiled filter of its arch) and keeps the rest; ``--facts`` asks only the facts. bpfsim
only chooses inputs; every expected verdict is the guest kernel's. tests/test_lab_corpus.py
replays all of it against bpfsim with the kernel's version and arch.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
import lzma
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

import record_corpus as grid  # noqa: E402
from bpfsim import Program, SeccompData, abi, distros, guest, kernel, lint  # noqa: E402
from bpfsim import strategies as gen  # noqa: E402
from bpfsim.analysis import policy_row  # noqa: E402
from bpfsim.syscalls import syscall_number, syscall_table  # noqa: E402

LAB_CORPUS = grid.CORPUS / "lab"
KERNEL_CORPUS = {  # corpus directories holding real filters of each arch
    "x86_64": ("moby-default-x86_64", "firejail-default", "systemd-system-service"),
    "aarch64": ("moby-default-aarch64", "moby-default-aarch64-bintree", "containers-common-aarch64",
                "containers-common-aarch64-bintree", "systemd-system-service-aarch64",
                "systemd-deny-privileged-resources-aarch64"),
    "s390x": ("moby-default-s390x", "moby-default-s390x-bintree", "containers-common-s390x",
              "containers-common-s390x-bintree", "systemd-system-service-s390x",
              "systemd-deny-privileged-resources-s390x"),
}
RANDOM_STACKS = {"x86_64": 120, "aarch64": 300, "s390x": 320}  # about 20,000 verdicts in all per kernel
CALLS_PER_STACK = 64
SWEPT_STACKS = 6  # random stacks that also get every syscall number of the arch
INVALID_PROGRAMS = 160
FLAGS = (  # include/uapi/linux/seccomp.h; TSYNC would also filter the oracle's own main thread
    0, abi.SECCOMP_FILTER_FLAG_LOG, abi.SECCOMP_FILTER_FLAG_SPEC_ALLOW, abi.SECCOMP_FILTER_FLAG_NEW_LISTENER,
    abi.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    abi.SECCOMP_FILTER_FLAG_NEW_LISTENER | abi.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    abi.SECCOMP_FILTER_FLAG_LOG | abi.SECCOMP_FILTER_FLAG_SPEC_ALLOW, 1 << 6, 1 << 7, 1 << 31,
)
ALLOW = bytes.fromhex("060000000000ff7f")
# Byte-order probes (#12 item 4), made with the arch's getpid: what the kernel's loads read.
WORDS_PROBE, DECISIONS_PROBE = "byte-order-words", "byte-order-decisions"
PROBE_ARGS = (
    (0x0000000A00000014,),  # the issue's: on s390x ld [16] reads 10 and ld [20] 20, elsewhere the reverse
    tuple(int.from_bytes(bytes(range(16 * i + 1, 16 * i + 9)), "big") for i in range(6)),  # no two words alike
)
WORD_SLICES = (0, 12, 24)  # ERRNO carries 12 bits of the word below MAX_ERRNO: three slices make all 32
DECISIONS = (  # each loads argument words alone; {nr} is getpid
    "ld [0]\njeq #{nr}, 0, allow\nld [16]\njeq #0xa, deny, allow\ndeny: ret #0x50005\nallow: ret #0x7fff0000",
    "ld [0]\njeq #{nr}, 0, allow\nld [20]\njset #0x10, deny, allow\ndeny: ret #0x50006\nallow: ret #0x7fff0000",
    "ld [0]\njeq #{nr}, 0, allow\nld [24]\njgt #0x7, deny, allow\ndeny: ret #0x50007\nallow: ret #0x7fff0000",
    "ld [0]\njeq #{nr}, 0, allow\nld [32]\njeq #0x1, 0, allow\nld [36]\njeq #0x2, deny, allow\n"
    "deny: ret #0x50008\nallow: ret #0x7fff0000",
)


def derandomized(strategy, count: int) -> list:
    """``count`` examples of a hypothesis strategy, the same ones on every run."""
    found = []

    @settings(max_examples=count, database=None, derandomize=True, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(strategy)
    def collect(example):
        if len(found) < count:
            found.append(example)

    collect()
    return found


class Recording:
    """The recording being built: programs by index, stacks with their cases, installs."""

    def __init__(self, lab: distros.DistroKernel, oracle: kernel.Oracle, earlier: dict | None = None):
        """``earlier``: a recording of the same kernel to add stacks to."""
        self.lab, self.oracle = lab, oracle
        self.filters: list[str] = list(earlier["filters"]) if earlier else []
        self.index: dict[str, int] = {key: i for i, key in enumerate(self.filters)}
        self.stacks: list[dict] = list(earlier["stacks"]) if earlier else []
        self.ips = {arch: oracle.instruction_pointer(arch) for arch in self.arches}
        self.verdicts = earlier["verdicts"] if earlier else 0
        self.recording_ips = earlier["instruction_pointer"] if earlier else self.ips

    @property
    def arches(self) -> tuple[str, ...]:
        return ("x86_64", "i386") if self.lab.arch == "x86_64" else (self.lab.arch,)

    def ref(self, blob: bytes) -> int:
        key = blob.hex()
        if key not in self.index:
            self.index[key] = len(self.filters)
            self.filters.append(key)
        return self.index[key]

    def record_stack(self, origin: str, blobs: list[bytes], calls: list[tuple[str, int, tuple]], *,
                     tracer: bool = False, listener: int | None = None) -> None:
        chunk = 16384
        items = [(blobs, [SeccompData(nr, arch, args=args) for arch, nr, args in calls[i:i + chunk]])
                 for i in range(0, len(calls), chunk)]
        cases = []
        for (_, batch), outcomes in zip(items, self.oracle.run_batch(items, tracer=tracer, listener=listener)):
            if isinstance(outcomes, BaseException):
                raise outcomes
            for call, outcome in zip(batch, outcomes):
                nr, arch = call.nr & 0xFFFFFFFF, abi.arch_name(call.arch)
                grid.check_siginfo(outcome, arch, nr, self.ips[arch])
                args = list(call.args)
                while args and not args[-1]:
                    args.pop()
                cases.append([arch, nr, args, grid.expectation(outcome)])
        stack = {"origin": origin, "filters": [self.ref(b) for b in blobs], "tracer": tracer,
                 "listener": listener, "cases": cases}
        if self.ips != self.recording_ips:  # a helper rebuilt since the recording calls from elsewhere
            stack["instruction_pointer"] = self.ips
        self.stacks.append(stack)
        self.verdicts += len(cases)


def random_calls(rng: random.Random, programs: list[Program], arches, ips, count: int) -> list[tuple]:
    near = gen.constants(programs)
    out = []
    for _ in range(count):
        arch = rng.choice(arches)
        data = gen.random_seccomp_data(rng, near, arch, instruction_pointer=ips[arch])
        nr = data.nr & 0xFFFF if arch == "s390x" else data.nr  # svc passes 16 bits
        out.append((arch, nr, data.args))
    return out


def record_corpus(rec: Recording, directories, progress) -> None:
    """The real filters of these corpus directories with every number of the arch and the
    argument values around their constants; their stacks go first, in KERNEL_CORPUS order."""
    for directory in directories:
        files = grid.stack_files(grid.CORPUS / directory)
        programs = [Program.from_bytes(p.read_bytes(), name=str(p)) for p in files]
        calls = grid.inputs(programs, rec.ips, rec.lab.arch, on_host=False)
        rec.record_stack(directory, [p.read_bytes() for p in files], calls)
        note_in_source(grid.CORPUS / directory, rec.lab, len(calls))
        progress(f"{rec.lab.name}: corpus {directory}: {len(calls)} verdicts")
    order = {origin: i for i, origin in enumerate(KERNEL_CORPUS[rec.lab.arch])}
    rec.stacks.sort(key=lambda stack: order.get(stack["origin"], len(order)))  # stable: random ones keep theirs


def word_probe(offset: int, shift: int) -> Program:
    """A filter whose errno is 12 bits of the word ``ld [offset]`` read (ERRNO's data, under MAX_ERRNO)."""
    return Program.from_asm(f"ld [{offset}]\nrsh #{shift}\nand #0xfff\nor #{abi.SECCOMP_RET_ERRNO:#x}\nret a")


def record_probes(rec: Recording, progress) -> None:
    """Byte-order probes: every word of seccomp_data through ``word_probe``, and DECISIONS called
    with the witnesses bpfsim's policy table and lint give for them, and with each compared
    constant in either half of its argument; the kernel's answers are the expectations."""
    arch = rec.lab.arch
    nr = syscall_number("getpid", arch)
    for offset in range(0, abi.SECCOMP_DATA_SIZE, 4):
        for shift in WORD_SLICES:
            rec.record_stack(WORDS_PROBE, [word_probe(offset, shift).to_bytes()], [(arch, nr, a) for a in PROBE_ARGS])
    for text in DECISIONS:
        prog = Program.from_asm(text.format(nr=nr))
        witnesses = [p.witness for p in policy_row([prog], nr, arch, kernel=rec.lab.name).verdicts if p.witness]
        witnesses += [f.witness for f in lint([prog], arch, kernel=rec.lab.name)
                      if f.witness is not None and f.witness.arch == abi.arch_info(arch).value]
        args = {tuple(w.args) for w in witnesses} | set(PROBE_ARGS) | {(0,) * 6}
        for insn in prog:
            if insn.is_jump and insn.k != nr:
                for index in range(6):
                    args |= {(0,) * index + (value,) for value in (insn.k, insn.k << 32, insn.k << 32 | insn.k)}
        calls = [(arch, number, a) for number in (nr, nr + 1) for a in sorted(args)]
        rec.record_stack(DECISIONS_PROBE, [prog.to_bytes()], calls)
    progress(f"{rec.lab.name}: byte-order probes recorded")


def note_in_source(directory: Path, lab: distros.DistroKernel, count: int) -> None:
    """The directory's SOURCE names each lab recording of it (``lab:`` lines, one per kernel)."""
    source = directory / "SOURCE"
    where = f"corpus/lab/{lab.name}.json.xz"
    kept = [line for line in source.read_text().splitlines() if not (line.startswith("lab:") and where in line)]
    kept.append(f"lab: {count} kernel verdicts in {where} (Linux {lab.version} {lab.arch}, a qemu guest)")
    source.write_text("\n".join(kept) + "\n")


def add_missing(name: str, progress=print) -> Path:
    """Record only the corpus filters of the kernel's arch and the byte-order probes that its
    recording lacks, keeping the rest (whose random stacks cost a guest far more time)."""
    lab = guest.lab_kernel(name)
    started = time.monotonic()
    earlier = json.loads(lzma.decompress((LAB_CORPUS / f"{name}.json.xz").read_bytes()))
    with kernel.Oracle(kernel=name, timeout=120) as oracle:
        rec = Recording(lab, oracle, earlier)
        have = {stack["origin"] for stack in rec.stacks}
        record_corpus(rec, [d for d in KERNEL_CORPUS[lab.arch] if d not in have], progress)
        if WORDS_PROBE not in have:
            record_probes(rec, progress)
    return write(dict(earlier, filters=rec.filters, stacks=rec.stacks, verdicts=rec.verdicts), started, progress)


def record(name: str, progress=print) -> Path:
    lab = guest.lab_kernel(name)
    started = time.monotonic()
    with kernel.Oracle(kernel=name, timeout=120) as oracle:
        rec = Recording(lab, oracle)
        record_corpus(rec, KERNEL_CORPUS[lab.arch], progress)
        rng = random.Random(12)
        stacks = derandomized(gen.filter_stacks(1, 4), RANDOM_STACKS[lab.arch])
        for i, stack in enumerate(stacks):
            calls = random_calls(rng, stack, rec.arches, rec.ips, CALLS_PER_STACK)
            if i < SWEPT_STACKS:
                calls += [(arch, nr, ()) for arch, nr in grid.base_calls(lab.arch)]
            tracer, listener = bool(i & 1), (0 if i & 2 else None)
            try:
                rec.record_stack("random", [p.to_bytes() for p in stack], calls, tracer=tracer, listener=listener)
            except kernel.KernelInstallError as refused:
                raise RuntimeError(f"random stack {i} was refused: {refused}") from None
            if i % 40 == 39:
                progress(f"{name}: {i + 1} random stacks, {rec.verdicts} verdicts so far")
        record_probes(rec, progress)
        programs = [p for stack in stacks for p in stack] + derandomized(gen.invalid_programs(), INVALID_PROGRAMS)
        blobs = [p.to_bytes() for p in programs]
        alone = [[rec.ref(b), errno] for b, errno in zip(blobs, oracle.check_programs(blobs))]
        installs = []
        for flags in FLAGS:
            installs.append({"filters": [rec.ref(ALLOW)], "flags": [flags],
                             "refused": oracle.install_error([ALLOW], flags)})
        listeners = [abi.SECCOMP_FILTER_FLAG_NEW_LISTENER] * 2
        installs.append({"filters": [rec.ref(ALLOW)] * 2, "flags": listeners,
                         "refused": oracle.install_error([ALLOW, ALLOW], listeners)})
        budget = {}
        for blob in [ALLOW, *(b for b in blobs[:8] if len(b) > 8)]:
            budget[rec.ref(blob)] = grid.copies_accepted(blob, oracle)
        progress(f"{name}: {len(alone)} programs alone, {len(installs)} flag installs, budget of {len(budget)} filters")
        found = facts(oracle, lab.arch)
    doc = {
        "kernel": name, "version": lab.version, "arch": lab.arch, "package": lab.apt_spec,
        "recorded_by": "tools/record_lab.py through bpfsim.kernel.Oracle(kernel=...) in a qemu guest "
                       "(guard filter around unsafe calls)",
        "instruction_pointer": rec.ips, "threads": 2,
        "case": "[arch, nr as u32, args (trailing zeros dropped), verdicts the kernel admits]",
        "verdicts": rec.verdicts, "filters": rec.filters, "stacks": rec.stacks, "alone": alone,
        "installs": installs, "copies_accepted": budget,
    }
    write_facts(lab, found, progress)
    return write(doc, started, progress)


def write(doc: dict, started: float, progress) -> Path:
    LAB_CORPUS.mkdir(exist_ok=True)
    target = LAB_CORPUS / f"{doc['kernel']}.json.xz"
    text = json.dumps(doc, separators=(",", ":")).replace('],["', '],\n["')
    target.write_bytes(lzma.compress(text.encode(), preset=9 | lzma.PRESET_EXTREME))
    progress(f"{doc['kernel']}: {doc['verdicts']} verdicts in {target} ({target.stat().st_size // 1024} KiB, "
             f"{time.monotonic() - started:.0f} s)")
    return target


EXECVE_ACTIONS = (  # stacks on getppid whose verdict the program execve() starts must still get
    (abi.SECCOMP_RET_ERRNO | 42,), (abi.SECCOMP_RET_ERRNO | 42, abi.SECCOMP_RET_ERRNO | 13),
    (abi.SECCOMP_RET_KILL_PROCESS,), (abi.SECCOMP_RET_ERRNO | 7, abi.SECCOMP_RET_ALLOW),
)


STRICT_CANDIDATES = ("read", "write", "exit", "exit_group", "rt_sigreturn", "sigreturn", "getpid")
PROBE_CALLS = (335, 336)  # x86_64's uretprobe and uprobe, which skip the filters where the kernel lets them


def strict_mode(oracle: kernel.Oracle, arches: tuple[str, ...]) -> dict:
    """For each arch the kernel runs, which candidate numbers strict mode lets run."""
    found = {}
    for arch in arches:
        table = syscall_table(arch)
        numbers = [nr for nr, name in sorted(table.items()) if name in STRICT_CANDIDATES]
        numbers += list(PROBE_CALLS) if arch == "x86_64" else []
        found[arch] = {str(nr): oracle.strict_mode_allows(SeccompData(nr, arch, args=(7,))) for nr in numbers}
    return found


def facts(oracle: kernel.Oracle, arch: str) -> dict:
    """The kernel's answers beyond verdicts: the user-notification ioctls it knows, whether a
    core-dumping kill takes a process that shares the mm, calls made after execve(), and the
    calls strict mode allows."""
    getppid = next(nr for nr, name in kernel._harmless_table(arch).items() if name == "getppid")
    after = []
    for actions in EXECVE_ACTIONS:
        programs = [Program.from_asm(f"ld [nr]\njeq #{getppid}, 0, 1\nret #{a}\nret ALLOW") for a in actions]
        seen = oracle.call_after_execve(programs, SeccompData(getppid, arch))
        after.append({"filters": [p.to_bytes().hex() for p in programs], "nr": getppid,
                      "errno": seen.errno, "signal": seen.signal})
    return {
        "notify_ioctls": oracle.notify_ioctls(),
        "shared_mm_kill": {"dumpable": list(oracle.shared_mm_kill(True)),
                           "not dumpable": list(oracle.shared_mm_kill(False))},
        "after_execve": after,
        "strict_mode": strict_mode(oracle, ("x86_64", "i386") if arch == "x86_64" else (arch,)),
    }


FACTS = LAB_CORPUS / "facts.json"


def record_facts(name: str, progress=print) -> Path:
    """Ask the kernel's guest the ``facts`` questions and keep the answers in corpus/lab/facts.json
    (one entry per kernel, beside the recordings: recording verdicts again leaves them alone)."""
    lab = guest.lab_kernel(name)
    with kernel.Oracle(kernel=name, timeout=120) as oracle:
        found = facts(oracle, lab.arch)
    return write_facts(lab, found, progress)


def write_facts(lab: distros.DistroKernel, found: dict, progress) -> Path:
    everything = json.loads(FACTS.read_text()) if FACTS.exists() else {}
    everything[lab.name] = {"version": lab.version, "arch": lab.arch, **found}
    FACTS.write_text(json.dumps(dict(sorted(everything.items())), indent=1) + "\n")
    progress(f"{lab.name}: facts in {FACTS}")
    return FACTS


def differences(path: Path) -> tuple[dict, Counter]:
    """A recording, and where its kernel's answers differ from 6.18's (bpfsim's default kernel):
    the differences the recording shows, each of which the kernel profile must model."""
    from bpfsim import FilterChain, evaluate
    from test_lab_corpus import first_refusal
    from bpfsim.syscalls import syscall_name
    recorded = json.loads(lzma.decompress(path.read_bytes()))
    found: Counter = Counter()
    progs = lambda refs: [Program.from_bytes(bytes.fromhex(recorded["filters"][i])) for i in refs]
    for stack in recorded["stacks"]:
        stack_programs = progs(stack["filters"])
        ips = _instruction_pointers(recorded, stack)
        for arch, nr, args, expect in stack["cases"]:
            data = SeccompData(nr - (1 << 32) if nr >= 1 << 31 else nr, arch, ips[arch], args)
            verdict = evaluate(stack_programs, data, tracer=stack["tracer"], listener=stack["listener"],
                               threads=recorded["threads"])
            if not _agrees(verdict, expect):
                found[f"{arch} {syscall_name(nr, arch) or nr}: {expect} (6.18: {verdict.action.name})"] += 1
    for install in recorded["installs"]:
        said = first_refusal(FilterChain(), progs(install["filters"]), install["flags"])
        if said != install["refused"]:
            found[f"flags {'+'.join(hex(f) for f in install['flags'])}: {install['refused']} (6.18: {said})"] += 1
    return recorded, found


def _instruction_pointers(recorded: dict, stack: dict) -> dict:
    from test_lab_corpus import instruction_pointers
    return instruction_pointers(recorded, stack)


def _agrees(verdict, expect: str) -> bool:
    """tests/test_corpus.py's comparison of a verdict with a recorded expectation."""
    from test_corpus import agrees
    return agrees(verdict, expect)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", help=f"lab kernels ({', '.join(distros.DISTRO_KERNELS)})")
    parser.add_argument("--add-missing", action="store_true",
                        help="record only the corpus filters of the arch that each kernel's recording lacks")
    parser.add_argument("--differences", action="store_true",
                        help="for each recording, where its kernel's answers differ from 6.18's")
    parser.add_argument("--facts", action="store_true",
                        help="only add the kernels' facts (ioctls, shared-mm kills, execve) to their recordings")
    opts = parser.parse_args(argv)
    if opts.differences:
        for path in sorted(LAB_CORPUS.glob("*.json.xz")):
            recorded, found = differences(path)
            print(f"{recorded['kernel']} ({recorded['arch']}, {recorded['version']}): {recorded['verdicts']} verdicts")
            for what, count in found.most_common():
                print(f"  {count:6}  {what}")
        return 0
    try:
        for name in opts.kernels:
            chosen = record_facts if opts.facts else add_missing if opts.add_missing else record
            chosen(name, progress=lambda line: print(line, flush=True))
    except (kernel.KernelError, RuntimeError, OSError) as failure:
        print(f"record_lab: {failure}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
