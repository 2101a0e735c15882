"""bpfsim: a classic-BPF virtual machine and seccomp filter simulator that answers as Linux does.

    >>> import bpfsim
    >>> prog = bpfsim.Program([bpfsim.Instruction(0x06, 0, 0, 0x00050001)])
    >>> bpfsim.evaluate([prog], bpfsim.SeccompData(nr=59))
    Verdict(ERRNO, errno=1 EPERM, filter=0)
"""

from .data import SeccompData
from .debugger import Debugger, StackTrace, trace_stack
from .errors import AsmError, BpfsimError, FormatError, SeccompError, VerifyError
from .insn import Instruction
from .interpreter import Step, Trace, run, trace
from .program import Program
from .seccomp import Action, FilterChain, Outcome, SigInfo, Verdict, evaluate
from .verifier import verify

__version__ = "0.1.0"

__all__ = [
    "Action", "AsmError", "BpfsimError", "Debugger", "FilterChain", "FormatError", "Instruction", "Outcome",
    "Program", "SeccompData", "SeccompError", "SigInfo", "StackTrace", "Step", "Trace", "Verdict", "VerifyError",
    "evaluate", "run", "trace", "trace_stack", "verify", "__version__",
]
