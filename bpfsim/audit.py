"""What is wrong with a filter stack: findings with a kind, a severity, the filter and pc, one
sentence, and, where the finding is about behaviour, an input whose verdict ``evaluate`` gave.

Behavioural findings come from the policy tables of the arches the stack lets through (bpfsim/
explore.py: every verdict of every call with its condition and witness); structural ones from
the code (reachability and liveness, as bpfsim/semantics.py defines reads and writes) and from
the kernel's own load checks on the chosen kernel profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from . import abi
from . import explore
from . import semantics as sem
from .analysis import EXPLORATION_BUDGET, PolicyRow, policy_row, policy_table, witness_dict, witness_text
from .explore import work_counter
from .arches import arches_checked
from .differences import diff
from .data import SeccompData
from .errors import SeccompError, VerifyError
from .interpreter import trace
from .profiles import Kernel
from .program import Program
from .seccomp import Action, FilterChain, Verdict, evaluate
from .syscalls import known_arches, syscall_table
from .target import Target
from .verifier import verified

SEVERITIES = ("info", "warning", "error")
KINDS = ("no-arch-check", "x32-bypass", "compat-bypass", "arg-low-word-only", "permissive-default", "escape-route",
         "unreachable", "constant-test", "dead-store", "enosys-without-tracer", "kernel-refuses", "path-budget",
         "never-decides", "incomplete")
_PERMISSIVE = frozenset({Action.ALLOW, Action.LOG})
# A compat arch whose calls reach the same kernel through another table (arch/*/: compat entry).
_COMPAT = {"x86_64": "i386", "aarch64": "arm", "s390x": "s390", "ppc64le": "ppc", "ppc64": "ppc",
           "mips64": "mips", "mipsel64": "mipsel", "parisc64": "parisc"}
# Calls that do the same work: denying one and allowing another leaves the work possible.
_SIBLINGS = (("execve", "execveat"), ("open", "openat", "openat2", "creat"), ("clone", "clone3", "fork", "vfork"))
# Multiplexers: one syscall whose args[0] selects the call while the call's own arguments stay in
# memory, which a filter cannot read: socketcall(2) (net/socket.c:__sys_socketcall, the calls of
# include/uapi/linux/net.h) and ipc(2) (ipc/syscall.c:ksys_ipc, the calls of include/uapi/linux/
# ipc.h). Arches that have one have the direct calls too, in the syscall tables bpfsim generates:
# i386 since 4.3 for sockets (commit 9dea5dc921b5) and 5.1 for ipc (commit 0d6040d46817), s390
# since 4.3 (commit 977108f89c98); a call whose direct name the arch lacks has no sibling.
_MULTIPLEXED = {"socketcall": ("SYS_SOCKET", "SYS_BIND", "SYS_CONNECT", "SYS_LISTEN", "SYS_ACCEPT",
                               "SYS_GETSOCKNAME", "SYS_GETPEERNAME", "SYS_SOCKETPAIR", "SYS_SEND", "SYS_RECV",
                               "SYS_SENDTO", "SYS_RECVFROM", "SYS_SHUTDOWN", "SYS_SETSOCKOPT", "SYS_GETSOCKOPT",
                               "SYS_SENDMSG", "SYS_RECVMSG", "SYS_ACCEPT4", "SYS_RECVMMSG", "SYS_SENDMMSG"),
                "ipc": ("SEMOP", "SEMGET", "SEMCTL", "SEMTIMEDOP", "MSGSND", "MSGRCV", "MSGGET", "MSGCTL",
                        "SHMAT", "SHMDT", "SHMGET", "SHMCTL")}
# io_uring operations run without passing seccomp (io_uring/opdef.c: IORING_OP_OPENAT, _CONNECT, ...).
_IO_URING_WORK = ("openat", "openat2", "connect", "socket", "accept", "accept4", "sendmsg", "recvmsg", "read",
                  "write", "unlinkat", "renameat2", "mkdirat", "linkat", "symlinkat")


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding. ``filter``: install-order index (None for the stack as a whole); ``witness``:
    an input showing the behaviour, with ``verdict`` the stack's verdict for it; ``arches``: the
    arches whose calls it is about (empty for a finding about the code or the stack alone)."""

    kind: str
    severity: str
    filter: int | None
    pc: int | None
    message: str
    witness: SeccompData | None = None
    verdict: Verdict | None = None
    arches: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """``{"kind", "severity", "filter", "pc", "message", "witness"}`` (issue #15), then ``arches``."""
        return {"kind": self.kind, "severity": self.severity, "filter": self.filter, "pc": self.pc,
                "message": self.message, "witness": witness_dict(self.witness, self.verdict),
                "arches": list(self.arches)}

    def __str__(self) -> str:
        where = "stack" if self.filter is None else f"filter {self.filter}" + ("" if self.pc is None else f" pc {self.pc}")
        on = f" (on {', '.join(self.arches)})" if self.arches else ""
        shown = ("" if self.witness is None
                 else f" [e.g. {_call_text(self.witness)}: {abi.describe_return(self.verdict.ret)}]")
        return f"{where}: {self.severity}: {self.kind}: {self.message}{on}{shown}"


