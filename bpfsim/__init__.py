"""bpfsim: a classic-BPF virtual machine and seccomp filter simulator that answers as Linux does."""

__version__ = "0.1.0"
