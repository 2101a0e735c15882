"""The ``bpfsim`` command line: output, JSON per the contract, exit statuses and error lines.

Verdicts are kernel facts (kernel/seccomp.c, the seccomp(2) manual page, the syscall tables of
Linux 6.18); ``dump`` is checked against filters a child process really installed.
"""

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import struct
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bpfsim import BpfsimError, Program, SeccompData, evaluate
from bpfsim import opcodes as op
from bpfsim.cli import main
from tests.build import RET_A, alu, jump, ld_abs, prog, ret, stmt
from tests.keyboard import start_at_a_terminal

ALLOW, KILL_PROCESS, KILL_THREAD, ERRNO = 0x7FFF0000, 0x80000000, 0, 0x00050000
TRACE, USER_NOTIF = 0x7FF00000, 0x7FC00000
JEQ = op.BPF_JMP | op.BPF_JEQ | op.BPF_K

KILL_EXECVE = prog(ld_abs(0), jump(JEQ, 59, 0, 1), ret(KILL_PROCESS), ret(ALLOW))
# ERRNO(field): the verdict's data is the 32-bit word the filter read.
NR_AS_ERRNO = prog(ld_abs(0), alu(op.BPF_OR, ERRNO), RET_A)
ARG2_AS_ERRNO = prog(ld_abs(32), alu(op.BPF_OR, ERRNO), RET_A)
IP_AS_ERRNO = prog(ld_abs(8), alu(op.BPF_OR, ERRNO), RET_A)


@pytest.fixture
def write(tmp_path):
    """Save a Program as a raw .bpf file and return its path as a string."""
    def save(program, name="filter.bpf"):
        path = tmp_path / name
        path.write_bytes(program.to_bytes())
        return str(path)
    return save


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_eval_json_is_the_contract_object(capsys, write, kernel):
    programs = [prog(ret(ERRNO | 1)), prog(ret(ERRNO | 22)), prog(ret(ALLOW))]
    paths = [write(p, f"{i}.bpf") for i, p in enumerate(programs)]
    status, out, err = _run(capsys, "eval", *paths, "--nr", 39, "--json")
    assert (status, err) == (0, "")
    assert out.count("\n") == 1
    contract = {"action": "ERRNO", "data": 22, "errno": 22, "ret": 327702, "filter": 1}
    assert json.loads(out).items() >= contract.items()
    kernel.check_verdict(programs, SeccompData(39), evaluate(programs, SeccompData(39)))


@pytest.mark.parametrize("ret_value, expected", [
    pytest.param(TRACE | 7, {"errno": 38, "runs": False, "signal": None, "killed": None, "siginfo": None},
                 id="TRACE without a tracer: ENOSYS, kernel/seccomp.c:__seccomp_filter"),
    pytest.param(0x00030000 | 5, {"errno": None, "runs": False, "signal": 31, "killed": None,
                                  "siginfo": {"si_signo": 31, "si_code": 1, "si_errno": 5, "si_syscall": 39,
                                              "si_arch": 0xC000003E, "si_call_addr": 0}},
                 id="TRAP: SIGSYS with siginfo"),
    pytest.param(KILL_PROCESS, {"errno": None, "runs": False, "signal": 31, "killed": "process", "core_dump": True},
                 id="KILL_PROCESS: dies of SIGSYS with a core"),
    pytest.param(ALLOW, {"errno": None, "runs": True, "signal": None, "killed": None}, id="ALLOW runs"),
    pytest.param(ERRNO, {"errno": 0, "runs": False, "retval": 0}, id="ERRNO(0) returns 0 without running"),
])
def test_eval_json_carries_what_the_caller_sees(capsys, write, ret_value, expected, kernel):
    """The issue's case: TRACE without a tracer printed "errno": null where the kernel returns ENOSYS."""
    program = prog(ret(ret_value))
    status, out, _ = _run(capsys, "eval", write(program), "--nr", "getpid", "--json")
    seen = json.loads(out)
    assert status == 0 and seen.items() >= expected.items()
    assert {k: seen[k] for k in ("nr", "name", "arch", "kernel")} == {
        "nr": 39, "name": "getpid", "arch": "x86_64", "kernel": "6.18"}
    kernel.check_observation([program], SeccompData(39), seen)


def test_eval_json_numbers_enosys_as_the_calls_arch_does(capsys, tmp_path):
    """ENOSYS is 89 in arch/mips/include/uapi/asm/errno.h (the seccomp(2) ENOSYS is the kernel's own)."""
    source = tmp_path / "trace.asm"
    source.write_text("ret TRACE(1)\n")
    status, out, _ = _run(capsys, "eval", source, "--nr", 0, "--arch", "mips", "--json")
    assert status == 0 and json.loads(out)["errno"] == 89


def test_eval_prints_the_verdict_and_what_the_thread_sees(capsys, write):
    status, out, _ = _run(capsys, "eval", write(KILL_EXECVE), "--nr", "execve")
    lines = out.splitlines()
    assert status == 0
    assert lines[0] == "KILL_PROCESS from filter 0, ret 0x80000000"
    assert lines[1].startswith("execve (nr 59, x86_64): ") and "SIGSYS" in lines[1]


@pytest.mark.parametrize("options, nr", [
    pytest.param(["--nr", "execve"], 59, id="x86_64 execve is 59"),
    pytest.param(["--nr", "execve", "--arch", "i386"], 11, id="i386 execve is 11"),
    pytest.param(["--nr", "execve", "--arch", "aarch64"], 221, id="aarch64 execve is 221"),
    pytest.param(["--nr", "0x3b"], 59, id="hex number"),
])
def test_nr_is_a_number_or_a_name_of_the_arch(capsys, write, options, nr, kernel):
    status, out, _ = _run(capsys, "eval", write(NR_AS_ERRNO), *options, "--json")
    assert (status, json.loads(out)["errno"]) == (0, nr)
    data = SeccompData(nr, options[options.index("--arch") + 1] if "--arch" in options else "x86_64")
    kernel.check_verdict([NR_AS_ERRNO], data, evaluate([NR_AS_ERRNO], data))


@pytest.mark.parametrize("program, options, data, expected_errno", [
    pytest.param(ARG2_AS_ERRNO, ["--arg", "2=0x1"], 1, 1, id="arg in hex"),
    pytest.param(ARG2_AS_ERRNO, ["--arg", "0=7", "--arg", "2=13"], 13, 13, id="several args, decimal"),
    pytest.param(IP_AS_ERRNO, ["--ip", "0x1234"], 0x1234, 4095, id="ip; errno capped at MAX_ERRNO"),
    pytest.param(ARG2_AS_ERRNO, ["--arg", "2=0101"], 0o101, 0o101, id="a leading 0 is C octal"),
    pytest.param(ARG2_AS_ERRNO, ["--arg", "2=0"], 0, 0, id="0 alone"),
    pytest.param(ARG2_AS_ERRNO, ["--arg", "2=0X1F"], 0x1F, 0x1F, id="upper-case hex prefix"),
])
def test_arguments_and_instruction_pointer_reach_the_filter(capsys, write, program, options, data, expected_errno,
                                                           kernel):
    status, out, _ = _run(capsys, "eval", write(program), "--nr", 0, *options, "--json")
    assert (status, json.loads(out)["data"], json.loads(out)["errno"]) == (0, data, expected_errno)
    call = SeccompData(0, instruction_pointer=data) if program is IP_AS_ERRNO else SeccompData(0, args=[0, 0, data])
    kernel.check_verdict([program], call, evaluate([program], call))


@pytest.mark.parametrize("ret_value, options, expected", [
    pytest.param(KILL_THREAD, [], "the process dies", id="kill thread in the last thread kills the process"),
    pytest.param(KILL_THREAD, ["--threads", "2"], "the thread exits", id="kill thread with other threads"),
    pytest.param(TRACE | 3, [], "ENOSYS", id="trace without a tracer fails with ENOSYS"),
    pytest.param(TRACE | 3, ["--tracer"], "PTRACE_EVENT_SECCOMP", id="trace with a tracer stops"),
    pytest.param(TRACE | 3, ["--after-trace"], "runs: on the recheck", id="the recheck after the stop lets it run"),
    pytest.param(USER_NOTIF, [], "ENOSYS", id="user notif without listener fails with ENOSYS"),
    pytest.param(USER_NOTIF, ["--listener", "0"], "listener of filter 0", id="user notif with a listener"),
])
def test_evaluation_options_change_the_outcome(capsys, write, ret_value, options, expected):
    status, out, _ = _run(capsys, "eval", write(prog(ret(ret_value))), "--nr", 39, *options)
    assert status == 0 and expected in out.splitlines()[1]


def test_after_trace_with_a_negative_nr_is_a_skipped_call(capsys, write):
    """Issue #14 item 9: kernel-checked in tests/test_after_trace.py (the tracer's value is returned)."""
    status, out, err = _run(capsys, "eval", write(prog(ret(TRACE))), "--nr", -1, "--after-trace")
    assert (status, err) == (0, "") and "skipped by the tracer" in out


