"""Writing output files without ever losing one: the one helper every command that writes uses.

A file is written to a temporary name in its own directory and renamed over the target only when
it is complete (rename(2) replaces a symbolic link itself, never what it points to), so a full
disk, a signal or a crash leaves the old file intact and no partial new one. A target that is
one of the command's inputs is refused. ``replace_files`` does the same for a set of files in a
directory (``dump``), which must be the caller's own, and removes what an earlier set left.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping

from .errors import OutputError

_STREAM_NAMES = ("/dev/", "/proc/")  # /dev/stdout of a shell redirection is a file, to write to, not replace
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _umask() -> int:
    """The process umask, which decides the mode of a new file (0666 minus it, as open(2) does)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _is_input(path: str, inputs: Iterable[str | os.PathLike]) -> str | None:
    """The input that is the same file as ``path`` (same inode, so hard links count), if any."""
    try:
        target = os.stat(path)
    except OSError:
        return None
    for source in inputs:
        try:
            if os.path.samestat(target, os.stat(source)):
                return os.fsdecode(source)
        except OSError:
            continue
    return None


def _write_temp(dir_fd: int, name: str, data: bytes, shown: str, mode: int) -> str:
    """``data`` in a new file of ``dir_fd`` created exclusively; its name. Nothing is left on failure."""
    for attempt in range(100):
        temp = f".{name}.{os.getpid()}.{attempt}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                         dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
        except OSError as error:
            raise OutputError(shown, f"cannot create it: {error.strerror or error}") from None
    else:
        raise OutputError(shown, "cannot create a temporary file beside it")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        _unlink(dir_fd, temp)
        raise OutputError(shown, f"cannot write it: {error.strerror or error}") from None
    except BaseException:
        _unlink(dir_fd, temp)
        raise
    return temp


def _unlink(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _resolve(shown: str) -> str:
    """The file to replace: ``shown``, or what it links to when the link is the user's own (the
    rule of fs.protected_symlinks, kept everywhere: a link another uid planted is not followed)."""
    try:
        info = os.lstat(shown)
    except OSError:
        return shown
    if not stat.S_ISLNK(info.st_mode):
        return shown
    if info.st_uid != os.geteuid():
        raise OutputError(shown, f"is a symbolic link of uid {info.st_uid}; refusing to follow it")
    real = os.path.realpath(shown)
    return real if os.path.exists(real) else shown  # /proc/self/fd/1 of a pipe resolves to no path


def _write_stream(target: str, data: bytes, shown: str) -> None:
    """Write to a device, FIFO or socket such as /dev/stdout, which cannot be replaced."""
    try:
        with open(target, "wb") as stream:
            stream.write(data)
    except OSError as error:
        raise OutputError(shown, f"cannot write it: {error.strerror or error}") from None


def write_file(path: str | os.PathLike, data: bytes, *, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Replace ``path`` with ``data`` atomically; refuse when ``path`` is one of ``inputs``.

    A device or FIFO (``/dev/stdout``) is written to, since it cannot be replaced.
    """
    shown = os.fsdecode(path)
    same = _is_input(shown, inputs)
    if same is not None:
        raise OutputError(shown, f"is the input {same}; refusing to overwrite it (give another output name)")
    target = _resolve(shown)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    except OSError as error:
        raise OutputError(shown, f"cannot write it: {error.strerror or error}") from None
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode) or target.startswith(_STREAM_NAMES):
        return _write_stream(shown, data, shown)
    directory, name = os.path.split(target)
    if not name:
        raise OutputError(shown, "names a directory, not a file")
    try:
        dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise OutputError(shown, f"cannot open its directory: {error.strerror or error}") from None
    try:
        temp = _write_temp(dir_fd, name, data, shown, 0o666 & ~_umask())
        try:
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as error:
            _unlink(dir_fd, temp)
            raise OutputError(shown, f"cannot replace it: {error.strerror or error}") from None
    finally:
        os.close(dir_fd)


def _own_directory(path: str) -> int:
    """An fd of directory ``path``, created if missing; refused when another uid owns it or when
    it is a symbolic link (whoever owns the link decides where it points)."""
    try:
        os.makedirs(path, 0o777)
    except FileExistsError:
        pass
    except OSError as error:
        raise OutputError(path, f"cannot create the directory: {error.strerror or error}") from None
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as error:
        if os.path.islink(path):
            raise OutputError(path, "is a symbolic link; give the directory itself") from None
        raise OutputError(path, f"cannot open the directory: {error.strerror or error}") from None
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise OutputError(path, f"the directory belongs to uid {info.st_uid}, not to you (uid {os.geteuid()}); "
                                "give a directory of your own")
    return fd


def replace_files(directory: str | os.PathLike, files: Mapping[str, bytes], *,
                  stale: Callable[[str], bool]) -> None:
    """Make ``files`` (name → bytes) the set of output files in ``directory``.

    Every file is written under a temporary name first; only when all are complete are they
    renamed into place, and then every other entry for which ``stale(name)`` is true (what an
    earlier run of the same command wrote) is removed, so the directory never holds a mix.
    """
    shown = os.fsdecode(directory)
    dir_fd = _own_directory(shown)
    written: dict[str, str] = {}
    try:
        mode = 0o666 & ~_umask()
        for name, data in files.items():
            written[name] = _write_temp(dir_fd, name, data, os.path.join(shown, name), mode)
        for name, temp in list(written.items()):
            try:
                os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as error:
                raise OutputError(os.path.join(shown, name), f"cannot replace it: {error.strerror or error}") from None
            del written[name]
        for entry in os.listdir(dir_fd):
            if entry not in files and stale(entry):
                try:
                    if not stat.S_ISDIR(os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                        os.unlink(entry, dir_fd=dir_fd)
                except OSError as error:
                    raise OutputError(os.path.join(shown, entry),
                                      f"cannot remove this file of an earlier run: {error.strerror or error}") from None
    finally:
        for temp in written.values():
            _unlink(dir_fd, temp)
        os.close(dir_fd)
