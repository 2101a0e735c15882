"""bpfsim: a classic-BPF virtual machine and seccomp filter simulator that answers as Linux does.

    >>> import bpfsim
    >>> prog = bpfsim.Program([bpfsim.Instruction(0x06, 0, 0, 0x00050001)])
    >>> bpfsim.evaluate([prog], bpfsim.SeccompData(nr=59))
    Verdict(ERRNO, errno=1 EPERM, filter=0)
"""

from .data import SeccompData
from .errors import AsmError, BpfsimError, FormatError, SeccompError, VerifyError
from .insn import Instruction
from .interpreter import Step, Trace, run, trace
from .program import Program
from .seccomp import Action, FilterChain, Outcome, SigInfo, Verdict, evaluate
from .verifier import verify

__version__ = "0.1.0"

__all__ = [
    "Action", "AsmError", "BpfsimError", "FilterChain", "FormatError", "Instruction", "Outcome",
    "Program", "SeccompData", "SeccompError", "SigInfo", "Step", "Trace", "Verdict", "VerifyError",
    "evaluate", "run", "trace", "verify", "__version__",
]
