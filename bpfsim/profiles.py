"""``Kernel``: every seccomp fact that depends on the kernel version, in one table.

Each ``Fact`` names the mainline release it starts at, the kernel commit that made it and, where a
stable tree took the change, the first release of that tree known to have it. A backport whose
first release is not pinned is said so in its note and modelled as absent in that tree (only an
observed or cited release counts). bpfsim models 4.14 and later: from 4.14 on, filters rank their
actions by the signed compare of ``ACTION_ONLY`` (kernel/seccomp.c:seccomp_run_filters) and every
action bpfsim names exists or is an unknown value; older kernels ranked them differently.

The default is the newest version bpfsim models, 6.18, whose source (v6.18.2) and a 6.18.44
machine are the reference. ``Kernel("5.10.262")``, ``Kernel("6.1")`` and the lab's distro names
(``Kernel("debian-6.1-amd64")``, see ``DISTRO_KERNELS``) all parse.

Changes inside the modelled range that are not facts here, because no answer bpfsim gives depends
on them: the per-filter action cache (5.11, f9d480b6ffbe), shifts by X masked in the interpreter
(5.13, 28131e9d9333; the x86-64 and arm64 JITs always masked) and kills through force_sig_seccomp
(5.15, 307d522f5eb8). The x32 rule below changes what
an allowed call returns, which verdicts do not model. Syscall tables are v6.18.2's for every
version: before 6.11 x86_64 has no uretprobe (335), so an allowed call there fails with ENOSYS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import abi
from .distros import DISTRO_KERNELS
from .errors import UnknownKernelError
from .target import Target

Version = tuple[int, int, int]

OLDEST: Version = (4, 14, 0)
NEWEST: Version = (6, 18, 0)


@dataclass(frozen=True, slots=True)
class Fact:
    """One change to seccomp: ``since`` the mainline release, ``commit`` the change (12 hex
    digits, or ``None`` where it is older than every modelled kernel), ``backports`` the first
    release of each stable tree known to carry it. ``arches``: for a change that only some
    architectures have, each one's first release (the others never have it)."""

    key: str
    since: tuple[int, int]
    commit: str | None
    what: str
    backports: tuple[Version, ...] = ()
    note: str = ""
    arches: tuple[tuple[str, tuple[int, int]], ...] | None = None

    def holds(self, version: Version, arch: str | None = None) -> bool:
        if arch is not None and self.arches is not None:
            first = dict(self.arches).get(arch)
            return first is not None and version[:2] >= first
        if version[:2] >= self.since:
            return True
        return any(version[:2] == first[:2] and version >= first for first in self.backports)