def test_eval_trace_shows_each_filter_and_the_ranking(capsys, write):
    status, out, _ = _run(capsys, "eval", write(KILL_EXECVE, "a.bpf"), write(prog(ret(ERRNO | 1)), "b.bpf"),
                          "--nr", 59, "--trace")
    assert status == 0
    assert out.index("filter 1 (") < out.index("filter 0 (")
    assert "-->" in out and "filter 0 returned KILL_PROCESS" in out and "<- chosen" in out


def test_trace_explains_every_branch(capsys, write):
    status, out, _ = _run(capsys, "trace", write(KILL_EXECVE), "--nr", "execve")
    assert status == 0
    assert "A = nr = 59 (execve)" in out
    assert "jeq #0x3b: A=0x3b == 0x3b (execve) → true, pc 2" in out
    assert "returns KILL_PROCESS" in out


def test_debug_reads_commands_from_stdin(capsys, write, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("step 2\nregs\nquit\n"))
    status, out, _ = _run(capsys, "debug", write(KILL_EXECVE), "--nr", 59)
    assert status == 0 and "A=0x0000003b X=0x00000000 pc=2" in out


def test_verify_accepts_a_stack(capsys, write):
    status, out, _ = _run(capsys, "verify", write(KILL_EXECVE, "a.bpf"), write(prog(ret(ALLOW)), "b.bpf"))
    assert status == 0
    assert out.splitlines()[0].endswith("a.bpf: ok, 4 instructions")


def test_verify_can_make_each_install_a_call_the_filters_before_it_judge(capsys, write):
    """seccomp is 317 on x86_64; tests/test_install_calls.py checks the rule on the kernel."""
    deny_seccomp = write(prog(ld_abs(0), jump(JEQ, 317, 0, 1), ret(ERRNO | errno.EACCES), ret(ALLOW)), "base.bpf")
    app = write(prog(ret(ALLOW)), "app.bpf")
    assert _run(capsys, "verify", deny_seccomp, app)[0] == 0
    status, out, err = _run(capsys, "verify", deny_seccomp, app, "--installs-as", "x86_64")
    assert (status, out.splitlines()[:2]) == (1, [f"{deny_seccomp}: ok, 4 instructions", f"{app}: refused (filter 1)"])
    assert err == (f"bpfsim: {app} (filter 1): the seccomp(SECCOMP_SET_MODE_FILTER, 0x0) call itself is answered by "
                   "filter 0: fails with errno 13 (EACCES)\n")
    assert _run(capsys, "verify", deny_seccomp, app, "--installs-as", "x86_64", "--via", "prctl")[0] == 0
    status, _, err = _run(capsys, "verify", app, "--installs-as", "vax")
    assert status == 2 and "unknown architecture 'vax'" in err


def test_verify_says_an_install_answered_with_errno_0_attached_nothing(capsys, write):
    """Issue #14 item 1, kernel-checked in tests/test_process.py: seccomp() returns 0."""
    errno_0 = write(prog(ld_abs(0), jump(JEQ, 317, 0, 1), ret(ERRNO), ret(ALLOW)), "base.bpf")
    app = write(prog(ret(ALLOW)), "app.bpf")
    status, out, err = _run(capsys, "verify", errno_0, app, "--installs-as", "x86_64")
    assert (status, err) == (0, "")
    assert out.splitlines()[1] == (f"{app}: not attached: the install call returned 0 "
                                   "(ERRNO(0) from filter 0, ret 0x00050000)")


def test_verify_with_a_tracer_resumes_a_traced_install(capsys, write):
    """Issue #14 item 3, kernel-checked in tests/test_process.py (the recheck lets it through)."""
    traced = write(prog(ld_abs(0), jump(JEQ, 317, 0, 1), ret(TRACE | 1), ret(ALLOW)), "base.bpf")
    app = write(prog(ret(ALLOW)), "app.bpf")
    assert _run(capsys, "verify", traced, app, "--installs-as", "x86_64")[0] == 1
    assert _run(capsys, "verify", traced, app, "--installs-as", "x86_64", "--tracer")[0] == 0
    status, _, err = _run(capsys, "verify", app, "--tracer")
    assert status == 2 and "--tracer: give --installs-as" in err


@pytest.mark.parametrize("program, pc", [
    pytest.param(prog(ld_abs(0), jump(JEQ, 1, 0, 5), ret(ALLOW)), 1, id="bpf_check_classic: jump past the end"),
    pytest.param(prog(stmt(op.BPF_LD | op.BPF_MEM, 0), RET_A), 0, id="check_load_and_stores: M[0] read first"),
    pytest.param(prog(ld_abs(64), RET_A), 0, id="seccomp_check_filter: load past seccomp_data"),
])
@pytest.mark.parametrize("command", ["verify", "eval"])
def test_a_refused_filter_exits_1_with_errno_pc_and_file(capsys, write, program, pc, command, kernel):
    path = write(program)
    extra = ["--nr", "0"] if command == "eval" else []
    status, out, err = _run(capsys, command, path, *extra)
    where = f"{path} (filter 0)" if command == "verify" else path
    assert (status, out.splitlines()[:1]) == (1, [f"{path}: refused (filter 0)"] if command == "verify" else [])
    assert err.startswith(f"bpfsim: {where}: EINVAL: pc {pc}: ") and err.count("\n") == 1
    kernel.check_install(program, errno.EINVAL)


@pytest.mark.parametrize("argv, names", [
    pytest.param(["eval", "{missing}", "--nr", "0"], "{missing}", id="missing file names the file"),
    pytest.param(["eval", "{good}", "--nr", "opnat"], "--nr", id="unknown syscall name"),
    pytest.param(["eval", "{good}", "--nr", "0", "--arch", "vax"], "vax", id="unknown arch"),
    pytest.param(["eval", "{good}", "--nr", "0", "--arg", "6=1"], "6=1", id="argument index above 5"),
    pytest.param(["eval", "{good}", "--nr", "0", "--ip", "zz"], "zz", id="value that is not a number"),
    pytest.param(["eval", "{good}"], "--nr", id="missing --nr"),
    pytest.param(["eval", "{good}", "--nr", "0", "--kernel", "4.9"], "4.9", id="a kernel bpfsim does not model"),
    pytest.param(["table", "{good}", "--kernel", "linux"], "linux", id="a kernel that is not a version"),
    pytest.param(["frobnicate"], "frobnicate", id="unknown command"),
    pytest.param([], "COMMAND", id="no command"),
])
def test_bad_usage_and_unreadable_input_exit_2_with_one_line(capsys, write, tmp_path, argv, names):
    paths = {"missing": str(tmp_path / "missing.bpf"), "good": write(KILL_EXECVE)}
    status, out, err = _run(capsys, *[a.format(**paths) for a in argv])
    assert status == 2 and out == ""
    assert err.startswith("bpfsim") and err.count("\n") == 1 and names.format(**paths) in err


@pytest.mark.parametrize("argv, expected", [
    pytest.param(["eval", "--nr", "getpid", "--json"], {"action": "KILL_THREAD"},
                 id="eval: on 5.4 an unknown action is KILL_THREAD (before 4d671d922d51)"),
    pytest.param(["eval", "--nr", "getpid", "--json", "--kernel", "5.10"], {"action": "KILL_PROCESS"},
                 id="eval: from 5.10 it kills the process (4d671d922d51)"),
    pytest.param(["table", "--json"], {"nr": 0, "action": "KILL_THREAD"}, id="table judges as the kernel too"),
])
def test_kernel_chooses_the_version_a_command_judges_as(capsys, write, argv, expected):
    unknown = write(prog(ret(0x00010000)))
    kernel = [] if "--kernel" in argv else ["--kernel", "5.4"]
    status, out, err = _run(capsys, argv[0], unknown, *argv[1:], *kernel)
    got = json.loads(out)
    got = got[0] if isinstance(got, list) else got
    assert (status, err) == (0, "") and expected.items() <= got.items()


def test_verify_takes_the_kernel_of_the_installing_thread(capsys, write):
    """SECCOMP_FILTER_FLAG_* do not reach the CLI, so a stack verifies alike on every modelled kernel."""
    status, out, _ = _run(capsys, "verify", write(KILL_EXECVE), "--kernel", "5.10.262")
    assert status == 0 and out.splitlines()[0].endswith("ok, 4 instructions")


def test_help_has_examples_and_exits_0(capsys):
    status, out, _ = _run(capsys, "--help")
    assert status == 0 and "examples:" in out and "bpfsim eval" in out


@pytest.mark.parametrize("command, option", [
    ("eval", "--expect"), ("trace", "--after-trace"), ("debug", "--listener"), ("table", "--csv"),
    ("lint", "--fail-on"), ("diff", "OLD"), ("disasm", "--pseudo-c"), ("asm", "--format"),
    ("verify", "--installs-as"), ("dump", "--limit"),
])
def test_each_command_help_lists_its_own_options(capsys, command, option):
    """A command's options are added when it parses (a one-shot command does not build the others')."""
    status, out, _ = _run(capsys, command, "--help")
    assert status == 0 and out.startswith(f"usage: bpfsim {command} ") and option in out


@pytest.mark.parametrize("columns", [None, "50", "200", "0", "-3", "wide"])
def test_help_is_as_wide_as_argparse_makes_it(monkeypatch, columns):
    """The help formatter finds the terminal's width without shutil, as shutil.get_terminal_size does."""
    import argparse
    from bpfsim.cli import _HelpFormatter
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _HelpFormatter("bpfsim")._width == argparse.RawDescriptionHelpFormatter("bpfsim")._width


