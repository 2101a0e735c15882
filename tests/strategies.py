"""The package's hypothesis strategies (bpfsim.strategies), importable in tests as ``tests.strategies``."""

from bpfsim.strategies import *  # noqa: F401,F403
from bpfsim.strategies import __all__  # noqa: F401
