"""``make bench``: interpreter, compiled filters, policy table, kernel and fuzz throughput side by side.

The filter is Docker's default profile for x86_64 from the corpus (about 1000 instructions,
compiled by libseccomp). Everything is measured on this machine when it runs; the targets are
printed next to the numbers, and nothing here is a test.
"""

from __future__ import annotations

import compileall
import ctypes
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpfsim import FilterChain, Program, SeccompData, evaluate, run, trace  # noqa: E402
from bpfsim.analysis import policy_table  # noqa: E402
from bpfsim.audit import lint  # noqa: E402
from bpfsim.differences import diff  # noqa: E402
from bpfsim.verifier import verified  # noqa: E402
from bpfsim.syscalls import syscall_table  # noqa: E402

FILTER = ROOT / "corpus" / "moby-default-x86_64" / "filter.bpf"
SYS_ADMIN = ROOT / "corpus" / "moby-default-x86_64-sys-admin" / "filter.bpf"
CALLS = {"read": (0, ()), "openat": (257, (0, 0, 0)), "execve": (59, ()), "reboot (denied)": (169, ())}
PR_SET_NO_NEW_PRIVS, SYS_SECCOMP, SECCOMP_SET_MODE_FILTER = 38, 317, 1
PERSONALITY_QUERY = 0xFFFFFFFF


