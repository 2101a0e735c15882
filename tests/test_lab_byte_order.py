"""What the lab's kernels loaded from ``struct seccomp_data``, against what bpfsim's trace,
debugger, listings, policy table and lint say a filter loads (#12 item 4: a big-endian arch loads argument
words in its own order everywhere).

The probes are stacks of the lab recordings (tools/record_lab.py ``record_probes``):
``byte-order-words`` returns 12 bits of the word ``ld [k]`` read as its errno, so three of them
give the whole word the guest kernel loaded; ``byte-order-decisions`` compare argument words with
constants and were called with the witnesses of the policy table and lint, among other inputs.
The field a load reads is found from the kernel's answer alone: the one field of the call that
holds the word the kernel returned (the probes' arguments have no two words alike).
"""

from collections import defaultdict
from functools import lru_cache

import pytest

from bpfsim import Program, SeccompData, abi, lint, trace
from bpfsim import opcodes as op
from bpfsim.analysis import policy_row
from bpfsim.debugger import format_steps
from tests.test_corpus import admitted, agrees
from tests.test_lab_corpus import IDS, RECORDINGS, instruction_pointers, load, programs

WORDS, DECISIONS = "byte-order-words", "byte-order-decisions"
LD_ABS = op.BPF_LD | op.BPF_W | op.BPF_ABS
PROBED = [(p, i) for p, i in zip(RECORDINGS, IDS) if any(s["origin"] == WORDS for s in load(p)["stacks"])]
ARCHES_PROBED = {load(p)["arch"] for p, _ in PROBED}


def call(recorded: dict, stack: dict, case: list) -> SeccompData:
    arch, nr, args, _expect = case
    return SeccompData(nr, arch, instruction_pointers(recorded, stack)[arch], args)


def fields(data: SeccompData) -> dict[str, int]:
    """Every 32-bit field of the call by the name bpfsim gives it (``args[1].hi``), whatever the order."""
    named = {"nr": data.nr & 0xFFFFFFFF, "arch": data.arch}
    for name, value in [("instruction_pointer", data.instruction_pointer)] + [
            (f"args[{i}]", v) for i, v in enumerate(data.args)]:
        named[f"{name}.lo"], named[f"{name}.hi"] = value & 0xFFFFFFFF, value >> 32
    return named


@lru_cache(maxsize=None)
def kernel_loads(path) -> dict[tuple[int, SeccompData], int]:
    """(offset, call) → the 32-bit word the guest kernel's ``ld [offset]`` read for that call."""
    recorded, words = load(path), defaultdict(int)
    for stack in (s for s in recorded["stacks"] if s["origin"] == WORDS):
        load_insn, shift_insn = programs(recorded, stack["filters"])[0][:2]
        for case in stack["cases"]:
            (name, errno), = admitted(case[3])
            assert name == "ERRNO"
            words[load_insn.k, call(recorded, stack, case)] |= errno << shift_insn.k
    return dict(words)


@lru_cache(maxsize=None)
def kernel_field(path, offset: int) -> str:
    """The field the kernel's ``ld [offset]`` reads, shown by the calls whose fields all differ."""
    distinct = [(data, word) for (k, data), word in kernel_loads(path).items()
                if k == offset and len(set(fields(data).values())) == len(fields(data))]
    named = {name for data, word in distinct for name, value in fields(data).items() if value == word}
    assert len(named) == 1, f"ld [{offset}] matched {named}"
    return named.pop()


def _load_alone(offset: int) -> Program:
    return Program.from_asm(f"ld [{offset}]\nret a")


def test_the_lab_probed_a_big_endian_and_a_little_endian_kernel():
    assert {"s390x", "aarch64"} <= ARCHES_PROBED


@pytest.mark.parametrize("path", [p for p, _ in PROBED], ids=[i for _, i in PROBED])
def test_the_kernel_read_the_issues_words_in_its_arch_order(path):
    """The prototype's finding (#12): for args[0] = 0x0000000A00000014, s390x's ld [16] reads 10
    and ld [20] 20; x86_64 and aarch64 read 20 and 10."""
    recorded = load(path)
    issue = {k: word for (k, data), word in kernel_loads(path).items() if data.args[0] == 0xA00000014}
    big = recorded["arch"] == "s390x"
    assert (issue[16], issue[20]) == ((10, 20) if big else (20, 10))


@pytest.mark.parametrize("path", [p for p, _ in PROBED], ids=[i for _, i in PROBED])
def test_the_trace_loads_the_word_the_kernel_loaded_and_names_its_field(path):
    loaded = kernel_loads(path)
    assert len({k for k, _ in loaded}) == abi.SECCOMP_DATA_SIZE // 4
    for (offset, data), word in loaded.items():
        run = trace(_load_alone(offset), data)
        assert run[0].a == word, f"ld [{offset}] of {data}: kernel {word:#x}, trace {run[0].a:#x}"
        assert run.summary().endswith(f"read seccomp_data {kernel_field(path, offset)}"), run.summary()


@pytest.mark.parametrize("path", [p for p, _ in PROBED], ids=[i for _, i in PROBED])
def test_the_debugger_shows_the_word_the_kernel_loaded_and_names_its_field(path):
    for (offset, data), word in kernel_loads(path).items():
        line = format_steps(trace(_load_alone(offset), data))[0]
        assert f"A={word:#x} " in line, line
        assert line.split("; ", 1)[1].split(" = ")[:2] == ["A", kernel_field(path, offset)], line


