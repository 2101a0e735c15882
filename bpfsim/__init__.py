"""bpfsim: a classic-BPF virtual machine and seccomp filter simulator that answers as Linux does.

    >>> import bpfsim
    >>> prog = bpfsim.Program([bpfsim.Instruction(0x06, 0, 0, 0x00050001)])
    >>> bpfsim.evaluate([prog], bpfsim.SeccompData(nr=59))
    Verdict(ERRNO, errno=1 EPERM, filter=0)

The names below are imported on first use (PEP 562), so that ``bpfsim table`` and other short
commands do not pay for the debugger and the assembler at every start.
"""

import importlib

__version__ = "0.1.0"

_HOMES = {
    "Finding": "audit", "lint": "audit",
    "Difference": "differences", "diff": "differences",
    "SeccompData": "data",
    "Debugger": "debugger", "StackTrace": "debugger", "trace_stack": "debugger",
    "AsmError": "errors", "BpfsimError": "errors", "DebuggerError": "errors", "FormatError": "errors",
    "InstallRefused": "errors", "KernelError": "errors", "KernelInstallError": "errors",
    "SeccompError": "errors", "UnknownArchError": "errors", "UnknownKernelError": "errors",
    "UnknownSyscallError": "errors", "VerifyError": "errors",
    "Instruction": "insn",
    "Kernel": "profiles",
    "Target": "target",
    "Step": "interpreter", "Trace": "interpreter", "run": "interpreter", "trace": "interpreter",
    "Process": "process", "Thread": "process",
    "Program": "program",
    "Action": "seccomp", "FilterChain": "seccomp", "Outcome": "seccomp", "SigInfo": "seccomp",
    "Verdict": "seccomp", "evaluate": "seccomp",
    "VerifiedProgram": "verifier", "verified": "verifier", "verify": "verifier",
}

__all__ = sorted(_HOMES) + ["__version__"]


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'bpfsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
