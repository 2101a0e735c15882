"""Differential fuzzing of bpfsim against the machine's kernel (``python -m fuzz``).

Generated filter stacks and inputs (``bpfsim.strategies``) run through ``bpfsim.evaluate`` and,
in throwaway threads, through seccomp(2) itself (``bpfsim.kernel``). Any disagreement is shrunk
by hypothesis to a minimal case and saved under ``corpus/regressions/`` where ``make test``
replays it.
"""
