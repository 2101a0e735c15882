"""The kernel oracle under attack and load (issue 16 items 1, 3, 12, 13): what it executes, what
it leaves attached, who it belongs to, and what its dump errors say.

Kept apart from test_kernel.py (the kernel facts) because these tests stage other users, planted
files and stuck processes. Expected messages name the cause the kernel's ptrace_attach
(kernel/ptrace.c) refuses with EPERM, checked against what /proc shows for the staged process.
"""

import ctypes
import errno
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bpfsim import SeccompData, abi, kernel
from bpfsim.errors import KernelError
from bpfsim.kernel import Oracle
from tests.users import as_nobody, need_root, shared  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(kernel.seccomp_unavailable_reason() is not None,
                       reason=str(kernel.seccomp_unavailable_reason())),
]

GETPID = 39
PRCTL, PR_GET_DUMPABLE = 157, 3  # x86_64 table; include/uapi/linux/prctl.h
ERRNO_7 = struct.pack("<HBBI", 0x06, 0, 0, abi.SECCOMP_RET_ERRNO | 7)
CHECKOUT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter so that the helper is looked up (and maybe built) from scratch.
ASK = f"""
import struct, sys
sys.path.insert(0, {str(CHECKOUT)!r})
import bpfsim
from bpfsim import kernel
print(kernel.run_calls([{ERRNO_7!r}], [bpfsim.SeccompData(39)])[0])
"""


def _ask_in_fresh_process(env):
    return subprocess.run([sys.executable, "-c", ASK], env=env, capture_output=True, text=True, timeout=120)


# --- item 1: never execute a helper another uid could have written ------------------------------

def _plant(cache, proof, *, directory_by_nobody, directory_mode=0o755):
    """Put a script where the helper of this source is cached; running it creates ``proof``."""
    helper = os.path.join(cache, "bpfsim", f"oracle-{kernel._source_hash()}")
    if not directory_by_nobody:
        os.mkdir(os.path.join(cache, "bpfsim"))
        os.chmod(os.path.join(cache, "bpfsim"), directory_mode)

    def plant():
        if directory_by_nobody:
            os.mkdir(os.path.join(cache, "bpfsim"), 0o755)
        with open(helper, "w") as script:
            script.write(f"#!/bin/sh\ntouch {proof}\nexit 1\n")
        os.chmod(helper, 0o755)

    as_nobody(plant)


@pytest.mark.parametrize("directory_by_nobody, directory_mode", [
    pytest.param(True, None, id="nobody made the cache directory and the helper"),
    pytest.param(False, 0o777, id="root's cache directory is writable by others"),
])
def test_a_helper_another_user_planted_is_never_executed(shared, directory_by_nobody, directory_mode):
    """Issue 16 item 1: root with nobody's cache directory (sudo -E, su without -) runs the
    oracle; the planted script must not run, and the oracle must still answer."""
    proof = os.path.join(shared, "ran-as-root")
    _plant(shared, proof, directory_by_nobody=directory_by_nobody, directory_mode=directory_mode)
    done = _ask_in_fresh_process({**os.environ, "XDG_CACHE_HOME": shared})
    assert not os.path.exists(proof), "the planted helper ran"
    assert (done.returncode, done.stdout.strip()) == (0, "ERRNO(7) ret=-7"), done.stderr