def _call_text(data: SeccompData) -> str:
    """``i386 execve (nr 11) all arguments 0``: the call as its own arch's table names it."""
    arch = _table_arch(data)
    name = syscall_table(arch).get(data.nr) or "no syscall"
    return f"{arch} {name} (nr {data.nr:#x}) {witness_text(data)}" if arch == "x32" else \
        f"{arch} {name} (nr {data.nr}) {witness_text(data)}"


def _table_arch(data: SeccompData) -> str:
    name = abi.arch_name(data.arch) or "x86_64"
    return "x32" if name == "x86_64" and data.nr & abi.X32_SYSCALL_BIT else name


def at_or_above(findings: Iterable[Finding], severity: str) -> list[Finding]:
    """The findings of ``severity`` or worse (``--fail-on``)."""
    level = SEVERITIES.index(severity)
    return [f for f in findings if SEVERITIES.index(f.severity) >= level]


def _permissive(row: PolicyRow, kernel: Kernel):
    """The first verdict of ``row`` that lets the call run, with its witness, else None."""
    return next((p for p in row.verdicts if p.verdict is not None and p.verdict.action in _PERMISSIVE), None)


def _denied(row: PolicyRow) -> bool:
    """No input lets the call run (proved: the row is complete and no verdict is permissive)."""
    return row.complete and row.filter is not None and all(
        p.verdict is not None and p.verdict.action not in _PERMISSIVE for p in row.verdicts)


def _deciding_pc(programs, data: SeccompData, verdict: Verdict) -> int | None:
    """The pc of the return that decided ``verdict`` in its filter."""
    if verdict.filter is None:
        return None
    return trace(programs[verdict.filter], data)[-1].pc


def _finding(kind, severity, programs, message, witness=None, kernel=None, arches=()) -> Finding:
    """A finding shown by ``witness`` (judged here by ``evaluate``), placed at the return that decided it."""
    verdict = filter_index = pc = None
    if witness is not None:
        verdict = evaluate(programs, witness, kernel=kernel)
        filter_index = verdict.filter
        pc = _deciding_pc(programs, witness, verdict)
    return Finding(kind, severity, filter_index, pc, message, witness, verdict, tuple(arches))