def test_disasm_prints_the_numbered_listing(capsys, write):
    status, out, _ = _run(capsys, "disasm", write(KILL_EXECVE), "--raw")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 4
    assert "0015   0   1 0000003b  jeq #0x3b, 0, 1" in lines[1]


@pytest.mark.parametrize("option, read_back", [
    pytest.param("--asm", Program.from_asm, id="assembler text"),
    pytest.param("--pseudo-c", Program.from_asm, id="seccomp-tools pseudo-C"),
    pytest.param("--c", Program.from_c, id="C initializer"),
])
def test_disasm_formats_read_back_to_the_same_filter(capsys, write, option, read_back):
    status, out, _ = _run(capsys, "disasm", write(KILL_EXECVE), "--arch", "x86_64", option)
    assert status == 0 and read_back(out) == KILL_EXECVE


def test_asm_writes_raw_records(capsys, tmp_path):
    source = tmp_path / "filter.asm"
    source.write_text("ld [0]\njeq #59, 0, 1\nret #0x80000000\nret #0x7fff0000\n")
    status, out, _ = _run(capsys, "asm", source, "-o", tmp_path / "out.bpf")
    assert status == 0
    assert (tmp_path / "out.bpf").read_bytes() == KILL_EXECVE.to_bytes()


def test_asm_can_write_a_c_initializer(capsys, tmp_path):
    source = tmp_path / "filter.asm"
    source.write_text("ret #0x7fff0000\n")
    status, _, _ = _run(capsys, "asm", source, "-o", tmp_path / "out.h", "--format", "c")
    assert status == 0
    assert Program.from_c((tmp_path / "out.h").read_text()) == prog(ret(ALLOW))


@pytest.mark.parametrize("name, row", [
    pytest.param("execve", {"nr": 59, "name": "execve", "action": "KILL_PROCESS", "data": 0, "errno": None,
                            "depends_on_args": False}, id="the contract's execve row"),
    pytest.param("read", {"nr": 0, "name": "read", "action": "ALLOW", "data": 0, "errno": None,
                          "depends_on_args": False}, id="allowed call"),
])
def test_table_json_has_one_object_per_syscall(capsys, write, name, row):
    status, out, _ = _run(capsys, "table", write(KILL_EXECVE), "--arch", "x86_64", "--json")
    rows = json.loads(out)
    found = next(r for r in rows if r["name"] == name)
    assert status == 0 and dict(list(found.items())[:6]) == row


def test_table_csv_has_a_header_and_json_spellings(capsys, write):
    status, out, _ = _run(capsys, "table", write(KILL_EXECVE), "--csv")
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith("nr,name,action,data,errno,depends_on_args,")
    assert any(line.startswith("59,execve,KILL_PROCESS,0,,false,") for line in lines)