def test_a_cached_helper_of_ones_own_that_is_not_the_build_is_replaced(tmp_path):
    """Content, not only ownership: a file of the right name that is not the helper built from
    this source (here a script of our own) is rebuilt, not executed."""
    cache = tmp_path / "bpfsim"
    cache.mkdir(mode=0o700)
    proof = tmp_path / "ran"
    helper = cache / f"oracle-{kernel._source_hash()}"
    helper.write_text(f"#!/bin/sh\ntouch {proof}\nexit 1\n")
    helper.chmod(0o700)
    done = _ask_in_fresh_process({**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert (done.returncode, done.stdout.strip()) == (0, "ERRNO(7) ret=-7"), done.stderr
    assert not proof.exists()
    assert helper.read_bytes().startswith(b"\x7fELF") and helper.stat().st_mode & 0o777 == 0o700


def test_the_cached_helper_is_reused_without_a_compiler(tmp_path):
    first = _ask_in_fresh_process({**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    no_compiler = {"XDG_CACHE_HOME": str(tmp_path), "PATH": str(tmp_path / "nothing-here")}
    again = _ask_in_fresh_process(no_compiler)
    assert (again.returncode, again.stdout.strip()) == (0, "ERRNO(7) ret=-7"), again.stderr


# --- item 12: the helper belongs to the process, and an Oracle may be shared --------------------

def test_the_helper_outlives_the_thread_that_started_it():
    """PR_SET_PDEATHSIG fires when the creating *thread* exits: the next request got EPIPE."""
    with Oracle(workers=1) as oracle:
        worker = threading.Thread(target=oracle.run_calls, args=([ERRNO_7], [SeccompData(GETPID)]))
        worker.start()
        worker.join()
        helpers = oracle.helper_pids()
        time.sleep(0.2)
        assert oracle.run_calls([ERRNO_7], [SeccompData(GETPID)])[0].data == 7
        assert oracle.helper_pids() == helpers, "the helper died with the thread that started it"


def test_eight_short_lived_threads_share_one_oracle():
    failures, answers = [], []
    with Oracle() as oracle:
        def ask(n):
            try:
                filt = struct.pack("<HBBI", 0x06, 0, 0, abi.SECCOMP_RET_ERRNO | n)
                answers.append((n, oracle.run_calls([filt], [SeccompData(GETPID)] * 4)[0].data))
            except Exception as error:  # noqa: BLE001 (any failure is the finding)
                failures.append(error)
        for round_ in range(3):
            threads = [threading.Thread(target=ask, args=(8 * round_ + i + 1,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert failures == []
    assert sorted(answers) == [(n, n) for n in range(1, 25)]


def test_subjects_are_not_dumpable_so_a_kill_starts_no_core_handler():
    """#16 item 4: fs/coredump.c gives up on a task whose mm is not dumpable before it runs a
    core_pattern pipe such as systemd-coredump; as root every subject (a run's or a scene's: both
    start in _oracle.c become_subject) makes itself so. A scene's own prctl(PR_GET_DUMPABLE) says
    what the kernel holds (1 would be SUID_DUMP_USER)."""
    need_root()
    scene = kernel.run_scene([], [kernel.SceneStep(0, PRCTL, (PR_GET_DUMPABLE,))])
    assert scene.outcomes[0].fate == "returned"
    assert scene.outcomes[0].retval == 0


def test_the_helper_ends_when_its_process_ends():
    script = (f"import sys, struct; sys.path.insert(0, {str(CHECKOUT)!r}); import bpfsim; from bpfsim import kernel; "
              f"o = kernel.Oracle(workers=1); o.run_calls([{ERRNO_7!r}], [bpfsim.SeccompData(39)]); "
              "print(o.helper_pids()[0], flush=True); import os; os._exit(0)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    helper = int(done.stdout)
    for _ in range(200):
        if not _alive(helper):
            break
        time.sleep(0.01)
    assert not _alive(helper), "the helper outlived its process"


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# --- item 3: a timed-out dump leaves nothing attached --------------------------------------------

VFORK_PARENT = r"""
#include <unistd.h>
#include <stdio.h>
int main(void)
{
	puts("ready");
	fflush(stdout);
	if (vfork() == 0) {
		sleep(2); /* the parent stays blocked in vfork until this child exits */
		_exit(0);
	}
	return 7;
}
"""


@pytest.fixture(scope="module")
def vfork_parent(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vfork")
    (folder / "v.c").write_text(VFORK_PARENT)
    cc = kernel._compiler()
    if cc is None:
        pytest.skip("no C compiler for the vfork program")
    subprocess.run([cc, "-o", str(folder / "v"), str(folder / "v.c")], check=True)
    return str(folder / "v")


def _dump_too_late(vfork_parent, keep_asking: bool):
    """Dump a parent blocked in vfork with a short timeout; return its exit status, or None if
    it was still stopped 8 s later. The oracle is closed before the process is reaped (a traced
    process is reaped by its tracer first), so a regression fails instead of hanging."""
    process = subprocess.Popen([vfork_parent], stdout=subprocess.PIPE)
    try:
        with Oracle(workers=1, timeout=0.5) as oracle:
            oracle.run_calls([ERRNO_7], [SeccompData(GETPID)])
            assert process.stdout.readline() == b"ready\n"
            time.sleep(0.2)
            with pytest.raises(KernelError) as late:
                oracle.dump_filters(process.pid)
            assert late.value.errno == errno.ETIMEDOUT
            deadline = time.monotonic() + 8
            while process.poll() is None and time.monotonic() < deadline:
                if keep_asking:
                    assert oracle.run_calls([ERRNO_7], [SeccompData(GETPID)] * 3)[2].data == 7
                else:
                    time.sleep(0.05)
            return process.poll()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_dump_that_times_out_leaves_no_process_frozen(vfork_parent):
    """Issue 16 item 3: a parent blocked in vfork cannot stop in time; once its child is done it
    must run on, not stay in a tracing stop under the idle helper until the oracle closes."""
    assert _dump_too_late(vfork_parent, keep_asking=False) == 7, "the vfork parent stayed frozen"


def test_requests_after_a_late_dump_are_answered_from_the_subject_only(vfork_parent):
    """The late process stops while later requests run: its events are not the subject's."""
    assert _dump_too_late(vfork_parent, keep_asking=True) == 7


# --- item 13: dump says what actually happened ---------------------------------------------------

def _zombie():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    for _ in range(500):
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return pid, lambda: os.waitpid(pid, 0)
        time.sleep(0.01)
    raise AssertionError("the child did not become a zombie")


def _traced():
    libc = ctypes.CDLL(None, use_errno=True)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc.ptrace(0, 0, 0, 0)  # PTRACE_TRACEME: this test process becomes its tracer
        os.write(write, b"x")
        time.sleep(30)
        os._exit(0)
    os.read(read, 1)
    os.close(read)
    os.close(write)

    def release():
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return pid, release


def _kernel_thread():
    return 2, lambda: None  # kthreadd


@pytest.mark.parametrize("stage, says", [
    pytest.param(_kernel_thread, "is a kernel thread", id="a kernel thread"),
    pytest.param(_zombie, "has exited (a zombie)", id="a zombie"),
    pytest.param(_traced, f"is already traced by process {os.getpid()}", id="a process already traced"),
])
def test_dump_says_why_a_process_cannot_be_traced(stage, says):
    need_root()
    pid, release = stage()
    try:
        with pytest.raises(KernelError) as refused:
            kernel.dump_filters(pid)
    finally:
        release()
    assert refused.value.errno == errno.EPERM
    assert says in str(refused.value) and "CAP_SYS_ADMIN" not in str(refused.value)


def test_dump_as_another_user_says_not_permitted_whatever_home_is(shared):
    """As nobody with root's HOME (the cache there is unreadable), the message is about ptrace."""
    need_root()
    package = os.path.join(shared, "src")
    shutil.copytree(CHECKOUT / "bpfsim", os.path.join(package, "bpfsim"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder, dirs, files in os.walk(package):
        for name in dirs + files:
            os.chmod(os.path.join(folder, name), 0o755 if name in dirs else 0o644)
    os.chmod(package, 0o755)
    script = ("from bpfsim import kernel\ntry:\n    kernel.dump_filters(1)\n"
              "except kernel.KernelError as e:\n    print(e)\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root", "PYTHONPATH": package}
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                           "-c", script], env=env, cwd=shared, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == ("EPERM: not permitted to trace thread 1: reading filters needs root "
                                   "(CAP_SYS_ADMIN)"), done.stderr
