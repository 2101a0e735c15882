# What a type checker sees of bpfsim: the names __init__.py imports on first use (PEP 562), as
# explicit re-exports (PEP 484: "import X as X"). tests/test_packaging.py keeps the two alike.
from .audit import Finding as Finding, lint as lint
from .data import SeccompData as SeccompData
from .debugger import Debugger as Debugger, StackTrace as StackTrace, trace_stack as trace_stack
from .differences import Difference as Difference, diff as diff
from .errors import (AsmError as AsmError, BpfsimError as BpfsimError, DebuggerError as DebuggerError,
                     FormatError as FormatError, InstallRefused as InstallRefused, KernelError as KernelError,
                     KernelInstallError as KernelInstallError, SeccompError as SeccompError,
                     UnknownArchError as UnknownArchError, UnknownKernelError as UnknownKernelError,
                     UnknownSyscallError as UnknownSyscallError, VerifyError as VerifyError)
from .insn import Instruction as Instruction
from .interpreter import Step as Step, Trace as Trace, run as run, trace as trace
from .process import Process as Process, Thread as Thread
from .profiles import Kernel as Kernel
from .program import Program as Program
from .seccomp import (Action as Action, FilterChain as FilterChain, Outcome as Outcome, SigInfo as SigInfo,
                      Verdict as Verdict, evaluate as evaluate)
from .target import Target as Target
from .verifier import VerifiedProgram as VerifiedProgram, verified as verified, verify as verify

__version__: str
__all__: list[str]
