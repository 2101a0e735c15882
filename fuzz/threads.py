"""Scripts of several threads against the kernel: installs, TSYNC, clone, fork, strict mode,
user dispatch and plain calls, run by ``bpfsim.process`` and by the kernel oracle's scene
(``bpfsim.kernel.run_scene``), then compared step by step and thread by thread.

A script is a list of ``SceneStep`` (the oracle's own vocabulary); ``play`` runs it on a
``Process`` with the addresses the kernel's subject really used (call site, sock_fprog, buffers),
``compare`` lists every difference. ``random_script`` makes the fuzz mode's scripts.
"""

from __future__ import annotations

import errno
import functools
import os
import random
import struct
import time
from dataclasses import dataclass

from bpfsim import Program, abi
from bpfsim import kernel as live
from bpfsim.kernel import SceneStep
from bpfsim.process import Process, Thread, fork_call
from bpfsim.seccomp import CallResult, PR_SET_SYSCALL_USER_DISPATCH
from bpfsim.syscalls import syscall_number
from bpfsim.target import Target

NO_SUCH_CALL = 1500  # above every arch's table


@dataclass(frozen=True)
class Calls:
    """The numbers of the calls scripts make and filters name, on one arch. ``fork`` is clone's
    number where the arch has no fork(2) (the oracle then makes glibc's clone(SIGCHLD))."""

    seccomp: int
    prctl: int
    clone: int
    fork: int
    getpid: int
    gettid: int
    getuid: int


@functools.cache
def calls(arch: str) -> Calls:
    """The ``Calls`` of ``arch``, from its syscall table."""
    number = functools.partial(syscall_number, arch=arch)
    return Calls(number("seccomp"), number("prctl"), number("clone"), number(fork_call(arch)),
                 number("getpid"), number("gettid"), number("getuid"))


def natural(nr: int, thread: Thread) -> int | None:
    """What a harmless call returns when it runs (the oracle's calls are all harmless)."""
    low, known = nr & thread.arch.nr_mask, calls(thread.arch.name)
    if low == known.getpid:
        return thread.process.pid
    if low == known.gettid:
        return thread.tid
    if low == known.getuid:
        return os.getuid()
    if live.is_nonexistent(low - (1 << 32) if low >= 1 << 31 else low, thread.arch.name):
        return -errno.ENOSYS
    return None


@dataclass
class Observed:
    """One step as seen by one side, in the model's ids."""

    fate: str
    retval: object
    signal: int | None
    trace_message: int | None
    notified: bool
    siginfo: tuple | None


def play(programs: list[Program], script: list[SceneStep], scene: live.Scene, *, tracer: bool = False,
         no_new_privs: bool = True, kernel: str | None = None) -> tuple[Process, dict[int, Thread], list[Observed]]:
    """Run ``script`` on a fresh ``Process`` the way the kernel's subject ran it, on ``kernel``
    (a lab kernel's name; None for this machine's)."""
    process = Process(tracer=tracer, no_new_privs=no_new_privs, cap_sys_admin=os.geteuid() == 0,
                      instruction_pointer=scene.call_site, kernel=kernel, arch=scene.arch)
    slots: dict[int, Thread] = {0: process.main}
    seen = []
    for step in script:
        thread = slots.get(step.slot)
        if thread is None or not thread.alive:
            seen.append(Observed("not run", None, None, None, False, None))
            continue
        if step.selector is not None:
            thread.selector = step.selector
        result = _one(thread, step, programs, scene)
        if step.kind != "call" and result.child is not None:
            slots[step.new_slot] = result.child if step.kind == "clone" else result.child.main
        seen.append(_observed(result, step, thread))
    return process, slots, seen


def _one(thread: Thread, step: SceneStep, programs: list[Program], scene: live.Scene) -> CallResult:
    known = calls(scene.arch)
    if step.kind == "clone":
        return thread.clone(scene.clone_args(step.new_slot), instruction_pointer=scene.clone_site)
    if step.kind == "fork":
        return thread.fork()
    args = list(step.args) + [0] * (6 - len(step.args))
    if step.pointer is None:
        return thread.call(step.nr, args)
    index, what = step.pointer
    if what == "buf":
        thread.pointer = scene.buf_address(step.slot)
    elif what == "selector":
        thread.pointer = scene.selector_address(step.slot)
    else:
        thread.pointer = scene.fprog_address(what)
    if step.nr == known.seccomp and index == 2:
        arg = programs[what] if isinstance(what, int) else (step.buf & 0xFFFFFFFF if args[0] == 2 else True)
        return thread.seccomp(args[0], args[1], arg)
    if step.nr == known.prctl and index == 2 and isinstance(what, int):
        return thread.prctl(args[0], args[1], programs[what], args[3], args[4])
    if step.nr == known.prctl and index == 4 and what == "selector":
        return thread.prctl(args[0], args[1], args[2], args[3], True)
    args[index] = thread.pointer
    return thread.call(step.nr, args)