@pytest.mark.parametrize("path", [p for p, _ in PROBED], ids=[i for _, i in PROBED])
def test_the_listing_c_and_pseudo_c_of_the_arch_name_the_field_the_kernel_loaded(path):
    arch = load(path)["arch"]
    offsets = range(abi.OFFSET_IP, abi.SECCOMP_DATA_SIZE, 4)
    prog = Program.from_asm("\n".join(f"ld [{k}]" for k in offsets) + "\nret a", arch=arch)
    listing, pseudo_c = str(prog).splitlines(), prog.to_asm(dialect="pseudo_c").split("\n")[1:]
    c_rows = [line for line in prog.to_c().splitlines() if "BPF_STMT" in line]
    for pc, offset in enumerate(offsets):
        field, half = kernel_field(path, offset).split(".")
        assert listing[pc].endswith(f"; A = {field}.{half}"), listing[pc]
        assert c_rows[pc].endswith(f"/* {pc}: A = {field}.{half} */"), c_rows[pc]
        assert pseudo_c[pc].strip() == (f"A = {field} >> 32" if half == "hi" else f"A = {field}"), pseudo_c[pc]


def decision_stacks(path):
    recorded = load(path)
    for stack in (s for s in recorded["stacks"] if s["origin"] == DECISIONS):
        cases = {(nr, tuple(args)): expect for _arch, nr, args, expect in stack["cases"]}
        yield recorded, programs(recorded, stack["filters"]), cases


def recorded_verdict(cases: dict, witness: SeccompData) -> str:
    args = list(witness.args)
    while args and not args[-1]:
        args.pop()
    key = (witness.nr & 0xFFFFFFFF, tuple(args))
    assert key in cases, f"the witness {witness} was not recorded: run tools/record_lab.py again"
    return cases[key]


@pytest.mark.parametrize("path", [p for p, _ in PROBED], ids=[i for _, i in PROBED])
def test_each_policy_table_witness_gets_the_verdict_the_table_claims_on_the_kernel(path):
    for recorded, progs, cases in decision_stacks(path):
        nr = next(nr for nr, _ in cases)
        row = policy_row(progs, nr, recorded["arch"], kernel=recorded["kernel"])
        assert row.complete and len(row.verdicts) == 2
        for possibility in row.verdicts:
            expect = recorded_verdict(cases, possibility.witness)
            assert agrees(possibility.verdict, expect), f"{possibility}: kernel {expect}"


def compared_halves(path, prog) -> dict[str, dict[str, int]]:
    """argument → {half the kernel loads: the constant the next jump compares it with}."""
    found, loaded = defaultdict(dict), None
    for insn in prog:
        if insn.code == LD_ABS:
            loaded = kernel_field(path, insn.k).split(".") if insn.k >= abi.OFFSET_ARGS else None
        elif insn.is_jump and loaded:
            found[loaded[0]][loaded[1]] = insn.k
    return found


@pytest.mark.parametrize("path", [p for p, _ in PROBED], ids=[i for _, i in PROBED])
def test_each_policy_table_condition_puts_each_constant_in_the_argument_half_the_kernel_loads(path):
    """One half compared: ``args[0] >> 32`` or a constant above 32 bits for a high half,
    ``(u32)args[0]`` or a 32-bit mask for a low half. Both halves compared with ``jeq``: the
    64-bit value they make in the kernel's order, or each half on its own."""
    for recorded, progs, cases in decision_stacks(path):
        nr = next(nr for nr, _ in cases)
        row = policy_row(progs, nr, recorded["arch"], kernel=recorded["kernel"])
        denied = next(p.condition for p in row.verdicts if p.ret != abi.SECCOMP_RET_ALLOW)
        for argument, halves in compared_halves(path, progs[0]).items():
            if set(halves) == {"lo", "hi"}:
                lo, hi = halves["lo"], halves["hi"]
                assert f"{argument} == {hi << 32 | lo:#x}" in denied or (
                    f"(u32){argument} == {lo:#x}" in denied and f"{argument} >> 32 == {hi:#x}" in denied), denied
                continue
            (half, k), = halves.items()
            for possibility in row.verdicts:
                text = possibility.condition
                high = f"{argument} >> 32" in text or f"{k << 32:#x}" in text
                low = f"(u32){argument}" in text or f"{argument} & {k:#x}" in text
                assert argument in text and (high if half == "hi" else low and not high), (
                    f"the kernel loads {argument}.{half}: {text}")


@pytest.mark.parametrize("path", [p for p, _ in PROBED], ids=[i for _, i in PROBED])
def test_lint_warns_of_a_low_word_only_check_where_the_kernel_loads_a_low_half_and_its_witness_holds(path):
    for recorded, progs, cases in decision_stacks(path):
        arch = recorded["arch"]
        halves = defaultdict(set)
        for insn in progs[0]:
            if insn.code == LD_ABS and insn.k >= abi.OFFSET_ARGS:
                argument, half = kernel_field(path, insn.k).split(".")
                halves[argument].add(half)
        expected = {a for a, seen in halves.items() if seen == {"lo"}}
        found = [f for f in lint(progs, arch, kernel=recorded["kernel"]) if f.kind == "arg-low-word-only"]
        assert {f.message.split()[0] for f in found} == expected, [str(f) for f in found]
        for finding in found:
            assert agrees(finding.verdict, recorded_verdict(cases, finding.witness)), str(finding)
