"""The lab's recordings: every verdict a guest kernel gave (corpus/lab/*.json.xz, written by
tools/record_lab.py in qemu guests) must be bpfsim's for that kernel's version and arch.

Needs no qemu: the recordings are the kernels' answers. Only what the kernel made observable is
compared (LOG and ALLOW are one observation), as in tests/test_corpus.py.
"""

import errno
import json
import lzma
import signal
from functools import lru_cache
from pathlib import Path

import pytest

from bpfsim import FilterChain, Kernel, Program, SeccompData, SeccompError, VerifyError, evaluate, verify
from bpfsim.process import Process
from bpfsim.seccomp import strict_syscalls
from bpfsim.analysis import policy_row
from bpfsim.verifier import converted_length
from tests.test_corpus import CASE_DIRS, MAX_INSNS_PER_PATH, agrees, stack

LAB = Path(__file__).resolve().parent.parent / "corpus" / "lab"
RECORDINGS = sorted(LAB.glob("*.json.xz"))
IDS = [p.name.removesuffix(".json.xz") for p in RECORDINGS]


@lru_cache(maxsize=None)
def load(path: Path) -> dict:
    return json.loads(lzma.decompress(path.read_bytes()))


def programs(recording: dict, refs: list[int]) -> list[Program]:
    return [Program.from_bytes(bytes.fromhex(recording["filters"][i])) for i in refs]


def instruction_pointers(recording: dict, stack: dict) -> dict[str, int]:
    """Where the guest helper's calls came from, per arch: the recording's, unless the stack was
    added later by a rebuilt helper (``record_lab.py --add-missing``) and carries its own."""
    return stack.get("instruction_pointer", recording["instruction_pointer"])


def test_the_lab_recorded_enough_kernels_and_arches():
    """Issue #12: at least 5 guest kernels across x86_64, aarch64 and s390x, 20,000 verdicts each."""
    recorded = [load(p) for p in RECORDINGS]
    assert len(recorded) >= 5
    assert {r["arch"] for r in recorded} == {"x86_64", "aarch64", "s390x"}
    assert all(r["verdicts"] >= 20_000 for r in recorded), [(r["kernel"], r["verdicts"]) for r in recorded]


LAB_NOTED = [d for d in CASE_DIRS if "\nlab: " in "\n" + (d / "SOURCE").read_text()]


@pytest.mark.parametrize("case_dir", LAB_NOTED, ids=[d.name for d in LAB_NOTED])
def test_each_lab_line_of_a_corpus_source_names_a_recording_of_its_very_filters(case_dir):
    """A corpus directory's ``lab:`` lines (tools/record_lab.py) name the recordings that hold its
    verdicts: each has a stack of exactly the directory's filter files with that many cases."""
    noted = [line for line in (case_dir / "SOURCE").read_text().splitlines() if line.startswith("lab: ")]
    for line in noted:
        count, where = int(line.split()[1]), line.split(" in ")[1].split()[0]
        recorded = load(LAB.parent.parent / where)
        stacks = [s for s in recorded["stacks"] if s["origin"] == case_dir.name]
        assert len(stacks) == 1, f"{where} has {len(stacks)} stacks of {case_dir.name}"
        assert programs(recorded, stacks[0]["filters"]) == [Program.from_bytes(p.read_bytes()) for p in stack(case_dir)]
        assert len(stacks[0]["cases"]) == count, line


@pytest.mark.parametrize("path", RECORDINGS, ids=IDS)
def test_the_source_of_each_corpus_directory_a_recording_holds_names_that_recording(path):
    recorded, where = load(path), f"corpus/lab/{path.name}"
    for origin in {s["origin"] for s in recorded["stacks"]}:
        source = LAB.parent / origin / "SOURCE"
        if source.exists():
            assert where in source.read_text(), f"{origin}/SOURCE does not name {where}"


@pytest.mark.parametrize("path", RECORDINGS, ids=IDS)
def test_bpfsim_gives_every_verdict_the_lab_kernel_gave(path):
    recorded = load(path)
    wrong, total = [], 0
    for stack in recorded["stacks"]:
        progs = programs(recorded, stack["filters"])
        ips = instruction_pointers(recorded, stack)
        options = dict(kernel=recorded["kernel"], tracer=stack["tracer"], listener=stack["listener"],
                       threads=recorded["threads"])
        for arch, nr, args, expect in stack["cases"]:
            total += 1
            data = SeccompData(nr - (1 << 32) if nr >= 1 << 31 else nr, arch, ips[arch], args)
            verdict = evaluate(progs, data, **options)
            if not agrees(verdict, expect):
                wrong.append(f"{stack['origin']} {arch} nr={nr:#x} args={[hex(a) for a in args]} {options}: "
                             f"kernel {expect}, bpfsim {verdict!r}")
    assert total == recorded["verdicts"]
    assert not wrong, f"{len(wrong)} of {total} disagree:\n" + "\n".join(wrong[:20])


@pytest.mark.parametrize("path", RECORDINGS, ids=IDS)
def test_bpfsim_accepts_and_refuses_each_program_as_the_lab_kernel_did(path):
    recorded = load(path)
    wrong = []
    for ref, seen in recorded["alone"]:
        prog = programs(recorded, [ref])[0]
        try:
            verify(prog, kernel=recorded["kernel"])
            said = None
        except VerifyError as refused:
            said = refused.errno
        if said != seen:
            wrong.append(f"{prog.to_bytes().hex()}: kernel {seen}, bpfsim {said}")
    assert not wrong, "\n".join(wrong[:20])