def _merged(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per kind and message, for every arch it was found on: the first arch's
    witness shows it."""
    merged: dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.kind, finding.severity, finding.message)
        first = merged.get(key)
        if first is None:
            merged[key] = finding
        else:
            arches = first.arches + tuple(a for a in finding.arches if a not in first.arches)
            merged[key] = replace(first, arches=arches)
    return list(merged.values())


def _load_findings(programs: Sequence, kernel: Kernel) -> list[Finding]:
    """kernel-refuses (the kernel's load and attach checks) and path-budget."""
    chain = FilterChain(kernel=kernel)
    for index, prog in enumerate(programs):
        try:
            chain.attach(prog)
        except VerifyError as error:
            return [Finding("kernel-refuses", "error", index, error.pc,
                            f"Linux {kernel} refuses this filter with errno {error.errno} "
                            f"({abi.errno_name(error.errno)}): {error.message}")]
        except SeccompError as error:
            return [Finding("kernel-refuses", "error", index, None,
                            f"Linux {kernel} refuses to attach this filter with errno {error.errno} "
                            f"({abi.errno_name(error.errno)}): {error}")]
    used, limit = chain.path_length(), kernel.max_insns_per_path
    return [Finding("path-budget", "warning" if used * 4 > limit * 3 else "info", None, None,
                    f"the stack uses {used} of the {limit} instructions a thread's filters may total "
                    f"(kernel/seccomp.c MAX_INSNS_PER_PATH, converted length plus 4 per filter, Linux {kernel})")]


def _code_findings(programs: Sequence) -> list[Finding]:
    """unreachable and dead-store, from each filter's code."""
    found = []
    for index, prog in enumerate(programs):
        reachable = sem.reachable(prog.program)
        start = None
        for pc in range(len(reachable) + 1):
            if pc < len(reachable) and not reachable[pc]:
                start = pc if start is None else start
            elif start is not None:
                last = pc - 1
                where = f"pc {start}" if start == last else f"pcs {start}-{last}"
                found.append(Finding("unreachable", "info", index, start,
                                     f"{where}: no path from the first instruction reaches "
                                     f"{'it' if start == last else 'them'}"))
                start = None
        live = explore.liveness(prog.code)
        for pc, (kind, k, t, f) in enumerate(prog.code):
            if not reachable[pc]:
                continue
            row = sem.ROWS[kind]
            if row.is_return or row.is_conditional or row.jump or not row.writes:
                continue
            after = live[pc + 1] if pc + 1 < len(live) else 0
            if not after & explore.liveness_bits(row.writes, k):
                what = f"M[{k}]" if "m" in row.writes else ("A" if "a" in row.writes else "X")
                verb = "stored in" if "m" in row.writes else "loaded into"
                found.append(Finding("dead-store", "info", index, pc,
                                     f"the value {verb} {what} is never read: every path overwrites it or returns first"))
    return found


def _constant_tests(programs: Sequence, budget: int) -> list[Finding]:
    """constant-test: a condition that goes one way on every path, for every input."""
    found = []
    for index, prog in enumerate(programs):
        branches: dict = {}
        try:
            explore.explore(prog, (), work_counter(budget), branches)
        except explore.BudgetExhausted:
            found.append(Finding("incomplete", "warning", index, None,
                                 "constant tests not checked: the exploration ran out of budget"))
            continue
        for pc, taken in sorted(branches.items()):
            kind, k, t, f = prog.code[pc]
            if t != f and len(taken) == 1:
                way = "true" if True in taken else "false"
                found.append(Finding("constant-test", "info", index, pc,
                                     f"this test is {way} on every path that reaches it, whatever the input"))
    return found


def _arch_findings(programs, arches: Sequence[str], tables: dict, kernel: Kernel, budget: int) -> list[Finding]:
    """no-arch-check, x32-bypass and compat-bypass."""
    found = []
    checked = arches_checked(programs)
    if not checked.checked or checked.others_pass:
        intended = judged_arches(programs)
        foreign = [a for a in known_arches() if a not in checked.passed and a not in intended and a != "x32"
                   and abi.arch_info(a).seccomp]
        through = {}
        for arch in foreign:
            shown = _zero_argument_call_through(programs, arch, kernel)
            if shown is None and not through:  # a witness with arguments, from the table, for the first only
                table = sorted(_table(programs, arch, tables, kernel, budget), key=lambda r: r.name != "execve")
                shown = next((p.witness for row in table for p in [_permissive(row, kernel)] if p is not None), None)
            if shown is not None:
                through[arch] = shown
        if through:
            what = ("the stack never checks the architecture" if not checked.checked
                    else "calls of an architecture the stack never names get through")
            found.append(_finding("no-arch-check", "error", programs,
                                  f"{what}: calls of other arches are judged by their numbers as if they were "
                                  f"{', '.join(intended)} calls", next(iter(through.values())), kernel, through))
    pairs = [("x86_64", "x32", "x32-bypass")] + [(n, c, "compat-bypass") for n, c in _COMPAT.items()]
    for native, other, kind in pairs:
        if native not in arches or other not in known_arches():
            continue
        native_rows = {r.name: r for r in _table(programs, native, tables, kernel, budget)}
        unfiltered = kernel.unfiltered_calls(Target.of(native))
        if all(_denied(row) for row in native_rows.values() if row.nr not in unfiltered):
            continue  # no native call the filters judge runs: no native policy to bypass
        bypassed = []
        for row in _table(programs, other, tables, kernel, budget):
            twin = native_rows.get(row.name)
            hit = _permissive(row, kernel)
            if twin is not None and hit is not None and _denied(twin) and not _enosys(twin):
                bypassed.append((row.name, hit))
        if bypassed:
            names = ", ".join(name for name, _ in bypassed[:8]) + (" ..." if len(bypassed) > 8 else "")
            found.append(_finding(kind, "error", programs,
                                  f"{len(bypassed)} call(s) denied to {native} get through as {other} calls: {names}",
                                  bypassed[0][1].witness, kernel, (other,)))
    return found


def _zero_argument_call_through(programs, arch: str, kernel: Kernel) -> SeccompData | None:
    """A call of ``arch`` with all arguments 0 that the stack lets run (execve first), else None."""
    for nr in sorted(syscall_table(arch), key=lambda nr: syscall_table(arch)[nr] != "execve"):
        data = SeccompData(nr, arch)
        if evaluate(programs, data, kernel=kernel).action in _PERMISSIVE:
            return data
    return None


def _enosys(row: PolicyRow) -> bool:
    """Every verdict is ERRNO(ENOSYS): "not implemented", which asks callers to fall back."""
    return all(p.verdict is not None and p.verdict.errno == abi.errno_number("ENOSYS", p.verdict.arch)
               for p in row.verdicts)


def _table(programs, arch: str, tables: dict, kernel: Kernel, budget: int) -> list[PolicyRow]:
    if arch not in tables:
        tables[arch] = policy_table(programs, arch, kernel=kernel, budget=budget)
    return tables[arch]


def _behaviour_findings(programs, arch: str, rows: list[PolicyRow], kernel: Kernel, budget: int) -> list[Finding]:
    """permissive-default, escape-route, enosys-without-tracer and incomplete, for calls of ``arch``."""
    found = []
    by_name = {r.name: r for r in rows if r.name}
    unused = max(syscall_table(arch)) + 1
    default = evaluate(programs, SeccompData(unused, arch), kernel=kernel)
    if default.action in _PERMISSIVE:
        found.append(_finding("permissive-default", "warning", programs,
                              f"numbers no syscall has (above the arch's table, where new syscalls go) get "
                              f"{default.action.name}: a deny-list lets every future syscall through",
                              SeccompData(unused, arch), kernel, (arch,)))
    groups = list(_SIBLINGS) + [("io_uring_setup",) + _IO_URING_WORK]
    for group in groups:
        present = [by_name[n] for n in group if n in by_name]
        if group[0] == "io_uring_setup":
            if not present or present[0].name != "io_uring_setup":
                continue
            allowed = [present[0]] if _permissive(present[0], kernel) else []
            denied = [r for r in present[1:] if _denied(r) and not _enosys(r)]
        else:
            allowed = [r for r in present if _permissive(r, kernel)]
            denied = [r for r in present if _denied(r) and not _enosys(r)]
        if allowed and denied:
            hit = _permissive(allowed[0], kernel)
            why = (": io_uring operations never pass seccomp" if group[0] == "io_uring_setup" else "")
            found.append(_finding("escape-route", "warning", programs,
                                  f"{', '.join(r.name for r in denied)} denied, but "
                                  f"{', '.join(r.name for r in allowed)} allowed{why}", hit.witness, kernel, (arch,)))
    found += _multiplexed_findings(programs, arch, by_name, kernel, budget)
    for tracing in (Action.TRACE, Action.USER_NOTIF):
        hit = next((p for r in rows for p in r.verdicts if p.verdict is not None and p.verdict.action == tracing), None)
        if hit is not None:
            whom = "a tracer" if tracing == Action.TRACE else "a listener"
            found.append(_finding("enosys-without-tracer", "warning", programs,
                                  f"{tracing.name} verdicts fail with ENOSYS unless {whom} is attached "
                                  f"(kernel/seccomp.c:__seccomp_filter)", hit.witness, kernel, (arch,)))
    incomplete = [r.name or str(r.nr) for r in rows if not r.complete]
    if incomplete:
        found.append(Finding("incomplete", "warning", None, None,
                             f"not proved for {len(incomplete)} call(s) ({', '.join(incomplete[:5])}): "
                             "the exploration ran out of budget, so findings about them may be missing",
                             arches=(arch,)))
    return found


def _multiplexed_findings(programs, arch: str, by_name: dict, kernel: Kernel, budget: int) -> list[Finding]:
    """escape-route through socketcall(2)/ipc(2): a call denied, or allowed only for some
    arguments, whose multiplexed form ``mux(CALL, ...)`` gets through (args[0] pinned to CALL)."""
    found = []
    constants = abi.constant_numbers(arch)
    for mux, calls in _MULTIPLEXED.items():
        if mux not in by_name:
            continue
        for call in calls:
            direct = by_name.get(call.removeprefix("SYS_").lower())
            if direct is None:
                continue
            hit = next((p for value in _call_values(mux, constants[call], arch)
                        for p in [_permissive(policy_row(programs, by_name[mux].nr, arch, mux, kernel=kernel,
                                                         budget=budget, pinned={0: value}), kernel)]
                        if p is not None), None)
            if hit is None:
                continue
            shown = f"{mux}({call})"
            if hit.witness.args[0] != constants[call]:
                shown += f" (as args[0]={hit.witness.args[0]:#x}, which the kernel reads as {call})"
            if _denied(direct) and not _enosys(direct):
                message = f"{direct.name} denied, but {shown} allowed"
            elif _permissive(direct, kernel) and any(
                    p.verdict is not None and p.verdict.action not in _PERMISSIVE for p in direct.verdicts):
                message = (f"the argument checks of {direct.name} are bypassed through {shown}: its "
                           "arguments are in memory, which seccomp cannot read")
            else:
                continue
            found.append(_finding("escape-route", "warning", programs, message, hit.witness, kernel, (arch,)))
    return found


def _call_values(mux: str, call: int, arch: str) -> tuple[int, ...]:
    """Values of args[0] that make ``mux`` do ``call``: the call itself; for ipc, with a version
    in the high 16 bits, which only SHMAT's version 1 heeds (ipc/syscall.c:ksys_ipc: ``version =
    call >> 16; call &= 0xffff``); on a 64-bit arch, with high bits the int or unsigned int
    parameter drops (net/socket.c: socketcall's ``int call``; ksys_ipc's ``unsigned int call``)."""
    values = [call]
    if mux == "ipc":
        values.append(call | 2 << 16)
    if abi.arch_info(arch).bits == 64:
        values.append(call | 1 << 32)
    return tuple(values)


def _low_word_findings(programs, tables: dict[str, list[PolicyRow]], kernel: Kernel) -> list[Finding]:
    """arg-low-word-only: a filter loads the low half of a 64-bit argument and never its high half.
    It is reported for the 64-bit arches whose paths reach that load, shown by a call with the high
    half changed that still gets its verdict (one that lets the call run when there is one)."""
    shown: dict[tuple[int, int, int], dict[str, SeccompData]] = {}  # (filter, pc, arg) -> arch -> witness
    for arch, rows in tables.items():
        info = abi.arch_info(arch)
        if info.bits != 64:
            continue
        for index, prog in enumerate(programs):
            loads = {k: pc for pc, (kind, k, t, f) in enumerate(prog.code) if kind == sem.LD_ABS}
            for arg in range(6):
                low, high = (4 + 2 * arg, 5 + 2 * arg) if info.byteorder == "little" else (5 + 2 * arg, 4 + 2 * arg)
                if low in loads and high not in loads:
                    wider = _wider_with_same_verdict(programs, rows, arg, kernel)
                    if wider is not None:
                        shown.setdefault((index, loads[low], arg), {})[arch] = wider
    found = []
    for (index, pc, arg), witnesses in sorted(shown.items()):
        witness = next(iter(witnesses.values()))
        message = (f"args[{arg}] is compared on its low 32 bits only: a 64-bit value with the same low half "
                   "gets the same verdict")
        found.append(Finding("arg-low-word-only", "warning", index, pc, message, witness,
                             evaluate(programs, witness, kernel=kernel), tuple(witnesses)))
    return found


def _wider_with_same_verdict(programs, rows: list[PolicyRow], arg: int, kernel: Kernel) -> SeccompData | None:
    """A witness of a verdict that depends on ``args[arg]``, with bit 32 of that argument set, that
    still gets the same verdict: permissive verdicts tried first."""
    candidates = [p for r in rows if r.depends_on_args for p in r.verdicts
                  if p.witness is not None and f"args[{arg}]" in p.condition]
    for hit in sorted(candidates, key=lambda p: p.verdict.action not in _PERMISSIVE):
        args = list(hit.witness.args)
        args[arg] |= 1 << 32
        wider = SeccompData(hit.witness.nr, hit.witness.arch, hit.witness.instruction_pointer, args)
        if evaluate(programs, wider, kernel=kernel).ret == hit.verdict.ret:
            return wider
    return None


def _never_decides(programs, arches: Sequence[str], kernel: Kernel, budget: int) -> list[Finding]:
    """never-decides: a filter whose removal changes no verdict of any judged arch."""
    found = []
    if len(programs) < 2:
        return found
    for index in range(len(programs)):
        others = programs[:index] + programs[index + 1:]
        differences = diff(programs, others, arches, kernel=kernel, budget=budget)
        if not differences:
            found.append(Finding("never-decides", "warning", index, None,
                                 f"removing this filter changes no verdict on {', '.join(arches)}: "
                                 "other filters always outrank it or agree with it"))
    return found


def judged_arches(programs: Sequence) -> list[str]:
    """The arches lint judges by default: those the stack lets through, else x86_64."""
    checked = arches_checked(programs)
    names = [n for n in checked.passed if abi.arch_info(n).seccomp]
    return names or [next((p.program.arch for p in programs if getattr(p.program, "arch", None)), None) or "x86_64"]


def lint(filters: Sequence, arches: str | Iterable[str] | None = None, *, kernel: Kernel | str | None = None,
         budget: int = EXPLORATION_BUDGET) -> list[Finding]:
    """Every finding about ``filters`` (a stack, install order) on ``kernel`` (default: the
    newest bpfsim models), judging ``arches`` (default: those the stack lets through)."""
    kernel = Kernel.of(kernel)
    programs = [Program.of(f) if not hasattr(f, "code") else f for f in filters]
    loaded = _load_findings(programs, kernel)
    if any(f.kind == "kernel-refuses" for f in loaded):
        return loaded
    programs = [verified(p) for p in programs]
    arches = judged_arches(programs) if arches is None else [arches] if isinstance(arches, str) else list(arches)
    tables: dict = {}
    found = loaded + _code_findings(programs) + _constant_tests(programs, budget)
    found += _arch_findings(programs, arches, tables, kernel, budget)
    judged = {arch: _table(programs, arch, tables, kernel, budget) for arch in arches}
    found += _merged(f for arch, rows in judged.items() for f in _behaviour_findings(programs, arch, rows, kernel, budget))
    found += _low_word_findings(programs, judged, kernel)
    found += _never_decides(programs, arches, kernel, budget)
    return sorted(found, key=lambda f: (-SEVERITIES.index(f.severity), f.filter if f.filter is not None else -1,
                                        f.pc if f.pc is not None else -1, f.kind))