def best_time(fn, number: int, repeat: int = 5) -> float:
    """Seconds per call of ``fn()``, the best of ``repeat`` rounds of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return (f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, "
            f"Python {platform.python_version()} ({platform.python_implementation()})")


def vm_rows(prog: Program) -> tuple[list, float]:
    """Per call: executed instructions, interpreter µs, compiled µs, evaluate() µs and
    FilterChain.evaluate() µs; and ns per interpreted instruction."""
    function = verified(prog).function
    chain = FilterChain([prog])
    rows, total_time, total_steps = [], 0.0, 0
    for label, (nr, args) in CALLS.items():
        data = SeccompData(nr, "x86_64", 0, args)
        words = data.words()
        steps = len(trace(prog, data))
        # Many short rounds: on a shared machine the best round is the one nobody interrupted.
        interp = best_time(lambda: run(prog, data), max(20, 20_000 // steps), 25)
        fast = best_time(lambda: function(words), 2_000, 25)
        full = best_time(lambda: evaluate([prog], data), 2_000, 25)
        chained = best_time(lambda: chain.evaluate(data), 2_000, 25)
        rows.append((label, nr, steps, interp * 1e6, fast * 1e6, full * 1e6, chained * 1e6))
        total_time += interp
        total_steps += steps
    return rows, total_time / total_steps * 1e9


def ceccomp_commands() -> dict[str, str]:
    """ceccomp as pip installs it: the ``ceccomp`` command (a Python launcher that execs the
    package's native binary), and that native binary called directly."""
    commands = {}
    launcher = shutil.which("ceccomp", path=str(Path(sys.executable).parent)) or shutil.which("ceccomp")
    if launcher:
        commands["command"] = launcher
    try:
        import ceccomp
        native = Path(ceccomp.__file__).with_name("ceccomp")
        if native.is_file():
            commands["native"] = str(native)
    except ImportError:
        pass
    return commands


def bpfsim_command() -> list[str]:
    """The ``bpfsim`` console script of this environment, as a user types it."""
    script = Path(sys.executable).parent / "bpfsim"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bpfsim"]


def best_run(command: list[str], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    return best


def table_timings(path: Path) -> dict:
    numbers = sorted(syscall_table("x86_64"))
    result = {"rows": len(numbers)}
    start = time.perf_counter()
    rows = policy_table([Program.load(path)], "x86_64")
    result["api_cold"] = time.perf_counter() - start
    prog = Program.load(path)
    policy_table([prog], "x86_64")
    result["api_warm"] = best_time(lambda: policy_table([prog], "x86_64"), 1, 3)
    # pip byte-compiles what it installs; a checkout may have no .pyc yet (PYTHONDONTWRITEBYTECODE).
    compileall.compile_dir(ROOT / "bpfsim", quiet=1)
    # The same work as ceccomp does: x86_64 only (the filter also admits i386 calls, which bpfsim
    # would judge too when no arch is given).
    result["cli"] = best_run([*bpfsim_command(), "table", str(path), "--arch", "x86_64", "--json"])
    result["python"] = best_run([sys.executable, "-c", "pass"])
    commands = ceccomp_commands()
    if "native" not in commands:
        return result
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "filter.txt"
        text.write_bytes(subprocess.run([commands["native"], "disasm", str(path)], check=True,
                                        capture_output=True).stdout)
        for kind, binary in commands.items():
            answers = {}
            start = time.perf_counter()
            for nr in numbers:
                answers[nr] = subprocess.run([binary, "emu", "-q", "-a", "x86_64", str(text), str(nr)],
                                             capture_output=True, text=True).stdout.strip()
            result[f"ceccomp_{kind}"] = time.perf_counter() - start
            result[f"differ_{kind}"] = [f"{r.name} (bpfsim {r.action.name}, ceccomp {answers[r.nr]})"
                                        for r in rows
                                        if answers[r.nr].removeprefix("return ").split("(")[0] != r.action.name]
    return result


KERNEL_CALLS = {  # label: (nr, args); each is harmless with and without the filter
    "getppid": (110, ()),
    "personality(0xffffffff)": (135, (PERSONALITY_QUERY,)),
    "nr 1000 (denied)": (1000, ()),
}


def audit_timings(prog: Program) -> dict:
    """Seconds for lint of the profile and for diff against its --cap-add SYS_ADMIN variant, in
    process (the arches the profile lets through: x86_64 and i386), best of three."""
    other = Program.load(SYS_ADMIN)
    arches = ["x86_64", "i386"]
    return {"lint": best_time(lambda: lint([prog]), 1, 3),
            "diff": best_time(lambda: diff([prog], [other], arches), 1, 3),
            "differences": len(diff([prog], [other], arches)),
            "findings": len(lint([prog]))}


def _child_syscall_cost(prog: Program, write_fd: int, loops: int) -> None:
    """In a forked child: ns per call of each KERNEL_CALLS entry, before and after attaching."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    syscall = libc.syscall
    calls = [(lambda nr=ctypes.c_long(nr), args=tuple(map(ctypes.c_ulong, args)): syscall(nr, *args))
             for nr, args in KERNEL_CALLS.values()]

    def measure() -> list[float]:
        return [best_time(call, loops, 5) for call in calls]

    measure()  # warm up
    before = measure()
    raw = prog.to_bytes()
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.addressof(buffer))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, 0,
                                                               ctypes.byref(fprog)):
        os.write(write_fd, f"error errno {ctypes.get_errno()}".encode())
        return
    after = measure()
    os.write(write_fd, " ".join(f"{(b - a) * 1e9:.3f}" for a, b in zip(before, after)).encode())


def kernel_cost(prog: Program, children: int = 3, loops: int = 100_000) -> list[float] | str:
    """Extra ns per system call with ``prog`` attached, per KERNEL_CALLS entry: the median over
    ``children`` forked children of (best time after attaching - best time before)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "n/a (needs Linux x86_64)"
    samples = []
    for _ in range(children):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                _child_syscall_cost(prog, write_fd, loops)
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            answer = pipe.read().decode()
        os.waitpid(pid, 0)
        if not answer or answer.startswith("error"):
            return f"n/a (could not attach the filter: {answer or 'child died'})"
        samples.append([float(v) for v in answer.split()])
    return [statistics.median(column) for column in zip(*samples)]


def fuzz_throughput() -> str:
    """The differential campaign itself (generate, bpfsim, kernel, compare) for 20 seconds, and the
    kernel oracle alone on trivial stacks for comparison."""
    from bpfsim import kernel
    reason = kernel.seccomp_unavailable_reason()
    if reason:
        return f"n/a ({reason})"
    from fuzz import campaign
    stats = campaign.run(10**9, seed=1, seconds=20.0, save=False)
    outcome = "no divergence" if not stats.divergences else f"{len(stats.divergences)} DIVERGENCES"
    return (f"{stats.rate:,.0f} kernel-checked cases/s over {stats.cases:,} cases ({outcome}); "
            f"oracle alone {kernel.bench_throughput(3.0):,.0f} cases/s")


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main() -> int:
    prog = Program.load(FILTER)
    print(f"bpfsim benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {machine()}")
    print(f"filter:  {FILTER.relative_to(ROOT)} ({len(prog)} instructions, Docker's default profile)\n")

    rows, ns_per_insn = vm_rows(prog)
    print(f"{'call':<16} {'insns run':>9} {'interpreter':>12} {'compiled':>10} {'speedup':>8} {'evaluate()':>11} "
          f"{'chain.evaluate()':>17}")
    for label, nr, steps, interp, fast, full, chained in rows:
        print(f"{label:<16} {steps:>9} {interp:>10.2f}µs {fast:>8.3f}µs {interp / fast:>7.0f}× {full:>9.3f}µs "
              f"{chained:>15.3f}µs")
    worst_fast = max(r[4] for r in rows)
    worst_evaluate = max(r[5] for r in rows)
    worst_chain = max(r[6] for r in rows)
    speedup = sum(r[3] for r in rows) / sum(r[4] for r in rows)
    print(f"\ninterpreter: {ns_per_insn:.0f} ns per executed instruction "
          f"(target ≤ 42: {verdict(ns_per_insn <= 42)})")
    print(f"compiled:    ≤ {worst_fast:.3f} µs per call, {speedup:.0f}× the interpreter over these calls "
          f"(targets ≤ 1 µs and ≥ 20×: {verdict(worst_fast <= 1 and speedup >= 20)})")
    print(f"evaluate():  ≤ {worst_evaluate:.3f} µs per call, the verdict object included "
          f"(target ≤ 1 µs: {verdict(worst_evaluate <= 1)})")
    print(f"FilterChain.evaluate(): ≤ {worst_chain:.3f} µs per call (target ≤ 1 µs: {verdict(worst_chain <= 1)})\n")

    table = table_timings(FILTER)
    n = table["rows"]
    print(f"\npolicy table, {n} x86_64 syscalls:")
    print(f"  bpfsim table --arch x86_64 --json:{table['cli'] * 1e3:8.1f} ms  "
          f"({table['cli'] / n * 1e6:.0f} µs/syscall; `python -c pass` alone: {table['python'] * 1e3:.1f} ms)")
    print(f"  policy_table() in process:         {table['api_warm'] * 1e3:8.1f} ms  "
          f"(first call, with compiling: {table['api_cold'] * 1e3:.1f} ms)")
    labels = {"command": "ceccomp emu per syscall, its command", "native": "... its native binary directly"}
    for kind, label in labels.items():
        if f"ceccomp_{kind}" not in table:
            continue
        total, differ = table[f"ceccomp_{kind}"], table[f"differ_{kind}"]
        ratio = total / table["cli"]
        target = f"target ≥ 100×: {verdict(ratio >= 100)}" if kind == "command" else "no target"
        print(f"  {label + ':':<35}{total * 1e3:8.1f} ms  ({total / n * 1e6:.0f} µs/syscall) -> bpfsim's "
              f"command {ratio:.0f}× faster, in process {total / table['api_warm']:.0f}× ({target})")
        print(f"    same action for {n - len(differ)}/{n}; differ: {', '.join(differ) or 'none'}")
    if "ceccomp_native" not in table:
        print("  ceccomp: n/a (pip install ceccomp, or: pip install -e '.[bench]')")

    audit = audit_timings(prog)
    print("\nlint and diff, in process, x86_64 and i386 calls:")
    print(f"  lint of the profile:                {audit['lint'] * 1e3:8.1f} ms  ({audit['findings']} findings)")
    print(f"  diff with its SYS_ADMIN variant:    {audit['diff'] * 1e3:8.1f} ms  ({audit['differences']} differences)")

    cost = kernel_cost(prog)
    print("\nkernel: extra time per system call with the same filter attached (forked children, ctypes loop)")
    if isinstance(cost, str):
        print(f"  {cost}")
    else:
        for (label, (nr, args)), extra in zip(KERNEL_CALLS.items(), cost):
            function, words = verified(prog).function, SeccompData(nr, "x86_64", 0, args).words()
            ours = best_time(lambda: function(words), 20_000) * 1e9
            multiple = f"{ours / extra:.1f}×" if extra > 0 else "n/a (below the noise)"
            print(f"  {label:<24} kernel +{extra:5.0f} ns   compiled {ours:4.0f} ns = {multiple}")
        print("  (getppid is always allowed, so the kernel's action cache skips the filter; the others run it)")

    print(f"\nfuzz throughput: {fuzz_throughput()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