def first_refusal(chain: FilterChain, progs, flags) -> list[int] | None:
    """[index, errno] of the first attach ``chain`` refuses, as a recording's "refused" says it."""
    for index, (prog, flag) in enumerate(zip(progs, flags)):
        try:
            chain.attach(prog, flag)
        except SeccompError as refused:
            return [index, refused.errno]
    return None


@pytest.mark.parametrize("path", RECORDINGS, ids=IDS)
def test_bpfsim_attaches_with_each_flag_as_the_lab_kernel_did(path):
    recorded = load(path)
    wrong = []
    for install in recorded["installs"]:
        said = first_refusal(FilterChain(kernel=recorded["kernel"]), programs(recorded, install["filters"]),
                             install["flags"])
        if said != install["refused"]:
            wrong.append(f"flags {[hex(f) for f in install['flags']]}: kernel {install['refused']}, bpfsim {said}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", RECORDINGS, ids=IDS)
def test_as_many_copies_fit_on_a_thread_as_the_lab_kernel_took(path):
    """kernel/seccomp.c:seccomp_attach_filter: lengths after the cBPF→eBPF conversion, +4 each."""
    recorded = load(path)
    for ref, (accepted, _errno) in recorded["copies_accepted"].items():
        size = converted_length(programs(recorded, [int(ref)])[0])
        assert size + (accepted - 1) * (size + 4) <= MAX_INSNS_PER_PATH < size + accepted * (size + 4)


@pytest.mark.parametrize("path", [p for p in RECORDINGS if p.name.endswith("s390x.json.xz")],
                         ids=lambda p: p.name.removesuffix(".json.xz"))
def test_the_policy_table_admits_every_verdict_the_big_endian_kernel_gave(path):
    """On s390x an argument's high word comes first (``ld [16]`` reads it): the table's path
    exploration must find, for each number, every verdict the kernel gave for some arguments."""
    recorded = load(path)
    missed = []
    for stack in recorded["stacks"]:
        progs = programs(recorded, stack["filters"])
        rows, options = {}, dict(kernel=recorded["kernel"], threads=recorded["threads"])
        for arch, nr, args, expect in stack["cases"]:
            if nr not in rows:
                rows[nr] = policy_row(progs, nr, arch, kernel=recorded["kernel"])
            row = rows[nr]
            data = SeccompData(nr, arch, instruction_pointers(recorded, stack)[arch], args)
            ret = evaluate(progs, data, tracer=stack["tracer"], listener=stack["listener"], **options).ret
            if row.complete and not row.unbounded and ret not in row.possible:
                missed.append(f"nr {nr} args {[hex(a) for a in args]}: kernel {expect}, table {row.possible}")
    assert not missed, "\n".join(missed[:10])


FACTS = json.loads((LAB / "facts.json").read_text())  # tools/record_lab.py --facts, one entry per kernel
NOTIFY_IOCTL_FACTS = {"ADDFD": "ioctl_addfd", "ADDFD_SEND": "addfd_flag_send", "SET_FLAGS": "ioctl_set_flags"}


def test_every_lab_kernel_answered_the_facts_questions():
    assert sorted(FACTS) == IDS


@pytest.mark.parametrize("name", sorted(FACTS))
def test_the_profile_knows_the_notification_ioctls_each_lab_kernel_knew(name):
    """An ioctl or flag the kernel does not know is EINVAL (kernel/seccomp.c:seccomp_notify_ioctl,
    seccomp_notify_addfd): the profile's facts for ADDFD, its SEND flag and SET_FLAGS."""
    profile = Kernel(name)
    seen = FACTS[name]["notify_ioctls"]
    assert {name: profile.has(fact) for name, fact in NOTIFY_IOCTL_FACTS.items()} == \
        {name: seen[name] != errno.EINVAL for name in NOTIFY_IOCTL_FACTS}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_the_profile_knows_whether_a_kill_takes_the_processes_sharing_the_mm(name):
    """A clone(CLONE_VM) child (not a thread) killed by KILL_PROCESS: before 0258b5fd7c71 (5.16)
    the core dump's zap_threads killed its dumpable parent too; a non-dumpable one never."""
    kills = FACTS[name]["shared_mm_kill"]
    parent_lived = kills["dumpable"][1] is None
    assert Kernel(name).has("coredump_kills_only_thread_group") == parent_lived
    assert kills["not dumpable"] == [signal.SIGSYS, None]


@pytest.mark.parametrize("name", sorted(FACTS))
def test_the_program_execve_starts_gets_the_stacks_verdict_as_on_the_lab_kernel(name):
    """fs/exec.c keeps current->seccomp: bpfsim's Process on that kernel and arch, after execve."""
    for case in FACTS[name]["after_execve"]:
        thread = Process(arch=FACTS[name]["arch"], kernel=name).main
        for blob in case["filters"]:
            thread.attach(Program.from_bytes(bytes.fromhex(blob)))
        thread.execve()
        mine = thread.call(case["nr"])
        assert (mine.signal if mine.killed else None) == case["signal"], case
        assert (-mine.retval if case["signal"] is None else None) == case["errno"], case


@pytest.mark.parametrize("name", sorted(FACTS))
def test_strict_mode_allows_what_each_lab_kernel_let_run(name):
    """kernel/seccomp.c:__secure_computing_strict with the arch's asm/seccomp.h list (#14 item 10):
    which sigreturn each arch allows, and x86's compat list, as the kernel of each arch decided."""
    for arch, seen in FACTS[name]["strict_mode"].items():
        allowed = strict_syscalls(arch, name)
        assert {int(nr): int(nr) in allowed for nr in seen} == {int(nr): ran for nr, ran in seen.items()}, arch
