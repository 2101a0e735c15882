"""One fuzzing campaign: generate, ask bpfsim and the kernel, compare, shrink, save.

Each hypothesis example is a handful of stacks with a batch of inputs each, so one round trip to
the kernel oracle checks hundreds of (stack, input) cases; hypothesis shrinks a diverging example
down to the one stack and input that still diverge.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
from hypothesis import strategies as st

from bpfsim import Program, SeccompData, abi, evaluate, trace_stack, verify
from bpfsim import kernel as live
from bpfsim import strategies as gen
from bpfsim.errors import VerifyError
from bpfsim.profiles import Kernel

REGRESSIONS = Path(__file__).resolve().parent.parent / "corpus" / "regressions"
KERNEL_ARCHES = ("x86_64", "i386")  # the calls an x86_64 machine can make: syscall and int $0x80


def kernel_arches(oracle: live.Oracle) -> tuple[str, ...]:
    """The arches of the calls ``oracle`` can make: its own, and i386 beside x86_64."""
    return KERNEL_ARCHES if oracle.arch == "x86_64" else (oracle.arch,)


@dataclass
class Divergence(AssertionError):
    """bpfsim and the kernel disagree on one case."""

    kind: str  # "verdict" or "verifier"
    filters: list[Program]
    calls: list[dict] = field(default_factory=list)
    kernel: list[dict] = field(default_factory=list)
    bpfsim: list[dict] = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.kind} divergence with {len(self.filters)} filter(s), options {self.options}"]
        for i, prog in enumerate(self.filters):
            lines.append(f"filter {i}:\n{prog.listing()}")
        for call, seen, said in zip(self.calls, self.kernel, self.bpfsim):
            lines.append(f"call {call}\n  kernel: {seen}\n  bpfsim: {said}")
            data = SeccompData(call["nr"], call["arch"], call["instruction_pointer"], call["args"])
            lines.append("bpfsim's trace:\n" + str(trace_stack(self.filters, data, threads=2, **{
                key: self.options[key] for key in ("tracer", "listener", "kernel") if key in self.options})))
        return "\n".join(lines)


@dataclass
class Stats:
    cases: int = 0
    programs: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        return self.cases / max(time.monotonic() - self.started, 1e-9)


def check_stacks(oracle: live.Oracle, batches, *, tracer: bool, listener: int | None, stats: Stats) -> None:
    """Run every (stack, calls) pair on both sides and raise the first ``Divergence``."""
    asked: dict = {}
    kernel_side = threading.Thread(target=lambda: asked.update(
        results=_capture(oracle.run_batch, batches, tracer=tracer, listener=listener)))
    kernel_side.start()  # the helpers work in other processes while bpfsim evaluates here
    verdicts = [[evaluate(stack, data, kernel=_profile(oracle), tracer=tracer, listener=listener, threads=2)
                 for data in calls] for stack, calls in batches]
    kernel_side.join()
    results = asked["results"]
    if isinstance(results, BaseException):
        raise results
    for (stack, calls), result, said in zip(batches, results, verdicts):
        options = {"tracer": tracer, "listener": listener}
        if oracle.guest:
            options["kernel"] = oracle.guest.name
        if isinstance(result, live.KernelInstallError):
            raise Divergence("install", stack, options={**options, "kernel_errno": result.errno,
                                                        "index": result.index})
        for data, outcome, verdict in zip(calls, result, said):
            stats.cases += 1
            agrees = outcome.admits(verdict)
            if agrees and verdict.outcome.siginfo and outcome.siginfo:
                agrees = (outcome.siginfo.si_syscall, outcome.siginfo.si_arch) == (
                    verdict.outcome.siginfo.si_syscall, verdict.outcome.siginfo.si_arch)
            if not agrees:
                raise Divergence("verdict", list(stack), [_call_dict(data)],
                                 [_outcome_dict(outcome)], [verdict.as_dict()], options)


def check_verifier(oracle: live.Oracle, programs: list[Program], stats: Stats) -> None:
    """bpfsim.verify against seccomp(2)'s accept/reject and errno, program by program."""
    kernel_errnos = oracle.check_programs(programs)
    for prog, seen in zip(programs, kernel_errnos):
        stats.programs += 1
        try:
            verify(prog, kernel=_profile(oracle))
            said = None
        except VerifyError as refused:
            said = refused.errno
        if said != seen:
            options = {"kernel": oracle.guest.name} if oracle.guest else {}
            raise Divergence("verifier", [prog], kernel=[{"errno": seen}], bpfsim=[{"errno": said}],
                             options=options)


def _profile(oracle: live.Oracle) -> str | None:
    """The ``kernel=`` bpfsim models for the oracle's kernel: a lab guest's name, else the newest."""
    return oracle.guest.name if oracle.guest else None


