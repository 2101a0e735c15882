"""Checks only a lab guest can make (``make lab-test``, with ``$BPFSIM_ORACLE_KERNEL`` naming it).

The oracle's outcome tests themselves (tests/test_kernel.py) run on the guest through the same
variable; this file adds what concerns the lab's own recordings: a sample of the kernel's
recorded corpus, asked again live, gets the same answers.
"""

import json
import lzma
import sys
from pathlib import Path

import pytest

from bpfsim import Program, SeccompData
from bpfsim import kernel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from record_corpus import expectation  # noqa: E402  (the recorder's own rendering of an observation)

GUEST = kernel.default_kernel_name()
pytestmark = pytest.mark.skipif(GUEST is None, reason=f"needs ${kernel.ORACLE_KERNEL_VARIABLE} (make lab-test)")
RECORDINGS = Path(__file__).resolve().parent.parent / "corpus" / "lab"


def reads_instruction_pointer(blobs) -> bool:
    """Does a filter load seccomp_data.instruction_pointer (``ld [8]`` or ``ld [12]``)?"""
    return any(i.code == 0x20 and i.k in (8, 12) for blob in blobs for i in Program.from_bytes(blob))


def test_a_sample_of_the_recorded_corpus_is_what_the_guest_says_now():
    """corpus/lab/<kernel>.json.xz was recorded on this guest: a sample of it, asked again live,
    gets the same answers (the kernel is deterministic for these inputs)."""
    path = RECORDINGS / f"{GUEST}.json.xz"
    if not path.exists():
        pytest.fail(f"no recording of {GUEST}: make corpus-record KERNEL={GUEST}")
    recorded = json.loads(lzma.decompress(path.read_bytes()))
    for stack in recorded["stacks"][::12]:
        blobs = [bytes.fromhex(recorded["filters"][i]) for i in stack["filters"]]
        ips = stack.get("instruction_pointer", recorded["instruction_pointer"])
        if reads_instruction_pointer(blobs) and any(kernel.instruction_pointer(a) != ip for a, ip in ips.items()):
            continue  # recorded with another build of the helper, whose calls came from elsewhere
        sample = stack["cases"][::40]
        calls = [SeccompData(nr, arch, args=args) for arch, nr, args, _ in sample]
        seen = kernel.run_calls(blobs, calls, tracer=stack["tracer"], listener=stack["listener"])
        assert [expectation(o) for o in seen] == [expect for *_, expect in sample], stack["origin"]
