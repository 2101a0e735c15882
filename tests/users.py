"""Doing things as another user: a forked child that really becomes ``nobody`` (uid 65534).

Attacks on bpfsim's files come from another uid; the tests make that uid act for real instead of
faking ownership with chown, so the kernel's own permission checks apply.
"""

import os
import shutil
import tempfile
import traceback

import pytest

NOBODY = 65534


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("becoming another user (setuid) needs root")


def as_nobody(action) -> None:
    """Run ``action()`` in a forked child with uid and gid 65534 and no groups; fail if it fails."""
    need_root()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            action()
            status = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode()[-2000:])
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"as nobody: {report}"


def shared_directory() -> str:
    """A new world-writable sticky directory in the system temp dir, as /tmp itself is, that
    every user can reach (pytest's tmp_path is private to root); the caller removes it."""
    path = tempfile.mkdtemp(prefix="bpfsim-shared-", dir="/tmp")
    os.chmod(path, 0o1777)
    return path


@pytest.fixture
def shared():
    need_root()
    path = shared_directory()
    yield path
    shutil.rmtree(path, ignore_errors=True)
