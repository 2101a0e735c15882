"""Shared fixtures: the ``kernel`` oracle that re-runs a test's case on the machine's kernel."""

import pytest


class _NoKernel:
    """Stands in for the oracle where seccomp(2) cannot be used: the kernel half is skipped."""

    def __init__(self, reason):
        self.reason = reason

    def __getattr__(self, name):
        def skip(*args, **kwargs):
            pytest.skip(f"kernel half not run: {self.reason}")
        return skip


@pytest.fixture
def kernel():
    try:
        from tests.oracle import KernelOracle, unavailable_reason
    except ImportError as missing:  # the oracle module is optional only while it is being written
        return _NoKernel(f"bpfsim.kernel is not available ({missing})")
    reason = unavailable_reason()
    return _NoKernel(reason) if reason else KernelOracle()