def _observed(result: CallResult, step: SceneStep, thread: Thread) -> Observed:
    fate = result.killed or "returned"
    retval = result.retval
    if result.notified:
        retval = -live.NOTIF_ERRNO  # the oracle's supervisor answers every notification so
    elif result.listener is not None:
        retval = "fd"
    elif fate == "returned" and retval is None:
        retval = natural(step.nr, thread)
    info = None if result.siginfo is None else _siginfo(result.siginfo)
    return Observed(fate, retval if fate == "returned" else None, result.signal if result.killed else None,
                    result.trace_message, result.notified, info)


def _siginfo(info) -> tuple:
    return (info.si_signo, info.si_code, info.si_errno, info.si_syscall, info.si_arch, info.si_call_addr)


def kernel_view(script: list[SceneStep], scene: live.Scene, slots: dict[int, Thread]) -> list[Observed]:
    """The kernel's outcomes, with its thread and process ids renamed to the model's."""
    ids, known, mask = {}, calls(scene.arch), Target.of(scene.arch).nr_mask
    for slot, real in scene.threads.items():
        if slot in slots:
            ids[real.tid], ids[real.pid] = slots[slot].tid, slots[slot].process.pid
    seen = []
    for step, outcome in zip(script, scene.outcomes):
        retval = outcome.retval
        install = step.nr == known.seccomp and step.args[:1] == (1,) and outcome.siginfo is None
        flags = step.args[1] if len(step.args) > 1 else 0
        if retval is not None and (step.kind != "call" or install and flags & abi.SECCOMP_FILTER_FLAG_TSYNC
                                   or step.nr & mask in (known.getpid, known.gettid) and outcome.siginfo is None):
            retval = ids.get(retval, retval)  # a thread or process id (not a number that equals one)
        if install and flags & abi.SECCOMP_FILTER_FLAG_NEW_LISTENER and retval is not None and retval > 0:
            retval = "fd"
        info = None if outcome.siginfo is None else _siginfo(outcome.siginfo)
        seen.append(Observed(outcome.fate, retval, outcome.signal, outcome.trace_message, outcome.notified, info))
    return seen


def compare(programs, script, *, tracer: bool = False, no_new_privs: bool = True,
            oracle: live.Oracle | None = None) -> list[str]:
    """Every difference between bpfsim and the kernel ``oracle`` asks (the shared default one:
    this machine's, or the lab guest of ``$BPFSIM_ORACLE_KERNEL``) on ``script``: per step,
    then per thread."""
    oracle = oracle or live.default_oracle()
    scene = oracle.run_scene(programs, script, tracer=tracer, no_new_privs=no_new_privs)
    process, slots, mine = play(programs, script, scene, tracer=tracer, no_new_privs=no_new_privs,
                                kernel=oracle.guest.name if oracle.guest else None)
    theirs = kernel_view(script, scene, slots)
    problems = [f"step {i} {script[i]}: bpfsim {a}, kernel {b}" for i, (a, b) in enumerate(zip(mine, theirs))
                if a != b]
    for slot, thread in slots.items():
        real = scene.threads.get(slot)
        if real is None or real.alive != thread.alive:
            problems.append(f"slot {slot}: bpfsim alive={thread.alive}, kernel {real}")
        elif thread.alive:
            mine_state = (thread.mode, thread.no_new_privs, tuple(p.to_bytes() for p in thread))
            real_state = (real.mode, real.no_new_privs, real.filters)
            if mine_state != real_state:
                problems.append(f"slot {slot}: bpfsim mode/nnp/filters {mine_state[:2]} {len(mine_state[2])}, "
                                f"kernel {real_state[:2]} {len(real_state[2])}")
    return problems


# ------------------------------------------------------------------------------ the fuzz mode

_ACTIONS = (abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_LOG, abi.SECCOMP_RET_ERRNO | 1, abi.SECCOMP_RET_ERRNO,
            abi.SECCOMP_RET_ERRNO | 13, abi.SECCOMP_RET_TRAP | 5, abi.SECCOMP_RET_TRACE | 7,
            abi.SECCOMP_RET_USER_NOTIF, abi.SECCOMP_RET_KILL_THREAD, abi.SECCOMP_RET_KILL_PROCESS)
