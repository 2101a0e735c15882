"""The kernel half of bpfsim's tests: the same case through seccomp(2) on this machine (or the
lab guest ``$BPFSIM_ORACLE_KERNEL`` names).

Each ``check_*`` method runs what a test just asserted about bpfsim on the real kernel (through
``bpfsim.kernel``) and fails the test if the kernel disagrees. The kernel decides; bpfsim's
answer is only ever compared with it.
"""

import os

import pytest

from bpfsim import Program, evaluate, run
from bpfsim import abi, distros
from bpfsim import kernel as live
from bpfsim import opcodes as op
from bpfsim.insn import Instruction

_IP_WORDS = {abi.OFFSET_IP, abi.OFFSET_IP + 4}
_TRACE = abi.SECCOMP_RET_TRACE


def unavailable_reason():
    return live.seccomp_unavailable_reason()


def asked_kernel_version() -> tuple[int, int]:
    """(major, minor) of the kernel the oracle asks: the lab guest ``$BPFSIM_ORACLE_KERNEL``
    names, or this machine's."""
    guest = live.default_kernel_name()
    release = distros.DISTRO_KERNELS[guest].version if guest else os.uname().release
    return tuple(int(part) for part in release.split("-")[0].split(".")[:2])


def _reads_ip(programs) -> bool:
    return any(i.code == op.BPF_LD | op.BPF_W | op.BPF_ABS and i.k in _IP_WORDS for p in programs for i in p)


def _call(data):
    """``data`` as a call the kernel asked can make: its native arch (x86_64 also x32 and i386)."""
    arch, native = abi.arch_name(data.arch), live.target().name
    if arch not in (("x86_64", "i386") if native == "x86_64" else (native,)):
        pytest.skip(f"kernel half not run: this {native} kernel cannot make a call with arch {arch}")
    return data


class KernelOracle:
    def check_value(self, insns, data, expected):
        """A as the kernel computes it, read back 16 bits at a time through a TRACE event message."""
        if _reads_ip([insns]):  # the kernel chooses the ip: compare with bpfsim on that ip instead
            data = data.replace(instruction_pointer=live.instruction_pointer(abi.arch_name(data.arch)))
            expected = run(Program([*insns, Instruction(op.BPF_RET | op.BPF_A)]), data)
        halves = []
        for tail in ([Instruction(op.BPF_ALU | op.BPF_AND | op.BPF_K, 0, 0, 0xFFFF)],
                     [Instruction(op.BPF_ALU | op.BPF_RSH | op.BPF_K, 0, 0, 16)]):
            program = Program([*insns, *tail, Instruction(op.BPF_ALU | op.BPF_OR | op.BPF_K, 0, 0, _TRACE),
                               Instruction(op.BPF_RET | op.BPF_A)])
            outcome = live.run_calls([program], [_call(data)], tracer=True)[0]
            assert outcome.action == "TRACE", f"kernel: {outcome}"
            halves.append(outcome.data)
        assert halves[0] | halves[1] << 16 == expected, f"kernel computed {halves[0] | halves[1] << 16:#x}"

    def check_return(self, program, data, expected_ret):
        self.check_verdict([program], data, evaluate([program], data))
        assert evaluate([program], data).ret == expected_ret

    def check_verdict(self, filters, data, verdict, *, tracer=False, listener=None, threads=1):
        programs = [f if isinstance(f, Program) else Program(f) for f in filters]
        if _reads_ip(programs):
            ip = live.instruction_pointer(abi.arch_name(data.arch))
            data = data.replace(instruction_pointer=ip)
            verdict = evaluate(programs, data, tracer=tracer, listener=listener, threads=threads)
        outcome = live.run_calls(programs, [_call(data)], tracer=tracer, listener=listener)[0]
        assert outcome.admits(verdict), (
            f"kernel saw {outcome} (candidates {outcome.candidates}); bpfsim says {verdict!r}")
        if verdict.outcome.siginfo and outcome.siginfo:
            got, want = outcome.siginfo, verdict.outcome.siginfo
            assert (got.si_signo, got.si_code, got.si_errno, got.si_syscall, got.si_arch) == (
                want.si_signo, want.si_code, want.si_errno, want.si_syscall, want.si_arch)

    def check_observation(self, filters, data, seen: dict):
        """What ``eval --json`` says the caller sees is what the kernel's calling thread saw: the
        return value and errno of a call that does not run, the killing signal, the SIGSYS siginfo
        (but the address, which is the kernel's own instruction pointer)."""
        outcome = live.run_calls([Program.of(f) for f in filters], [_call(data)])[0]
        if seen["killed"]:
            assert seen["signal"] == outcome.signal, f"kernel saw {outcome}"
        elif seen["runs"] is False and seen["siginfo"] is None:
            assert (seen["retval"], seen["errno"]) == (outcome.retval, -outcome.retval), f"kernel saw {outcome}"
        got = outcome.siginfo
        assert (seen["siginfo"] is None) == (got is None), f"kernel's siginfo: {got}"
        if got is not None:
            assert seen["siginfo"] == {**seen["siginfo"], "si_signo": got.si_signo, "si_code": got.si_code,
                                       "si_errno": got.si_errno, "si_syscall": got.si_syscall,
                                       "si_arch": got.si_arch}, f"kernel's siginfo: {got}"

    def check_trap_handler_return(self, filters, data, expected):
        """The value a SIGSYS handler that returns sees the call return (the oracle's handler returns)."""
        outcome = live.run_calls([Program.of(f) for f in filters], [_call(data)])[0]
        assert (outcome.action, outcome.retval) == ("TRAP", expected), f"kernel saw {outcome}"

    def check_install(self, program, expected_errno):
        assert live.install_result([program]) == expected_errno

    def check_chain_limit(self, program, count):
        assert live.install_result([program] * count) is None
        assert live.install_result([program] * (count + 1)) == 12  # ENOMEM