def _capture(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except BaseException as error:  # handed to the main thread, which re-raises it
        return error


def _call_dict(call: SeccompData) -> dict:
    return {"nr": call.nr, "arch": abi.arch_name(call.arch), "args": list(call.args),
            "instruction_pointer": call.instruction_pointer}


def _outcome_dict(outcome: live.Observation) -> dict:
    return {"action": outcome.action, "data": outcome.data, "retval": outcome.retval,
            "candidates": [list(c) for c in outcome.candidates]}


def _calls(rng: random.Random, stack, count: int, ips: dict) -> list[SeccompData]:
    """Inputs for one stack, with the instruction pointer the oracle's calls have."""
    near = gen.constants(stack)
    calls = []
    while len(calls) < count:
        arch = ("i386" if rng.random() < 0.2 else "x86_64") if "i386" in ips else next(iter(ips))
        data = gen.random_seccomp_data(rng, near, arch, instruction_pointer=ips[arch])
        if arch == "s390x":  # svc passes 16 bits of the number (arch/s390/kernel/syscall.c)
            data = data.replace(nr=data.nr & 0xFFFF)
        if data.nr not in _SKIP_THE_FILTERS.unfiltered_calls(data.target):
            calls.append(data)
    return calls


# Issue 16 item 4: uretprobe and uprobe skip the filters on kernels that have
# seccomp_uprobe_exception (the newest modelled one does), so they would really run in the
# subject whatever the stack says, and check nothing of bpfsim's: never generated, on any kernel.
_SKIP_THE_FILTERS = Kernel()


def run(cases: int, seed: int, *, seconds: float | None = None, stacks_per_example: int = 8,
        calls_per_stack: int = 512, save: bool = True, progress=None, kernel: str | None = None) -> Stats:
    """Check at least ``cases`` (stack, input) cases, or run for ``seconds``; never raise on a
    divergence: shrink it, save it, and go on with the next seed. ``kernel``: a lab kernel's name
    (``make lab``) to fuzz against instead of this machine's."""
    stats = Stats()
    oracle = live.Oracle(kernel=kernel, timeout=120) if kernel else live.Oracle()
    ips = {arch: oracle.instruction_pointer(arch) for arch in kernel_arches(oracle)}
    deadline = None if seconds is None else stats.started + seconds
    round_seed = seed

    def done() -> bool:
        return stats.cases >= cases if deadline is None else time.monotonic() >= deadline

    per_example = stacks_per_example * calls_per_stack // 2  # the mean number of stacks is about half
    while not done():
        found: list[Divergence] = []
        remaining = max(cases - stats.cases, 1) if deadline is None else 20 * per_example
        examples = max(1, -(-remaining // per_example))

        @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
                  phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
                  report_multiple_bugs=False)
        @hypothesis_seed(round_seed)
        @given(st.data())
        def example(data):
            stacks = data.draw(st.lists(gen.filter_stacks(1, 8), min_size=1, max_size=stacks_per_example))
            rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
            batches = [(stack, _calls(rng, stack, calls_per_stack, ips)) for stack in stacks]
            smallest = min(len(s) for s in stacks)
            tracer = data.draw(st.booleans())
            listener = data.draw(st.none() | st.integers(0, smallest - 1))
            invalid = data.draw(st.lists(gen.invalid_programs(), min_size=1, max_size=4))
            try:
                check_stacks(oracle, batches, tracer=tracer, listener=listener, stats=stats)
                check_verifier(oracle, invalid, stats)
            except Divergence as divergence:
                found.append(divergence)
                raise
            if progress:
                progress(stats)

        try:
            example()
        except Divergence:
            smallest = found[-1]  # hypothesis re-raises after shrinking: the last one is minimal
            stats.divergences.append(smallest)
            if save:
                save_regression(smallest)
        round_seed += 1
    oracle.close()
    return stats


def save_regression(divergence: Divergence, root: Path = REGRESSIONS) -> Path:
    """Write a divergence as a replayable corpus case named after its symptom."""
    symptom = _symptom(divergence)
    target = root / symptom
    n = 1
    while target.exists():
        n += 1
        target = root / f"{symptom}-{n}"
    target.mkdir(parents=True)
    for i, prog in enumerate(divergence.filters):
        (target / f"{i}.bpf").write_bytes(prog.to_bytes())
    kernel = divergence.options.get("kernel") or platform.release()
    case = {"kind": divergence.kind, "kernel": kernel, "options": divergence.options,
            "calls": divergence.calls, "kernel_saw": divergence.kernel, "bpfsim_said": divergence.bpfsim}
    (target / "case.json").write_text(json.dumps(case, indent=1) + "\n")
    (target / "SOURCE").write_text(f"origin: python -m fuzz on Linux {kernel}\n"
                                   f"filters: {len(divergence.filters)} in install order (0.bpf oldest)\n")
    return target


def _symptom(divergence: Divergence) -> str:
    """What went wrong, and on which lab kernel when it was not this machine's."""
    where = f"-on-{divergence.options['kernel']}" if divergence.options.get("kernel") else ""
    return _what_went_wrong(divergence) + where


def _what_went_wrong(divergence: Divergence) -> str:
    if divergence.kind == "verifier":
        seen, said = divergence.kernel[0]["errno"], divergence.bpfsim[0]["errno"]
        name = lambda e: "accepts" if e is None else errno.errorcode.get(e, str(e)).lower()
        return f"verifier-kernel-{name(seen)}-bpfsim-{name(said)}"
    if divergence.kind == "install":
        return f"install-refused-{errno.errorcode.get(divergence.options['kernel_errno'], 'error').lower()}"
    seen, said = divergence.kernel[0]["action"].lower(), divergence.bpfsim[0]["action"].lower()
    return f"kernel-{seen}-bpfsim-{said}"


def describe_machine() -> str:
    return f"Linux {platform.release()} {platform.machine()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