_FLAGS = (0, 0, 0, abi.SECCOMP_FILTER_FLAG_TSYNC, abi.SECCOMP_FILTER_FLAG_TSYNC | abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
          abi.SECCOMP_FILTER_FLAG_NEW_LISTENER, abi.SECCOMP_FILTER_FLAG_LOG)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def random_filter(rng: random.Random, known: Calls) -> Program:
    """A few calls of the scripts' set get an action each; the rest are allowed (mostly)."""
    body = [_insn(0x20, 0, 0, 0)]
    vital = (known.seccomp, known.clone, known.fork, known.prctl)
    for nr in rng.sample(sorted({*vital, known.getpid, known.gettid, NO_SUCH_CALL}), rng.randint(1, 3)):
        action = rng.choice(_ACTIONS)
        if nr in vital and rng.random() < 0.6:
            action = rng.choice(_ACTIONS[:5])  # keep most scripts going
        body += [_insn(0x15, 0, 1, nr), _insn(0x06, 0, 0, action)]
    body.append(_insn(0x06, 0, 0, abi.SECCOMP_RET_ALLOW if rng.random() < 0.9 else rng.choice(_ACTIONS)))
    return Program.from_bytes(b"".join(body))


def random_script(rng: random.Random, known: Calls, programs: int, length: int) -> list[SceneStep]:
    """Random installs (seccomp and prctl, TSYNC, listeners), clones, forks, calls, strict mode,
    action and size queries, and user dispatch, over up to 8 threads."""
    used, script = [0], []
    for _ in range(length):
        slot = rng.choice(used)
        roll = rng.random()
        if roll < 0.3:
            script.append(SceneStep(slot, known.seccomp, (1, rng.choice(_FLAGS)), pointer=(2, rng.randrange(programs))))
        elif roll < 0.36:
            script.append(SceneStep(slot, known.prctl, (abi.PR_SET_SECCOMP, 2), pointer=(2, rng.randrange(programs))))
        elif roll < 0.5 and len(used) < 8:
            new = len(used)
            used.append(new)
            script.append(SceneStep(slot, kind="fork" if rng.random() < 0.2 else "clone", new_slot=new))
        elif roll < 0.53:
            script.append(SceneStep(slot, known.prctl, (abi.PR_SET_SECCOMP, 1)))
        elif roll < 0.57:
            script.append(SceneStep(slot, known.seccomp, (2, rng.choice((0, 0, 1))), pointer=(2, "buf"),
                                    buf=rng.choice((*_ACTIONS, 0x7FFE0000, 0x00050001))))
        elif roll < 0.6:
            script.append(SceneStep(slot, known.seccomp, (3, rng.choice((0, 0, 1))), pointer=(2, "buf")))
        elif roll < 0.63:
            script.append(SceneStep(slot, known.prctl, (PR_SET_SYSCALL_USER_DISPATCH, 1, 0, 0), pointer=(4, "selector"),
                                    selector=rng.choice((0, 0, 1))))
        else:
            nr = rng.choice((known.getpid, known.gettid, NO_SUCH_CALL, known.getpid | 1 << 32))
            script.append(SceneStep(slot, nr, (rng.randrange(4),), selector=rng.choice((None, None, 0, 1))))
    return script


@dataclass
class Stats:
    """``scripts`` compared (``steps`` in all); ``out_of_reach``: scripts the kernel's scene could
    not be observed for (``Oracle.run_scene``'s EOPNOTSUPP), not counted in ``scripts``."""

    scripts: int = 0
    steps: int = 0
    seconds: float = 0.0
    divergences: list = None
    out_of_reach: int = 0

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def run(scripts: int, seed: int, *, seconds: float | None = None, length: int = 24,
        oracle: live.Oracle | None = None) -> Stats:
    """Random scripts against the kernel ``oracle`` asks (see ``compare``); every divergence is
    kept with its seed and script."""
    oracle = oracle or live.default_oracle()
    known = calls(oracle.target.name)
    rng = random.Random(seed)
    stats = Stats(divergences=[])
    start = time.monotonic()
    while (stats.scripts < scripts) if seconds is None else (time.monotonic() - start < seconds):
        programs = [random_filter(rng, known) for _ in range(4)]
        script = random_script(rng, known, len(programs), length)
        tracer = rng.random() < 0.3
        try:
            problems = compare(programs, script, tracer=tracer, oracle=oracle)
        except live.KernelError as failure:
            if failure.errno != errno.EOPNOTSUPP:
                raise
            stats.out_of_reach += 1
            continue
        if problems:
            stats.divergences.append((programs, script, tracer, problems))
        stats.scripts += 1
        stats.steps += len(script)
    stats.seconds = time.monotonic() - start
    return stats
