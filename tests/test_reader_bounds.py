"""Crafted input costs bounded time and memory (issue 16 items 7-10): each attack of the issue,
and a hypothesis run per reader that measures every case.

The bounds are the README's ("Security and limits"): no filter, and no stack of them, needs more
than a struct sock_fprog holds (65,535 records, include/uapi/linux/filter.h), so larger input is
refused before any object is built; the readers are linear in what they accept.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfsim import FormatError, Program
from bpfsim.program import MAX_RAW_SIZE, MAX_TEXT_SIZE

SECONDS, MEGABYTES = 5.0, 96  # per case, on a shared 2-core machine


def _bounded(read, data):
    """Run ``read(data)``; return what it returned or raised, failing when it took too long or too
    much memory. Memory is tracemalloc's peak (Python objects, what a crafted file multiplies),
    measured in a second run because tracing slows the first one's clock tenfold."""
    start = time.perf_counter()
    result = _capture(read, data)
    took = time.perf_counter() - start
    assert took < SECONDS, f"{took:.1f} s"
    tracemalloc.start()
    try:
        _capture(read, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEGABYTES << 20, f"{peak >> 20} MiB"
    if isinstance(result, Exception) and not isinstance(result, FormatError):
        raise result
    return result


def _capture(function, *args):
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 (the caller inspects it)
        return error


def _parse(data):
    return Program.parse(data, name="crafted")


# --- item 8: refuse what no filter holds, before building objects -------------------------------

@pytest.mark.parametrize("data, says", [
    pytest.param(b"\x06\0\0\0\0\0\0\0" * (0xFFFF + 1), "more than the 65,535 a struct sock_fprog can hold",
                 id="raw records one past what sock_fprog.len holds"),
    pytest.param(b"\x06\0\0\0\0\0\0\0" * (60_000_000 // 8), "more than a filter file holds",
                 id="a 60 MB raw file"),
    pytest.param(b"struct sock_filter f[] = {\n" + b"  BPF_STMT(BPF_RET | BPF_K, 0),\n" * 1_900_000,
                 "more than a filter file holds", id="a 60 MB C file"),
])
def test_input_beyond_any_filter_is_refused_at_once(data, says):
    refused = _bounded(_parse, data)
    assert isinstance(refused, FormatError) and says in refused.message


def test_the_largest_raw_file_still_reads():
    assert len(_bounded(_parse, b"\x06\0\0\0\0\0\0\0" * 0xFFFF)) == 0xFFFF


# --- item 9: the C reader ------------------------------------------------------------------------

ONE = b"struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, 0) };\n"


def test_nested_ifs_are_linear():
    depth = 10_000
    program = _bounded(_parse, b"#if 1\n" * depth + ONE + b"#endif\n" * depth)
    assert isinstance(program, Program) and len(program) == 1


@pytest.mark.parametrize("factor, count", [(b"1*", 30_000), (b"2*", 100_000)],
                         ids=["30,000 factors of 1", "100,000 factors of 2 (a 100,000-bit product)"])
def test_constant_folding_is_bounded(factor, count):
    text = b"struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, " + factor * count + b"1) };\n"
    refused = _bounded(_parse, text)
    assert isinstance(refused, FormatError) and "more than 10,000 terms" in refused.message


def test_function_like_macros_expand_their_arguments_first():
    """C11 6.10.3.1: an argument is fully macro-replaced before it is substituted, so the inner
    MAX expands (gcc compiles this; the reader refused it)."""
    text = ("#define MAX(a, b) ((a) > (b) ? (a) : (b))\n"
            "struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | MAX(MAX(1, 2), 3)) };\n")
    assert Program.from_c(text)[0].k == 0x00050003


# --- item 7: the ELF scan ------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build the object")
@pytest.mark.parametrize("tail", [
    pytest.param("", id="4,000 loads and no return (each start re-decoded 4,096 records: 22 s)"),
    pytest.param("BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 100),\nBPF_STMT(BPF_RET | BPF_K, 0),\n",
                 id="4,000 loads, a load seccomp refuses, a return (each start verified 4,000 records)"),
])
def test_an_object_full_of_loads_is_scanned_in_linear_time(tmp_path, tail):
    (tmp_path / "f.c").write_text(
        "#include <linux/filter.h>\nconst struct sock_filter loads[] = {\n"
        + "BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),\n" * 4000 + tail + "};\n")
    subprocess.run(["cc", "-c", "-o", str(tmp_path / "f.o"), str(tmp_path / "f.c")], check=True)
    data = (tmp_path / "f.o").read_bytes()
    refused = _bounded(lambda d: Program.parse(d, name="f.o"), data)
    assert isinstance(refused, FormatError) and refused.message.startswith("no seccomp filter in it")


# --- item 10: API and CLI edge cases -------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: Program.from_bytes(16), "takes bytes, not int", id="from_bytes(16)"),
    pytest.param(lambda: Program.from_bytes(10 ** 12), "takes bytes, not int", id="from_bytes(10**12)"),
    pytest.param(lambda: Program.from_c(b"BPF_STMT(6, 0)"), "takes str, not bytes", id="from_c(bytes)"),
    pytest.param(lambda: Program.from_asm(b"ret #0"), "takes str, not bytes", id="from_asm(bytes)"),
])
def test_wrong_types_are_named(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_a_name_with_a_nul_byte_is_a_format_error():
    with pytest.raises(FormatError, match="cannot read it: embedded null byte"):
        Program.load("a\0b")


def test_a_fifo_without_a_writer_does_not_block(tmp_path):
    """open(2) of a FIFO waits for a writer; the reader opens it without waiting."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_capture(Program.load, fifo)), daemon=True)
    reader.start()
    reader.join(5)
    assert outcome and len(outcome[0]) == 0  # it read what a FIFO with no writer holds: nothing


def test_debug_with_standard_input_closed_is_a_usage_error(tmp_path):
    (tmp_path / "f.asm").write_text("ret #0x7fff0000\n")
    done = subprocess.run([sys.executable, "-m", "bpfsim", "debug", str(tmp_path / "f.asm"), "--nr", "0"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          preexec_fn=lambda: os.close(0))
    assert done.returncode == 2 and "standard input is closed" in done.stderr and "Traceback" not in done.stderr


# --- hypothesis: every reader, every case measured --------------------------------------------------

BOUNDED = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))

asm_lines = st.sampled_from(["ld [0]\n", "ld [4]\n", "jeq #59, 0, 1\n", "ret #0\n", "ret #0x7fff0000\n",
                             "l: ", "ja l\n", "ld M[0]\n", "st M[0]\n", "; comment\n", "tax\n", "add #1\n"])
c_parts = st.sampled_from(["BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),", "BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 59, 0, 1),",
                           "BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),", "#if 1\n", "#endif\n", "#else\n",
                           "#define X(a) ((a) + 1)\n", "X(X(1))", " | ", "(", ")", "1*", "{ 6, 0, 0, 0 },", "\n"])


def _repeated(parts, max_repeat):
    """A few parts, each repeated many times: the shape of a crafted file."""
    return st.lists(st.tuples(parts, st.integers(1, max_repeat)), min_size=1, max_size=6).map(
        lambda runs: "".join(part * count for part, count in runs))


@BOUNDED
@given(_repeated(asm_lines, 5_000))
def test_the_assembler_is_bounded(text):
    _bounded(_parse, text.encode())


@BOUNDED
@given(_repeated(c_parts, 3_000))
def test_the_c_reader_is_bounded(body):
    _bounded(_parse, ("struct sock_filter f[] = {\n" + body + "\n};\n").encode())


@BOUNDED
@given(st.lists(st.sampled_from([b"\x20\0\0\0\0\0\0\0", b"\x06\0\0\0\0\0\xff\x7f", b"\x15\0\0\x01\x3b\0\0\0"]),
                max_size=20_000).map(b"".join))
def test_raw_records_are_bounded(data):
    _bounded(_parse, data)


@BOUNDED
@given(_repeated(st.sampled_from(["32 0 0 4,", "21 0 1 59,", "6 0 0 0,"]), 5_000))
def test_byte_code_is_bounded(text):
    _bounded(_parse, (f"{text.count(',')}," + text.rstrip(",")).encode())


@BOUNDED
@given(st.binary(min_size=0, max_size=4096), st.integers(0, 4))
def test_the_elf_reader_is_bounded(junk, copies):
    """A valid ELF header in front of crafted bytes: pyelftools' errors become FormatError."""
    header = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + (1).to_bytes(2, "little") + (62).to_bytes(2, "little")
              + (1).to_bytes(4, "little") + b"\0" * 24 + (64).to_bytes(2, "little") + b"\0" * 10)
    _bounded(_parse, header + junk * copies)