FACTS: tuple[Fact, ...] = (
    # Filter flags of seccomp(SECCOMP_SET_MODE_FILTER); an unknown one is EINVAL.
    Fact("flag_tsync", (3, 17), "c2e1f2e30daa", "SECCOMP_FILTER_FLAG_TSYNC"),
    Fact("flag_log", (4, 14), "e66a39977985", "SECCOMP_FILTER_FLAG_LOG"),
    Fact("flag_spec_allow", (4, 17), "00a02d0c502a", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
    Fact("flag_new_listener", (5, 0), "6a21cc50f0c7", "SECCOMP_FILTER_FLAG_NEW_LISTENER"),
    Fact("flag_tsync_esrch", (5, 7), "51891498f2da", "SECCOMP_FILTER_FLAG_TSYNC_ESRCH (TSYNC with NEW_LISTENER)"),
    Fact("flag_wait_killable_recv", (5, 19), "c2aa2dfef243", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
         note="EINVAL on Debian's 5.10 guests, ENOENT (known) from 6.1 on (corpus/lab facts)"),
    # Actions a filter can return with their meaning; others are unknown values.
    Fact("action_kill_process", (4, 14), "4d3b0b05aae9", "SECCOMP_RET_KILL_PROCESS"),
    Fact("action_log", (4, 14), None, "SECCOMP_RET_LOG (with SECCOMP_GET_ACTION_AVAIL; commit not pinned here)"),
    Fact("action_user_notif", (5, 0), "6a21cc50f0c7", "SECCOMP_RET_USER_NOTIF"),
    Fact("unknown_action_kills_process", (5, 10), "4d671d922d51",
         "an unknown action kills the whole process (before: the thread, like KILL_THREAD)",
         note="picked by AUTOSEL for older stable trees (5.4.y and others); releases not pinned"),
    # seccomp(2) operations.
    Fact("op_get_action_avail", (4, 14), None, "SECCOMP_GET_ACTION_AVAIL (commit not pinned here)"),
    Fact("op_get_notif_sizes", (5, 0), "6a21cc50f0c7", "SECCOMP_GET_NOTIF_SIZES"),
    # User-notification ioctls and their flags.
    Fact("notif_flag_continue", (5, 5), "fb3c5386b382", "SECCOMP_USER_NOTIF_FLAG_CONTINUE"),
    Fact("ioctl_addfd", (5, 9), "7cf97b125455", "SECCOMP_IOCTL_NOTIF_ADDFD"),
    Fact("addfd_flag_send", (5, 14), "0ae71c7720e3", "SECCOMP_ADDFD_FLAG_SEND",
         note="EINVAL on Debian's 5.10 guests, ENOENT (known) from 6.1 on (corpus/lab facts)"),
    Fact("ioctl_set_flags", (6, 6), "48a1084a8b74", "SECCOMP_IOCTL_NOTIF_SET_FLAGS (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)",
         note="EINVAL on Debian's 5.10 and 6.1 guests, known on 6.12 (corpus/lab facts)"),
    # prctl(2) options beside seccomp.
    Fact("prctl_syscall_user_dispatch", (5, 11), "1446e1df9eb1",
         "PR_SET_SYSCALL_USER_DISPATCH (kernel/entry/syscall_user_dispatch.c); EINVAL before, as any "
         "unknown prctl option, and on an arch without the generic entry code (CONFIG_GENERIC_ENTRY: "
         "include/linux/syscall_user_dispatch.h's stub), such as arm64 up to 6.18",
         note="x86 from the start; s390 since its move to the generic entry (56e62a737028, 5.12), seen on "
              "Debian's 6.1 s390x guest; EINVAL seen on the 6.12 arm64 guest (tests/test_process.py under "
              "make lab-test); riscv and loongarch select GENERIC_ENTRY in 6.18, the release they "
              "began to is not pinned, so only 6.18 has it there",
         arches=(("x86_64", (5, 11)), ("i386", (5, 11)), ("s390x", (5, 12)), ("s390", (5, 12)),
                 ("riscv64", (6, 18)), ("riscv32", (6, 18)), ("loongarch64", (6, 18)))),
    Fact("dispatch_inclusive_on", (6, 17), "a2fc422ed757",
         "PR_SYS_DISPATCH_INCLUSIVE_ON (mode 2: dispatch the calls made from inside the region); "
         "EINVAL before, as any unknown mode"),
    # What a kill takes with it.
    Fact("coredump_kills_only_thread_group", (5, 16), "0258b5fd7c71",
         "a core-dumping kill (KILL_PROCESS; KILL_THREAD or an unknown action in the last thread) of a "
         "dumpable process no longer kills the other processes that share its mm (clone(CLONE_VM) "
         "without CLONE_THREAD)",
         note="recorded on Debian's 5.10 guests, x86_64 and aarch64 (the parent of a CLONE_VM child died of "
              "SIGSYS with it), not on 6.1 or 6.12 (corpus/lab facts); PR_SET_DUMPABLE=0 avoids it there "
              "(do_coredump stops before coredump_wait zaps)"),
    # Threads.
    Fact("seccomp_mode_dead", (5, 17), "495ac3069a62",
         "a thread that a seccomp kill ends (a filter's KILL_THREAD, KILL_PROCESS or unknown action, or a "
         "call strict mode forbids) is left in SECCOMP_MODE_DEAD, which no TSYNC can synchronize: a dead "
         "leader still on the thread list (before 6.11) fails another thread's TSYNC even when its "
         "filters are the caller's ancestors",
         backports=((5, 10, 223),),
         note="seen on Debian's 6.1 s390x guest and on both 5.10 guests (the threads fuzzer, seed 1206; "
              "tests/test_process.py): 5.10.y took it, the first such release not pinned, 5.10.223 the "
              "oldest observed; other stable trees not pinned"),
    Fact("tsync_skips_exited_threads", (6, 11), "13eb42e2529e",
         "TSYNC skips exiting threads: a dead thread-group leader (a zombie while other threads run) no "
         "longer fails it with its tid (seccomp: release task filters when the task exits)",
         note="seen on Debian's 6.1.192 guest (TSYNC returned the dead leader's tid) and not on 6.12.117 "
              "(tests/test_process.py under make lab-test)"),
    # x86.
    Fact("x32_own_table", (5, 4), "6365b842aae4",
         "x86: x32 numbers 512-547 without the x32 bit, and non-x32 numbers with it, fail with ENOSYS "
         "after the filters allow them (what the call returns, not the verdict)"),
    Fact("x86_64_int_syscall_numbers", (5, 14), "059549489172",
         "x86_64: the 64-bit entry dispatches on the number register's low 32 bits as an int; before, "
         "a thread without seccomp (or other syscall work) dispatched on the whole register "
         "(do_syscall_64's unsigned long nr), so a register with bits above 31 failed with ENOSYS, "
         "while seccomp's entry work returned syscall_get_nr's int, the low half, which then ran",
         note="observed on Debian's 5.10.262: rax 1 << 32 | 39 is ENOSYS without filters and getpid "
              "with a filter that allows it; 6.1 runs getpid in both"),
    Fact("uretprobe_bypass", (6, 14), "cf6cb56ef244",
         "x86_64's uretprobe (335) never reaches the filters, and strict mode allows it",
         backports=((6, 12, 117),),
         note="6.12.y: observed in Debian's 6.12.117, the first 6.12.y release not pinned; "
              "6.13.y also took it (release not pinned); the call exists since 6.11"),
    Fact("uprobe_bypass", (6, 18), "89d1d8434d24",
         "x86_64's uprobe (336) never reaches the filters, and strict mode allows it",
         note="the seccomp half was backported (AUTOSEL, e.g. 6.12.57) but tests __NR_uprobe, which only "
              "6.18 defines; observed filtered on Debian's 6.12.117"),
)

_FACTS = {fact.key: fact for fact in FACTS}

_FLAG_FACTS = {
    abi.SECCOMP_FILTER_FLAG_TSYNC: "flag_tsync", abi.SECCOMP_FILTER_FLAG_LOG: "flag_log",
    abi.SECCOMP_FILTER_FLAG_SPEC_ALLOW: "flag_spec_allow",
    abi.SECCOMP_FILTER_FLAG_NEW_LISTENER: "flag_new_listener",
    abi.SECCOMP_FILTER_FLAG_TSYNC_ESRCH: "flag_tsync_esrch",
    abi.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: "flag_wait_killable_recv",
}
_ACTION_FACTS = {abi.SECCOMP_RET_KILL_PROCESS: "action_kill_process", abi.SECCOMP_RET_LOG: "action_log",
                 abi.SECCOMP_RET_USER_NOTIF: "action_user_notif"}
_BYPASS_FACTS = {335: ("uretprobe", "uretprobe_bypass"), 336: ("uprobe", "uprobe_bypass")}
MAYBE_UNFILTERED = frozenset(_BYPASS_FACTS)
"""The numbers some modelled kernel exempts from the filters: a quick test before ``unfiltered_calls``."""

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def _parse(text: str) -> Version:
    match = _VERSION.fullmatch(text.strip())
    if not match:
        known = ", ".join(DISTRO_KERNELS)
        raise UnknownKernelError(f"kernel {text!r} is not a version such as 6.1 or 5.10.262, "
                                 f"nor a lab kernel ({known})")
    version = (int(match[1]), int(match[2]), int(match[3] or 0))
    if not OLDEST <= version or version[:2] > NEWEST[:2]:
        raise UnknownKernelError(f"kernel {text}: bpfsim models {OLDEST[0]}.{OLDEST[1]} to "
                                 f"{NEWEST[0]}.{NEWEST[1]}.y")
    return version


class Kernel:
    """The seccomp of one kernel version: which flags, actions, operations and exceptions it has.

    ``Kernel()`` is the newest modelled kernel. Two profiles are equal when their versions are.
    ``filter_flags`` is the mask of seccomp(SECCOMP_SET_MODE_FILTER) flags it knows; the others
    are EINVAL (kernel/seccomp.c:seccomp_set_mode_filter tests ``SECCOMP_FILTER_FLAG_MASK``).
    """

    __slots__ = ("version", "name", "filter_flags", "_unfiltered")

    def __init__(self, version: "str | Version | None" = None):
        if version is None:
            self.version, self.name = NEWEST, "6.18"
        elif isinstance(version, tuple):
            self.version = _parse(".".join(map(str, version)))
            self.name = ".".join(map(str, version))
        elif isinstance(version, str):
            self.name = version.strip()
            distro = DISTRO_KERNELS.get(self.name.lower())
            self.version = _parse(distro.version if distro else self.name)
        else:
            raise TypeError(f"a kernel is a version string or a Kernel, not {type(version).__name__}")
        # Read on every evaluate() and attach(), so worked out once.
        self.filter_flags = sum(bit for bit, key in _FLAG_FACTS.items() if self.has(key))
        self._unfiltered = {nr: name for nr, (name, key) in _BYPASS_FACTS.items() if self.has(key)}

    @classmethod
    def of(cls, kernel: "str | Kernel | None") -> "Kernel":
        """``kernel=`` as callers pass it: a ``Kernel``, a version or distro string, or ``None``
        for the newest."""
        if isinstance(kernel, Kernel):
            return kernel
        return DEFAULT if kernel is None else cls(kernel)

    def has(self, key: str, arch: "str | Target | None" = None) -> bool:
        """Whether fact ``key`` of ``FACTS`` holds on this kernel (built for ``arch``, for the
        facts that depend on it)."""
        return _FACTS[key].holds(self.version, None if arch is None else Target.of(arch).arch.name)

    def knows_action(self, action: int) -> bool:
        """Whether ``action`` (a value of ``SECCOMP_RET_ACTION_FULL``) has a meaning here;
        ``SECCOMP_GET_ACTION_AVAIL`` answers 0 for exactly these."""
        if action not in abi.ACTION_NAMES:
            return False
        key = _ACTION_FACTS.get(action)
        return key is None or self.has(key)

    @property
    def unknown_action_kills_process(self) -> bool:
        """kernel/seccomp.c:__seccomp_filter ``default:``: the process (5.10+) or the thread."""
        return self.has("unknown_action_kills_process")

    def unfiltered_calls(self, target: Target) -> dict[int, str]:
        """The calls of ``target`` that never reach the filters, and that strict mode allows
        (kernel/seccomp.c:seccomp_uprobe_exception and mode1_syscalls): x86_64's own uretprobe
        and uprobe where this kernel exempts them."""
        return self._unfiltered if target.native_x86_64 else {}

    @property
    def max_insns_per_path(self) -> int:
        """kernel/seccomp.c ``MAX_INSNS_PER_PATH``: the same (256 KiB / 8) in every modelled
        kernel, counted in converted eBPF instructions since the 3.15/3.16 conversion."""
        return abi.MAX_INSNS_PER_PATH

    @property
    def filter_path_penalty(self) -> int:
        """What ``seccomp_attach_filter`` adds per attached filter: 4 in every modelled kernel."""
        return abi.FILTER_PATH_PENALTY

    def __eq__(self, other) -> bool:
        return isinstance(other, Kernel) and other.version == self.version

    def __hash__(self) -> int:
        return hash(self.version)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Kernel({self.name!r})"


DEFAULT = Kernel()