def test_table_and_lint_say_the_same_in_every_run():
    """A condition is a set of frozensets of literals, which Python iterates in string-hash order
    (PYTHONHASHSEED changes it per run): the rows, their conditions and witnesses, and lint's
    findings must not follow it. man-db's filter once got another equivalent condition and
    another witness from one run to the next."""
    filter_path = str(Path(__file__).resolve().parent.parent / "corpus" / "man-db-sandbox-tbl" / "filter.bpf")
    for command in (["table", "--arch", "all", "--json"], ["lint", "--json"]):
        outputs = {subprocess.run([sys.executable, "-m", "bpfsim", *command, filter_path], capture_output=True,
                                  text=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
                   for seed in ("1", "2")}
        assert len(outputs) == 1 and outputs.pop().strip()


def test_table_text_is_aligned_rows(capsys, write):
    status, out, _ = _run(capsys, "table", write(KILL_EXECVE))
    execve = next(line for line in out.splitlines() if " execve " in line)
    assert status == 0 and execve.split()[:3] == ["59", "execve", "KILL_PROCESS"]


@pytest.mark.parametrize("tty, no_color, colored", [
    pytest.param(False, False, False, id="not a terminal: plain"),
    pytest.param(True, False, True, id="terminal: colored"),
    pytest.param(True, True, False, id="NO_COLOR wins"),
])
def test_colors_only_on_a_terminal_without_no_color(capsys, write, monkeypatch, tty, no_color, colored):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    _, out, _ = _run(capsys, "eval", write(KILL_EXECVE), "--nr", 59)
    assert ("\x1b[" in out) == colored


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "bpfsim", "--version"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0 and done.stdout.startswith("bpfsim ")


def _unused_pid() -> int:
    limit = int(Path("/proc/sys/kernel/pid_max").read_text())
    return next(pid for pid in range(limit - 1, 1, -1) if not Path(f"/proc/{pid}").exists())


def test_dump_of_a_missing_process_exits_2(capsys, tmp_path):
    pid = _unused_pid()
    status, _, err = _run(capsys, "dump", pid, "-o", tmp_path / "out")
    assert status == 2 and str(pid) in err and err.count("\n") == 1


_CHILD = textwrap.dedent("""
    import ctypes, sys
    libc = ctypes.CDLL(None, use_errno=True)
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    for blob in sys.argv[1:]:
        raw = bytes.fromhex(blob)
        buf = ctypes.create_string_buffer(raw, len(raw))
        fprog = Prog(len(raw) // 8, ctypes.addressof(buf))
        assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.read()
""")


@pytest.mark.kernel
def test_dump_writes_a_live_process_filters_oldest_first(capsys, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN")
    first, second = KILL_EXECVE.to_bytes(), prog(ret(ALLOW)).to_bytes()
    child = subprocess.Popen([sys.executable, "-c", _CHILD, first.hex(), second.hex()],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        status, out, err = _run(capsys, "dump", child.pid, "-o", tmp_path / "out")
    finally:
        child.stdin.close()
        child.wait()
    assert (status, out) == (0, "") and err.splitlines()[1] == f"{tmp_path / 'out' / '0001.bpf'}: 1 instructions"
    assert [(tmp_path / "out" / f"{i:04d}.bpf").read_bytes() for i in range(2)] == [first, second]
    assert not (tmp_path / "out" / "0002.bpf").exists()


# Filter 2 of twelve fails getpid with EPERM, the others allow it.
_EPERM_GETPID = prog(ld_abs(0), jump(JEQ, 39, 0, 1), ret(ERRNO | 1), ret(ALLOW))
_TWELVE = [_EPERM_GETPID if i == 2 else prog(ret(ALLOW)) for i in range(12)]


@pytest.mark.kernel
def test_a_dumped_stack_comes_back_in_install_order(capsys, tmp_path, kernel):
    """The issue's case: 0.bpf ... 24.bpf came back from out/*.bpf as 0, 1, 10, 11, ..., 2, and a
    verdict was attributed to the wrong filter. The names sort as installed, and the directory
    itself is the stack."""
    if os.geteuid() != 0:
        pytest.skip("PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN")
    blobs = [p.to_bytes() for p in _TWELVE]
    child = subprocess.Popen([sys.executable, "-c", _CHILD, *(b.hex() for b in blobs)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        assert _run(capsys, "dump", child.pid, "-o", tmp_path / "out")[0] == 0
    finally:
        child.stdin.close()
        child.wait()
    globbed = sorted((tmp_path / "out").glob("*.bpf"))
    assert [p.read_bytes() for p in globbed] == blobs
    for stack in ([tmp_path / "out"], globbed):
        status, out, _ = _run(capsys, "eval", *stack, "--nr", "getpid", "--json")
        assert status == 0 and json.loads(out)["filter"] == 2
    kernel.check_verdict(_TWELVE, SeccompData(39), evaluate(_TWELVE, SeccompData(39)))


def test_a_directory_of_older_dump_names_is_read_in_number_order(capsys, tmp_path):
    """Directories that bpfsim dump wrote before names were zero-padded: 0.bpf ... 11.bpf."""
    for i, program in enumerate(_TWELVE):
        (tmp_path / f"{i}.bpf").write_bytes(program.to_bytes())
    status, out, _ = _run(capsys, "eval", tmp_path, "--nr", "getpid", "--json")
    assert status == 0 and json.loads(out)["filter"] == 2
    status, out, _ = _run(capsys, "verify", tmp_path)
    assert status == 0 and out.splitlines()[10] == f"{tmp_path / '10.bpf'}: ok, 1 instructions"
    assert out.splitlines()[2] == f"{tmp_path / '2.bpf'}: ok, 4 instructions"
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = _run(capsys, "eval", empty, "--nr", 0)
    assert status == 2 and "a directory without .bpf files" in err and err.count("\n") == 1


def _dump_child(*programs):
    """A child process that installed ``programs`` (install order) and waits on stdin."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, *(p.to_bytes().hex() for p in programs)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    return child


@pytest.mark.kernel
def test_dump_leaves_no_file_of_an_earlier_larger_dump(capsys, tmp_path):
    """Issue 16 item 2: a 3-filter dump, then a 1-filter dump into one directory, must not leave
    1.bpf and 2.bpf for ``eval out/*.bpf`` to judge as a stack no process has."""
    if os.geteuid() != 0:
        pytest.skip("PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN")
    allow = prog(ret(ALLOW))
    for programs in ((KILL_EXECVE, allow, allow), (allow,)):
        child = _dump_child(*programs)
        try:
            status, _, err = _run(capsys, "dump", child.pid, "-o", tmp_path / "out")
        finally:
            child.stdin.close()
            child.wait()
        assert status == 0, err
    from bpfsim.cli import dump_file_name
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [dump_file_name(0)]
    assert (tmp_path / "out" / dump_file_name(0)).read_bytes() == allow.to_bytes()


@pytest.mark.kernel
def test_dump_refuses_a_directory_another_user_planted_a_link_in(capsys):
    """Issue 16 item 2: nobody makes shared/ with 0.bpf -> ../victim; root's dump must not write
    through the link (the directory is refused, as one another uid controls)."""
    from tests.users import as_nobody, need_root, shared_directory
    need_root()
    base = shared_directory()
    target, victim = os.path.join(base, "shared"), os.path.join(base, "victim")
    Path(victim).write_text("precious")

    def plant():
        os.mkdir(target)
        from bpfsim.cli import dump_file_name
        os.symlink("../victim", os.path.join(target, dump_file_name(0)))

    child = _dump_child(KILL_EXECVE)
    try:
        as_nobody(plant)
        status, out, err = _run(capsys, "dump", child.pid, "-o", target)
    finally:
        child.stdin.close()
        child.wait()
        contents = Path(victim).read_text()
        shutil.rmtree(base)
    assert (status, out) == (2, "") and "belongs to uid 65534" in err and err.count("\n") == 1
    assert contents == "precious"


# dump -c: a program that installs filters as real programs do. The first through prctl in the main
# thread, then one the kernel refuses (a jump past the end: EINVAL, nothing installed), then one
# through seccomp(2) in a second thread; it then writes its pid to argv[1] and waits a little.
_INSTALLER = textwrap.dedent("""
    import ctypes, os, sys, threading, time
    libc = ctypes.CDLL(None, use_errno=True)
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    def fprog(hexed):
        raw = bytes.fromhex(hexed)
        buf = ctypes.create_string_buffer(raw, len(raw))
        return Prog(len(raw) // 8, ctypes.addressof(buf)), buf
    first, refused, second = (fprog(h) for h in sys.argv[3:6])
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.byref(first[0]), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
    assert libc.syscall(317, 1, 0, ctypes.byref(refused[0])) == -1 and ctypes.get_errno() == 22
    def install():
        assert libc.syscall(317, 1, 0, ctypes.byref(second[0])) == 0  # seccomp, SET_MODE_FILTER
    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    with open(sys.argv[1], "w") as mark:
        mark.write(str(os.getpid()))
    time.sleep(float(sys.argv[2]))
""")
_EPERM_GETPPID = prog(ld_abs(0), jump(JEQ, 110, 0, 1), ret(ERRNO | 1), ret(ALLOW))
_EACCES_GETPPID = prog(ld_abs(0), jump(JEQ, 110, 0, 1), ret(ERRNO | 13), ret(ALLOW))
_JUMPS_PAST_THE_END = prog(jump(JEQ, 0, 5, 5), ret(ALLOW))


def _installer_command(tmp_path, wait: float = 0) -> str:
    blobs = (p.to_bytes().hex() for p in (_EPERM_GETPPID, _JUMPS_PAST_THE_END, _EACCES_GETPPID))
    return f"{sys.executable} -c '{_INSTALLER}' {tmp_path / 'mark'} {wait} {' '.join(blobs)}"


def _has_ended(pid: str) -> bool:
    """Gone, or a zombie its new parent has not reaped yet: killed either way."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _need_filter_reading() -> None:
    if os.geteuid() != 0:
        pytest.skip("PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN")


@pytest.mark.kernel
def test_dump_c_captures_each_installed_filter_in_install_order(capsys, tmp_path, kernel):
    """Issue 13 item 9: prctl in the main thread, seccomp(2) in another thread, a refused install
    between them: the files are the two installed programs, byte for byte, oldest first, and the
    directory judged as a stack gives the kernel's verdict for that stack."""
    _need_filter_reading()
    status, out, err = _run(capsys, "dump", "-c", _installer_command(tmp_path), "-o", tmp_path / "out")
    assert (status, out) == (0, ""), err
    assert [p.read_bytes() for p in sorted((tmp_path / "out").glob("*.bpf"))] == [
        _EPERM_GETPPID.to_bytes(), _EACCES_GETPPID.to_bytes()]
    lines = err.splitlines()
    assert lines[0].endswith(", prctl)") and lines[1].endswith(", seccomp)")
    assert lines[0].split("(thread ")[1] != lines[1].split("(thread ")[1]  # two threads installed them
    assert lines[2] == "the command exited with status 0"
    status, out, _ = _run(capsys, "eval", tmp_path / "out", "--nr", "getppid", "--json")
    assert status == 0 and json.loads(out)["errno"] == errno.EACCES
    stack, call = [_EPERM_GETPPID, _EACCES_GETPPID], SeccompData(110)
    kernel.check_verdict(stack, call, evaluate(stack, call))


# A forked child installs through prctl and exits; a thread installs a filter of its own; the main
# thread's TSYNC install then fails, returning that thread's tid (a positive value that installs
# nothing, kernel/seccomp.c:seccomp_attach_filter); a NEW_LISTENER install returns a listener fd.
_FAMILY = textwrap.dedent("""
    import ctypes, os, sys, threading
    libc = ctypes.CDLL(None, use_errno=True)
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    raw = [bytes.fromhex(h) for h in sys.argv[1:5]]
    bufs = [ctypes.create_string_buffer(r, len(r)) for r in raw]
    progs = [Prog(len(r) // 8, ctypes.addressof(b)) for r, b in zip(raw, bufs)]
    libc.syscall.restype = ctypes.c_long
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    child = os.fork()
    if child == 0:
        os._exit(0 if libc.prctl(22, 2, ctypes.byref(progs[0]), 0, 0) == 0 else 1)
    assert os.waitpid(child, 0)[1] == 0
    installed, done = threading.Event(), threading.Event()
    def own_filter():
        assert libc.syscall(317, 1, 0, ctypes.byref(progs[1])) == 0
        installed.set()
        done.wait()
    thread = threading.Thread(target=own_filter)
    thread.start()
    installed.wait()
    assert libc.syscall(317, 1, 1, ctypes.byref(progs[2])) == thread.native_id  # TSYNC fails
    assert libc.syscall(317, 1, 8, ctypes.byref(progs[3])) > 2  # NEW_LISTENER: an fd
    done.set()
    thread.join()
""")


@pytest.mark.kernel
def test_dump_c_follows_children_and_threads_and_reads_success_as_the_kernel_returns_it(capsys, tmp_path):
    _need_filter_reading()
    programs = [prog(ld_abs(0), jump(JEQ, nr, 0, 1), ret(ERRNO | nr), ret(ALLOW)) for nr in (102, 104, 107, 108)]
    command = f"{sys.executable} -c '{_FAMILY}' " + " ".join(p.to_bytes().hex() for p in programs)
    status, out, err = _run(capsys, "dump", "-c", command, "-o", tmp_path / "out")
    assert (status, out) == (0, ""), err
    got = [p.read_bytes() for p in sorted((tmp_path / "out").glob("*.bpf"))]
    assert got == [programs[0].to_bytes(), programs[1].to_bytes(), programs[3].to_bytes()]
    lines = err.splitlines()
    assert lines[0].endswith(", prctl)") and lines[1].endswith(", seccomp)")
    assert lines[2].endswith(", seccomp NEW_LISTENER)")
    assert len({line.split("(thread ")[1].split(",")[0] for line in lines[:3]}) == 3  # three tasks
    assert lines[3] == "the command exited with status 0"


@pytest.mark.kernel
def test_dump_c_limit_kills_the_command_and_what_it_started(capsys, tmp_path):
    """--limit 1 ends the command at its first filter (it never writes its mark), and a sleep the
    shell started in the background dies with it: nothing the command started is left running."""
    _need_filter_reading()
    command = f"sleep 30 & echo $! > {tmp_path / 'sleeper'}; {_installer_command(tmp_path)}"
    status, out, err = _run(capsys, "dump", "-c", command, "--limit", 1, "-o", tmp_path / "out")
    assert (status, out) == (0, ""), err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["0000.bpf"]
    assert (tmp_path / "out" / "0000.bpf").read_bytes() == _EPERM_GETPPID.to_bytes()
    assert err.splitlines()[-1] == "killed the command after filter 1 (--limit 1)"
    assert not (tmp_path / "mark").exists()
    assert _has_ended((tmp_path / "sleeper").read_text().strip())


@pytest.mark.kernel
def test_dump_c_timeout_keeps_the_filters_installed_before_it(capsys, tmp_path):
    _need_filter_reading()
    command = _installer_command(tmp_path, wait=30)
    status, out, err = _run(capsys, "dump", "-c", command, "--timeout", 5, "-o", tmp_path / "out")
    assert (status, out) == (0, ""), err
    assert len(list((tmp_path / "out").iterdir())) == 2
    assert err.splitlines()[-1] == "killed the command at the timeout (5 s)"
    assert _has_ended((tmp_path / "mark").read_text())


@pytest.mark.kernel
def test_dump_c_interrupted_ends_the_command_it_started(tmp_path):
    """Ctrl-C (SIGINT to bpfsim) kills bpfsim's tracer, and PTRACE_O_EXITKILL the command."""
    _need_filter_reading()
    pid_file = tmp_path / "pid"
    command = f"echo $$ > {pid_file}.new && mv {pid_file}.new {pid_file} && exec sleep 30"
    bpfsim = start_at_a_terminal([sys.executable, "-m", "bpfsim", "dump", "-c", command, "-o", str(tmp_path / "out")],
                                 stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if pid_file.exists() or bpfsim.poll() is not None:
                break
            time.sleep(0.05)
        bpfsim.send_signal(signal.SIGINT)
        assert bpfsim.wait(timeout=20) == 130
    finally:
        if bpfsim.poll() is None:
            bpfsim.kill()
            bpfsim.wait()
    assert _has_ended(pid_file.read_text().strip()) and not (tmp_path / "out").exists()


@pytest.mark.kernel
@pytest.mark.parametrize("command, says", [
    pytest.param("true", "the command exited with status 0, without installing a filter", id="no filter"),
    pytest.param("no-such-command-here", "status 127 (the shell did not find it)", id="command not found"),
    pytest.param("kill -9 $$", "the command was killed by signal 9, without installing a filter", id="killed"),
    pytest.param("sleep 30", "killed the command at the timeout (0.5 s), without installing a filter",
                 id="timeout"),
])
def test_dump_c_without_a_filter_says_what_happened_and_writes_nothing(capfd, tmp_path, command, says):
    _need_filter_reading()
    status = main(["dump", "-c", command, "--timeout", "0.5" if "sleep" in command else "20",
                   "-o", str(tmp_path / "out")])
    err = capfd.readouterr().err.splitlines()
    assert status == 2 and says in err[-1] and err[-1].startswith("bpfsim: dump -c: ")
    assert not (tmp_path / "out").exists()


@pytest.mark.kernel
def test_dump_c_without_the_privilege_says_so_before_running_anything():
    """kernel/seccomp.c:seccomp_get_filter refuses a tracer without CAP_SYS_ADMIN (EACCES): as
    nobody, the command is never run and the error says what is needed."""
    from tests.users import as_nobody, shared_directory
    from bpfsim.kernel import capture_filters
    base = shared_directory()
    mark = Path(base) / "ran"

    def capture():
        Path(base, "writable").touch()  # so the command could have left its mark
        with pytest.raises(BpfsimError) as refused:
            capture_filters(f"touch {mark}")
        assert refused.value.errno == errno.EACCES and "needs root (CAP_SYS_ADMIN)" in str(refused.value)

    try:
        as_nobody(capture)
        assert Path(base, "writable").exists() and not mark.exists()
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("argv, says", [
    pytest.param(["-o", "out"], "give a PID or -c COMMAND", id="neither"),
    pytest.param(["1", "-c", "true", "-o", "out"], "give a PID or -c COMMAND", id="both"),
    pytest.param(["1", "--limit", "2", "-o", "out"], "--limit and --timeout go with -c", id="limit without -c"),
    pytest.param(["-c", "true", "--limit", "0", "-o", "out"], "--limit 0: at least 1 filter", id="limit 0"),
    pytest.param(["-c", "true", "--timeout", "0", "-o", "out"], "a positive number of seconds", id="timeout 0"),
])
def test_dump_c_usage_errors_are_one_line(capsys, tmp_path, argv, says):
    status, out, err = _run(capsys, "dump", *argv)
    assert (status, out) == (2, "") and says in err and err.count("\n") == 1


def test_the_package_names_every_public_object_in_its_home_module():
    import bpfsim
    from bpfsim import debugger, errors, interpreter, seccomp
    assert bpfsim.Debugger is debugger.Debugger and bpfsim.trace is interpreter.trace
    assert bpfsim.Verdict is seccomp.Verdict and bpfsim.VerifyError is errors.VerifyError
    assert set(bpfsim.__all__) <= set(dir(bpfsim))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        bpfsim.Nope  # noqa: B018


def test_the_table_command_leaves_the_debugger_and_the_assembler_unloaded(write):
    """Start-up is most of a one-shot command's time (README, Performance)."""
    path = write(KILL_EXECVE)
    script = ("import sys; from bpfsim.cli import main; main(['table', sys.argv[1], '--json']); "
              "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, check=True)
    loaded = set(done.stderr.split())
    assert {"bpfsim.analysis", "bpfsim.seccomp"} <= loaded
    assert not loaded & {"bpfsim.debugger", "bpfsim.asm", "bpfsim.csource", "bpfsim.elf", "bpfsim.kernel",
                         "bpfsim.formatter", "bpfsim.interpreter", "typing", "shutil"}
    assert json.loads(done.stdout)[59]["action"] == "KILL_PROCESS"


def test_the_process_entry_returns_mains_status_with_what_is_left_frozen(write):
    """cli.run, the console script's and ``python -m bpfsim``'s entry: main's status, and every
    object left frozen out of the cyclic collector, which the interpreter's shutdown would walk."""
    script = ("import gc, sys; from bpfsim.cli import run; sys.argv[1:] = ['verify', sys.argv[1]]; "
              "status = run(); print(status, gc.get_freeze_count() > 0, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script, write(KILL_EXECVE)], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "0 True\n") and done.stdout.startswith(f"{write(KILL_EXECVE)}: ok")


# --- bad input found by a review of the command line ------------------------------------------

@pytest.mark.parametrize("options, words", [
    pytest.param(["--arch", "sparc"], "--arch sparc: seccomp filters do not run there", id="arch without seccomp"),
    pytest.param(["--arch", ""], "--arch: an empty name", id="empty arch"),
    pytest.param(["--listener", "3"], "--listener 3: the stack has filters 0..0", id="listener past the stack"),
    pytest.param(["--listener", "-1"], "--listener -1", id="negative listener"),
    pytest.param(["--threads", "0"], "--threads 0", id="no thread"),
])
@pytest.mark.parametrize("command", ["eval", "trace"])
def test_options_that_cannot_apply_are_usage_errors(capsys, write, options, words, command):
    status, out, err = _run(capsys, command, write(KILL_EXECVE), "--nr", 0, *options)
    assert (status, out) == (2, "") and words in err and err.count("\n") == 1


def test_usage_errors_name_the_command_once(capsys):
    status, _, err = _run(capsys, "eval", "--nr")
    assert (status, err) == (2, "bpfsim: eval: argument --nr: expected one argument (see bpfsim eval --help)\n")


def test_an_error_line_escapes_control_characters_and_is_cut(capsys, tmp_path):
    escape = tmp_path / "esc.asm"
    escape.write_text("ret #0\x1b[31mRED\n")
    status, _, err = _run(capsys, "eval", escape, "--nr", 0)
    assert status == 2 and "\x1b" not in err and "\\x1b" in err and err.count("\n") == 1
    long = tmp_path / "long.asm"
    long.write_text("ld [" + "9" * 100_000 + "]\n")
    status, _, err = _run(capsys, "eval", long, "--nr", 0)
    assert status == 2 and len(err) < 600 and "more characters)" in err


def test_an_unterminated_comment_is_a_syntax_error(capsys, tmp_path):
    """The kernel's bpf_asm stops with "lex unknown character" there too."""
    path = tmp_path / "open.asm"
    path.write_text("ret #0x7fff0000 /* never closed\n")
    status, _, err = _run(capsys, "eval", path, "--nr", 0)
    assert status == 2 and f"{path}:1:17: this /* comment is never closed" in err


def test_closed_stdout_and_a_full_disk_are_reported(capsys, write, monkeypatch):
    path = write(KILL_EXECVE)
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["table", path]) == 2
    assert capsys.readouterr().err == "bpfsim: standard output is closed\n"
    monkeypatch.undo()
    full = subprocess.run([sys.executable, "-m", "bpfsim", "table", path], stdout=open("/dev/full", "w"),
                          stderr=subprocess.PIPE, text=True)
    assert (full.returncode, full.stderr) == (2, "bpfsim: standard output: No space left on device\n")


def test_a_closed_pipe_exits_as_sigpipe_would(write):
    """The reader is gone before bpfsim writes (as when head(1) has read its line): closing the
    read end first makes this deterministic, where racing ``| head -1`` was not on a busy machine."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "bpfsim", "table", str(write(KILL_EXECVE))],
                              stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == ""


@pytest.mark.parametrize("pid", [0, -5, 1 << 31, 10**22])
def test_dump_refuses_pids_that_are_not_pids(capsys, tmp_path, pid):
    status, _, err = _run(capsys, "dump", pid, "-o", tmp_path / "out")
    assert status == 2 and f"cannot dump thread {pid}" in err and err.count("\n") == 1


def test_asm_and_verify_refuse_what_would_be_silently_odd(capsys, tmp_path, write):
    empty = tmp_path / "empty.asm"
    empty.write_text("; nothing\n")
    assert _run(capsys, "asm", empty, "-o", tmp_path / "out.bpf")[:2] == (2, "")
    assert not (tmp_path / "out.bpf").exists()
    status, _, err = _run(capsys, "verify", write(KILL_EXECVE), "--via", "prctl")
    assert status == 2 and "give --installs-as" in err
    assert _run(capsys, "dump", 1, "-o", "")[0] == 2


def test_filter_arch_numbers_the_names_of_c_and_assembler_text(capsys, tmp_path):
    """ENOSYS is 89 in arch/mips/include/uapi/asm/errno.h, 38 in asm-generic's."""
    source = tmp_path / "f.c"
    source.write_text("struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS) };\n")
    for arch, number in (("mips", 89), ("x86_64", 38)):
        status, out, _ = _run(capsys, "eval", source, "--nr", 0, "--filter-arch", arch, "--arch", arch, "--json")
        assert status == 0 and json.loads(out)["errno"] == number
    assert _run(capsys, "asm", source, "-o", tmp_path / "f.bpf", "--arch", "mips")[0] == 0
    assert Program.load(tmp_path / "f.bpf")[0].k == ERRNO | 89


_NOEXEC = "ld [nr]\njeq #execve, 0, 1\nret ERRNO(EACCES)\nret ALLOW\n"


def test_the_calls_arch_does_not_renumber_the_filter(capsys, tmp_path, kernel):
    """The issue's case: eval noexec.asm --arch i386 --nr execve said EACCES, while the filter as a
    program installs it (assembled for x86_64: jeq #59) lets i386 execve (11) through."""
    path = tmp_path / "noexec.asm"
    path.write_text(_NOEXEC)
    status, out, err = _run(capsys, "eval", path, "--arch", "i386", "--nr", "execve")
    assert (status, out) == (2, "") and "needs the filter's arch" in err and "--filter-arch" in err
    status, out, _ = _run(capsys, "eval", path, "--filter-arch", "x86_64", "--arch", "i386", "--nr", "execve", "--json")
    assert status == 0 and json.loads(out)["action"] == "ALLOW"
    path.write_text("arch x86_64\n" + _NOEXEC)
    status, out, _ = _run(capsys, "eval", path, "--arch", "i386", "--nr", "execve", "--json")
    assert status == 0 and json.loads(out)["action"] == "ALLOW"
    installed = Program.load(path)
    kernel.check_verdict([installed], SeccompData(11, "i386"), evaluate([installed], SeccompData(11, "i386")))


_I386_ONLY = "ld [arch]\njeq #AUDIT_ARCH_I386, 0, 1\nret ALLOW\nret KILL_PROCESS\n"


def test_the_arch_is_read_from_the_filters_code(capsys, tmp_path, kernel):
    """A stack that lets only i386 calls through is judged for i386, and says so first."""
    path = tmp_path / "i386.asm"
    path.write_text(_I386_ONLY)
    status, out, _ = _run(capsys, "table", path)
    lines = out.splitlines()
    assert status == 0 and lines[0] == "# arch i386: read from the filters, which may let its calls through (--arch ARCH or all to choose)"
    assert lines[2].split()[:3] == ["0", "restart_syscall", "ALLOW"]
    status, out, _ = _run(capsys, "eval", path, "--nr", "getpid", "--json")
    assert status == 0 and (json.loads(out)["arch"], json.loads(out)["nr"]) == ("i386", 20)
    for data in (SeccompData(20, "i386"), SeccompData(39, "x86_64")):
        installed = Program.load(path)
        kernel.check_verdict([installed], data, evaluate([installed], data))


def test_a_multi_arch_stack_is_judged_for_each_arch(capsys):
    """Docker's aarch64 profile: its first test is AUDIT_ARCH_AARCH64, then AUDIT_ARCH_ARM; the issue
    saw 381 KILL_THREAD rows of x86_64 calls."""
    moby = "corpus/moby-default-aarch64/filter.bpf"
    status, out, _ = _run(capsys, "table", moby)
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith("# arches aarch64, arm: read from the filters, which may let their calls")
    assert lines[1].split()[:2] == ["arch", "nr"]
    rows = [line for line in lines[2:] if not line.startswith(" ")]  # indented lines list a row's verdicts
    assert {line.split()[0] for line in rows} == {"aarch64", "arm"}
    status, out, _ = _run(capsys, "table", moby, "--json")
    assert {row["arch"] for row in json.loads(out)} == {"aarch64", "arm"}
    status, out, _ = _run(capsys, "eval", moby, "--nr", "getpid")
    assert status == 0 and [line.split(" (")[0] for line in out.splitlines() if "(nr" in line] == ["getpid", "getpid"]
    status, _, err = _run(capsys, "eval", moby, "--nr", "getpid", "--json")
    assert status == 2 and f"{moby}: the stack lets calls of aarch64, arm through: choose one with --arch" in err
    status, out, _ = _run(capsys, "table", moby, "--arch", "all", "--json")
    assert status == 0 and {"x86_64", "i386", "aarch64", "s390x"} <= {row["arch"] for row in json.loads(out)}


def test_a_stack_that_does_not_check_the_arch_says_so(capsys, write):
    status, out, _ = _run(capsys, "table", write(KILL_EXECVE))
    assert status == 0 and out.splitlines()[0] == (
        "# arch x86_64, this machine's: the filters do not check the arch (--arch ARCH to choose)")


def _run_with_stdin(monkeypatch, capsys, data: bytes, *argv):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    return _run(capsys, *argv)


@pytest.mark.parametrize("command", [["eval", "-", "--nr", "execve", "--json"], ["table", "-", "--json"],
                                     ["verify", "-"], ["disasm", "-"]])
@pytest.mark.parametrize("text", [False, True], ids=["raw records", "assembler text"])
def test_a_filter_can_come_from_standard_input(monkeypatch, capsys, command, text, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(KILL_EXECVE.to_asm(arch="x86_64").encode() if text else KILL_EXECVE.to_bytes())
    from_file = _run(capsys, *[str(path) if a == "-" else a for a in command])
    status, out, err = _run_with_stdin(monkeypatch, capsys, path.read_bytes(), *command)
    assert (status, err) == (0, "") and out == from_file[1].replace(str(path), "<stdin>")


def test_dash_is_read_once_and_not_by_debug(monkeypatch, capsys, write):
    status, _, err = _run_with_stdin(monkeypatch, capsys, b"", "eval", "-", "-", "--nr", 0)
    assert status == 2 and "standard input can be read once" in err
    status, _, err = _run_with_stdin(monkeypatch, capsys, b"", "debug", "-", "--nr", 0)
    assert status == 2 and "debug reads its commands from standard input" in err


def test_asm_writes_to_standard_output_and_its_status_to_stderr(tmp_path):
    """The issue: asm x.asm -o /dev/stdout appended its status line to the binary; -o - made a file '-'."""
    source = tmp_path / "x.asm"
    source.write_text("ret ALLOW\n")
    for out in ("-", "/dev/stdout"):
        done = subprocess.run([sys.executable, "-m", "bpfsim", "asm", str(source), "-o", out], capture_output=True,
                              cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, Program.load(source).to_bytes()), (out, done.stderr)
        assert done.stderr.decode().endswith(": 1 instructions\n")
    assert not (tmp_path / "-").exists()


def test_a_symbol_names_one_of_several_filters(capsys, tmp_path):
    """The C reader's error told users to name the symbol; --symbol and FILE:SYMBOL now do."""
    source = tmp_path / "two.c"
    source.write_text("struct sock_filter first[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1) };\n"
                      "struct sock_filter second[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 2) };\n")
    status, _, err = _run(capsys, "eval", source, "--nr", 0, "--json")
    assert status == 2 and "first, second" in err
    for argv in ([f"{source}:second"], [source, "--symbol", "second"]):
        status, out, _ = _run(capsys, "eval", *argv, "--nr", 0, "--json")
        assert status == 0 and json.loads(out)["errno"] == 2
    status, _, err = _run(capsys, "eval", f"{source}:second", "--symbol", "first", "--nr", 0)
    assert status == 2 and "give one" in err
    raw = tmp_path / "k.bpf"
    raw.write_bytes(KILL_EXECVE.to_bytes())
    status, _, err = _run(capsys, "eval", raw, "--symbol", "x", "--nr", 0)
    assert status == 2 and "only ELF files and C sources name their filters" in err


@pytest.mark.parametrize("nr, expect, status", [
    pytest.param(59, "KILL_PROCESS", 0, id="the action"),
    pytest.param(59, "kill_process", 0, id="any case"),
    pytest.param(39, "ALLOW", 0, id="allowed"),
    pytest.param(59, "ALLOW", 3, id="another action: status 3"),
])
def test_expect_sets_the_exit_status(capsys, write, nr, expect, status, kernel):
    status_seen, out, err = _run(capsys, "eval", write(KILL_EXECVE), "--nr", nr, "--expect", expect)
    assert status_seen == status and out.startswith(("KILL_PROCESS", "ALLOW"))
    assert (err == "") == (status == 0) and (status == 0 or "expected ALLOW, got KILL_PROCESS from filter 0" in err)
    kernel.check_verdict([KILL_EXECVE], SeccompData(nr), evaluate([KILL_EXECVE], SeccompData(nr)))


@pytest.mark.parametrize("expect, status", [
    pytest.param("ERRNO", 0, id="any errno"),
    pytest.param("ERRNO:EACCES", 0, id="by name"),
    pytest.param("ERRNO:13", 0, id="by number"),
    pytest.param("ERRNO:EPERM", 3, id="another errno"),
])
def test_expect_can_name_the_errno(capsys, tmp_path, expect, status, kernel):
    path = tmp_path / "noexec.asm"
    path.write_text("arch x86_64\n" + _NOEXEC)
    assert _run(capsys, "eval", path, "--nr", "execve", "--expect", expect, "--json")[0] == status
    program = Program.load(path)
    kernel.check_verdict([program], SeccompData(59), evaluate([program], SeccompData(59)))


def test_expect_names_the_errno_as_the_calls_arch_numbers_it(capsys, tmp_path):
    """ENOSYS is 89 in arch/mips/include/uapi/asm/errno.h."""
    path = tmp_path / "enosys.asm"
    path.write_text("ret ERRNO(89)\n")
    assert _run(capsys, "eval", path, "--nr", 0, "--arch", "mips", "--expect", "ERRNO:ENOSYS")[0] == 0
    assert _run(capsys, "eval", path, "--nr", 0, "--arch", "x86_64", "--expect", "ERRNO:ENOSYS")[0] == 3


@pytest.mark.parametrize("expect, words", [
    pytest.param("PERMIT", "the action is one of KILL_PROCESS", id="unknown action"),
    pytest.param("ALLOW:1", "only ERRNO takes a value", id="value for another action"),
    pytest.param("ERRNO:", "an errno after the colon", id="empty errno"),
    pytest.param("ERRNO:ENOPE", "no errno ENOPE on x86_64", id="unknown errno name"),
])
def test_a_bad_expectation_is_a_usage_error(capsys, write, expect, words):
    status, _, err = _run(capsys, "eval", write(KILL_EXECVE), "--nr", 0, "--expect", expect)
    assert status == 2 and words in err and err.count("\n") == 1


def test_a_number_no_syscall_has_is_said_so(capsys, write):
    status, out, _ = _run(capsys, "eval", write(KILL_EXECVE), "--nr", 999)
    assert status == 0 and out.splitlines()[1].startswith("nr 999 (x86_64 has no syscall with that number): ")


def test_x32_numbers_are_hex_and_aligned_in_the_table(capsys):
    status, out, _ = _run(capsys, "table", "corpus/moby-default-x32/filter.bpf", "--arch", "x32")
    lines = out.splitlines()
    assert status == 0 and lines[1].startswith("        nr  name") and lines[2].startswith("0x40000000  read ")
    assert {line.index("  ", 10) for line in lines[2:12]} == {10}


def test_verify_names_the_refused_filter_and_goes_on_with_the_others(capsys, write, kernel):
    """The issue: verify stopped at the first refusal; now the others get their ok lines, the refused
    one its index, and the path length used is reported (kernel/seccomp.c:seccomp_attach_filter): the
    converted lengths plus 4 per attached filter, 13 + 9, the sum tests/test_seccomp.py checks against the
    kernel's limit."""
    bad = prog(ld_abs(64), RET_A)
    paths = [write(KILL_EXECVE, "0.bpf"), write(bad, "1.bpf"), write(prog(ret(ALLOW)), "2.bpf")]
    status, out, err = _run(capsys, "verify", *paths)
    assert status == 1 and out.splitlines() == [
        f"{paths[0]}: ok, 4 instructions", f"{paths[1]}: refused (filter 1)", f"{paths[2]}: ok, 1 instructions",
        "path length 22 of 32768 (kernel/seccomp.c:seccomp_attach_filter)"]
    assert err.startswith(f"bpfsim: {paths[1]} (filter 1): EINVAL: pc 0: ")
    status, out, _ = _run(capsys, "verify", *paths, "--json")
    report = json.loads(out)
    assert status == 1 and (report["ok"], report["path_length"], report["max_path_length"]) == (False, 22, 32768)
    assert [(f["index"], f["ok"], f.get("errno"), f.get("pc")) for f in report["filters"]] == [
        (0, True, None, None), (1, False, errno.EINVAL, 0), (2, True, None, None)]
    kernel.check_install(bad, errno.EINVAL)


def test_trace_and_disasm_print_json(capsys, write, kernel):
    path = write(KILL_EXECVE)
    status, out, _ = _run(capsys, "trace", path, "--nr", "execve", "--json")
    report = json.loads(out)
    assert status == 0 and report["verdict"]["action"] == "KILL_PROCESS" and report["verdict"]["signal"] == 31
    assert [step["pc"] for step in report["filters"][0]["steps"]] == [0, 1, 2]
    assert report["filters"][0]["steps"][1] == {"pc": 1, "insn": "jeq #0x3b, 0, 1", "a": 59, "x": 0, "next_pc": 2,
                                                "ret": None}
    kernel.check_verdict([KILL_EXECVE], SeccompData(59), evaluate([KILL_EXECVE], SeccompData(59)))
    status, out, _ = _run(capsys, "disasm", path, "--json", "--arch", "x86_64")
    rows = json.loads(out)
    assert status == 0 and rows[1] == {"pc": 1, "code": JEQ, "jt": 0, "jf": 1, "k": 59, "text": "jeq #0x3b, 0, 1",
                                       "comment": "execve; true: 2, false: 3"}


@pytest.mark.parametrize("value, why", [
    pytest.param("0o101", "0o is Python's prefix, not C's", id="python octal"),
    pytest.param("0b101", "0b is Python's prefix, not C's", id="python binary"),
    pytest.param("0109", "octal has no digit 8 or 9", id="not octal"),
    pytest.param("1_000", "decimal, 0x-hex or 0-octal", id="python digit separators"),
])
def test_a_value_c_would_not_read_is_refused_with_the_reason(capsys, write, value, why):
    """The issue: --arg 2=0101 was refused while 0o101 and 0b101 passed; values now read as C reads them."""
    status, _, err = _run(capsys, "eval", write(ARG2_AS_ERRNO), "--nr", 0, "--arg", f"2={value}")
    assert status == 2 and why in err and err.count("\n") == 1


@pytest.mark.parametrize("value, arch, expected", [
    pytest.param("O_WRONLY|O_CREAT", "x86_64", 0x41, id="asm-generic/fcntl.h: O_CREAT 00000100"),
    pytest.param("O_WRONLY|O_CREAT", "mipsel", 0x101, id="arch/mips/include/uapi/asm/fcntl.h: O_CREAT 0x0100"),
    pytest.param("AF_INET", "x86_64", 2, id="include/linux/socket.h: AF_INET 2"),
    pytest.param("SOCK_STREAM", "mipsel", 2, id="arch/mips/include/asm/socket.h: SOCK_STREAM 2"),
    pytest.param("PR_SET_NO_NEW_PRIVS | 0x100", "aarch64", 0x126, id="names and numbers OR-ed"),
])
def test_arg_values_may_be_constant_names_numbered_by_the_call_arch(capsys, write, value, arch, expected, kernel):
    """The issue: --arg 1=O_WRONLY|O_CREAT, --arg 0=AF_INET, --arg 0=CLONE_NEWUSER."""
    status, out, _ = _run(capsys, "eval", write(ARG2_AS_ERRNO), "--nr", 0, "--arch", arch, "--arg", f"2={value}",
                          "--json")
    assert (status, json.loads(out)["data"]) == (0, expected)
    call = SeccompData(0, arch, args=[0, 0, expected])
    kernel.check_verdict([ARG2_AS_ERRNO], call, evaluate([ARG2_AS_ERRNO], call))


def test_an_unknown_constant_name_is_a_usage_error_naming_it(capsys, write):
    status, _, err = _run(capsys, "eval", write(ARG2_AS_ERRNO), "--nr", 0, "--arg", "2=O_WRONGLY|O_CREAT")
    assert status == 2 and "'O_WRONGLY'" in err and err.count("\n") == 1


X86_64_ONLY = prog(ld_abs(4), jump(JEQ, 0xC000003E, 1, 0), ret(KILL_PROCESS), ret(ALLOW))
X86_64_AND_I386 = prog(ld_abs(4), jump(JEQ, 0xC000003E, 2, 0), jump(JEQ, 0x40000003, 1, 0), ret(KILL_PROCESS),
                       ret(ALLOW))


def test_diff_judges_the_arches_either_side_lets_through(capsys, write, kernel):
    """A new-user walk: diff judged only the arches both stacks let through, so a stack that
    newly lets every i386 call run compared equal on x86_64 and the i386 half went unreported."""
    old, new = write(X86_64_ONLY, "old.bpf"), write(X86_64_AND_I386, "new.bpf")
    status, out, _ = _run(capsys, "diff", old, new, "--json")
    found = json.loads(out)
    assert status == 1 and found and {d["arch"] for d in found} == {"i386"}
    getpid = next(d for d in found if d["name"] == "getpid")
    assert [v["action"] for v in getpid["old"]] == ["KILL_PROCESS"] and [v["action"] for v in getpid["new"]] == ["ALLOW"]
    call = SeccompData("getpid", "i386")
    kernel.check_verdict([X86_64_ONLY], call, evaluate([X86_64_ONLY], call))
    kernel.check_verdict([X86_64_AND_I386], call, evaluate([X86_64_AND_I386], call))
    status, out, _ = _run(capsys, "diff", old, new)
    assert status == 1 and out.startswith("# arches x86_64, x32, i386: read from the filters")


def test_disasm_reads_a_dump_directory_of_one_filter_and_names_the_files_of_a_stack(capsys, tmp_path):
    """A new-user walk: 'disasm DIR' said 'Is a directory' though every FILTER may be a dump directory."""
    one = tmp_path / "one"
    one.mkdir()
    (one / "0000.bpf").write_bytes(KILL_EXECVE.to_bytes())
    status, out, _ = _run(capsys, "disasm", one, "--asm")
    assert status == 0 and Program.from_asm(out) == KILL_EXECVE
    (one / "0001.bpf").write_bytes(X86_64_ONLY.to_bytes())
    status, _, err = _run(capsys, "disasm", one)
    assert status == 2 and "a stack of 2 filters" in err and "0000.bpf, 0001.bpf" in err


def test_eval_shows_an_x32_number_in_hex_as_the_table_does(capsys, write, kernel):
    status, out, _ = _run(capsys, "eval", write(KILL_EXECVE), "--arch", "x32", "--nr", "write")
    assert status == 0 and "write (nr 0x40000001, x86_64)" in out
    call = SeccompData("write", "x32")
    kernel.check_verdict([KILL_EXECVE], call, evaluate([KILL_EXECVE], call))


def test_a_long_errno_name_keeps_the_table_columns_aligned(capsys, write, kernel):
    """A new-user walk: on a libseccomp filter, "97 (EAFNOSUPPORT)" outgrew the errno column and
    pushed "yes" one place right of its heading. The verdicts are the kernel's."""
    socket_unless_unix = prog(ld_abs(0), jump(JEQ, 41, 0, 3), ld_abs(16), jump(JEQ, 1, 1, 0),
                              ret(ERRNO | errno.EAFNOSUPPORT), ret(ALLOW))
    status, out, _ = _run(capsys, "table", write(socket_unless_unix), "--arch", "x86_64")
    lines = out.splitlines()
    socket = next(line for line in lines if " socket " in line)
    assert status == 0 and "97 (EAFNOSUPPORT)  yes" in socket
    assert socket.index("yes") == lines[1].index("depends on args")
    for args in ((), (1,)):
        call = SeccompData("socket", args=args)
        kernel.check_verdict([socket_unless_unix], call, evaluate([socket_unless_unix], call))


def test_filters_may_come_after_the_options(capsys, write, kernel):
    """A new-user walk: 'eval a.o --symbol X b.o:Y --nr 9' said "unrecognized arguments: b.o:Y";
    FILTERs now go anywhere, as getopt's permutation allows."""
    deny = prog(ld_abs(0), jump(JEQ, 39, 0, 1), ret(ERRNO | errno.EPERM), ret(ALLOW))
    older, newer = write(deny, "0.bpf"), write(prog(ret(ERRNO | errno.EACCES)), "1.bpf")
    status, out, err = _run(capsys, "eval", older, "--nr", "getpid", newer, "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == json.loads(_run(capsys, "eval", older, newer, "--nr", "getpid", "--json")[1])
    assert json.loads(out)["filter"] == 1 and json.loads(out)["errno"] == errno.EACCES  # ties: the newest
    stack = [deny, prog(ret(ERRNO | errno.EACCES))]
    kernel.check_verdict(stack, SeccompData("getpid"), evaluate(stack, SeccompData("getpid")))


@pytest.mark.parametrize("command", ["eval", "trace"])
def test_arch_all_with_one_calls_output_does_not_say_the_stack_lets_every_arch_through(capsys, write, command,
                                                                                       kernel):
    """A new-user walk: 'eval --arch all --json' on an x86_64-only filter said "the stack lets calls of
    x86_64, x32, i386, aarch64, ... through", which the filter does not (it kills an i386 call)."""
    i386_call = SeccompData("getpid", "i386")
    assert evaluate([X86_64_ONLY], i386_call).action.name == "KILL_PROCESS"
    kernel.check_verdict([X86_64_ONLY], i386_call, evaluate([X86_64_ONLY], i386_call))
    extra = ["--json"] if command == "eval" else []
    status, _, err = _run(capsys, command, write(X86_64_ONLY), "--nr", "getpid", "--arch", "all", *extra)
    assert status == 2 and "lets calls" not in err
    assert err.startswith("bpfsim: --arch all judges ") and err.rstrip().endswith("choose one with --arch")


def test_disasm_and_asm_take_the_filter_arch_option_the_readme_names(capsys, tmp_path):
    """A new-user walk: the README's 'the filter's arch (an arch line, or --filter-arch)' did not hold for
    disasm and asm, which call it --arch: '--filter-arch s390x' was "unrecognized arguments".
    s390x's getpid is 20 (arch/s390/kernel/syscalls/syscall.tbl)."""
    source = tmp_path / "f.c"
    source.write_text("struct sock_filter f[] = { BPF_STMT(BPF_LD+BPF_W+BPF_ABS, 0), "
                      "BPF_JUMP(BPF_JMP+BPF_JEQ+BPF_K, __NR_getpid, 0, 1), BPF_STMT(BPF_RET+BPF_K, 0), "
                      "BPF_STMT(BPF_RET+BPF_K, SECCOMP_RET_ALLOW) };")
    status, out, _ = _run(capsys, "disasm", source, "--filter-arch", "s390x")
    assert status == 0 and out == _run(capsys, "disasm", source, "--arch", "s390x")[1]
    assert "jeq #0x14, 0, 1  ; getpid" in out
    status, _, _ = _run(capsys, "asm", source, "--filter-arch", "s390x", "-o", tmp_path / "f.bpf")
    assert status == 0 and Program.from_bytes((tmp_path / "f.bpf").read_bytes())[1].k == 20


def test_dash_d_defines_the_macros_a_c_source_is_built_with(capsys, tmp_path, kernel):
    """A new-user walk: OpenSSH's filter source is configured by -D flags of its build, and no command took
    them. The verdict is the kernel's: arch x86_64, then ERRNO(EACCES) for every call."""
    source = tmp_path / "sandbox.c"
    source.write_text("#ifdef SANDBOX\nstruct sock_filter f[] = {\n"
                      "  BPF_STMT(BPF_LD+BPF_W+BPF_ABS, offsetof(struct seccomp_data, arch)),\n"
                      "  BPF_JUMP(BPF_JMP+BPF_JEQ+BPF_K, AUDIT_ARCH, 1, 0),\n"
                      "  BPF_STMT(BPF_RET+BPF_K, SECCOMP_RET_KILL),\n"
                      "  BPF_STMT(BPF_RET+BPF_K, SECCOMP_RET_ERRNO|EACCES) };\n#endif\n")
    status, out, err = _run(capsys, "eval", source, "-D", "SANDBOX", "--define", "AUDIT_ARCH=AUDIT_ARCH_X86_64",
                            "--nr", "getpid", "--json")
    assert (status, err) == (0, "") and json.loads(out)["errno"] == errno.EACCES
    status, _, err = _run(capsys, "disasm", source)
    assert status == 2 and "no struct sock_filter array" in err
    status, _, err = _run(capsys, "disasm", source, "-D", "1X=2")
    assert status == 2 and "'1X=2' is not NAME or NAME=VALUE" in err
    stack = [prog(ld_abs(4), jump(JEQ, 0xC000003E, 1, 0), ret(0), ret(ERRNO | errno.EACCES))]
    assert Program.load(source, defines={"SANDBOX": "1", "AUDIT_ARCH": "AUDIT_ARCH_X86_64"}) == stack[0]
    kernel.check_verdict(stack, SeccompData("getpid"), evaluate(stack, SeccompData("getpid")))


def test_big_endian_records_are_read_with_big_endian_and_a_refusal_says_so(capsys, tmp_path, kernel):
    """A new-user walk: a filter libseccomp exported for s390x (big-endian records) was refused as
    "opcode 0x2000 is not a classic BPF instruction", with no word of the byte order."""
    s390x_only = prog(ld_abs(4), jump(JEQ, 0x80000016, 1, 0), ret(KILL_PROCESS), ret(ERRNO | 38))
    path = tmp_path / "s390x.bpf"
    path.write_bytes(b"".join(struct.pack(">HBBI", i.code, i.jt, i.jf, i.k) for i in s390x_only))
    status, _, err = _run(capsys, "verify", path)
    assert status == 1 and "(read as big-endian records it is a filter the kernel accepts: give --big-endian)" in err
    status, out, _ = _run(capsys, "eval", path, "--big-endian", "--arch", "x86_64", "--nr", "getpid", "--json")
    assert status == 0 and json.loads(out)["action"] == "KILL_PROCESS"
    status, out, _ = _run(capsys, "disasm", path, "--big-endian", "--asm")
    assert status == 0 and Program.from_asm(out) == s390x_only
    call = SeccompData("getpid")
    kernel.check_verdict([s390x_only], call, evaluate([s390x_only], call))
