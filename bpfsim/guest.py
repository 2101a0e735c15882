"""Lab guests: the kernel oracle's helper as the ``/init`` of a qemu guest running another kernel.

``bpfsim.kernel.Oracle(kernel="debian-6.1-amd64")`` asks a Debian kernel booted under qemu's TCG
(no KVM needed) instead of the machine's own: the same helper (``_oracle.c``), compiled
statically for the guest's arch, serves the same requests; only the channel differs. The guest's
console is the channel (no network, no modules): a request goes in as one line of hex, a reply
comes back as ``=`` and one line of hex, so kernel log noise and console drivers (8250, PL011,
SCLP) cannot corrupt it unseen; ``zNN`` stands for NN zero bytes (records are mostly zeros and
an emulated UART is slow). ``bpfsim.distros.DISTRO_KERNELS`` lists the kernels the lab knows, one line each;
``make lab`` (lab/lab.py) fetches them into the lab directory (``$BPFSIM_LAB``, default
``~/.cache/bpfsim-lab``) and checks that each boots.
"""

from __future__ import annotations

import errno as errnos
import hashlib
import os
import re
import select
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from .distros import DISTRO_KERNELS, DistroKernel
from .errors import KernelError

__all__ = ["lab_kernel", "lab_dir", "kernel_directory", "kernel_image", "initrd", "GuestWorker"]

CROSS_CC = {"x86_64": "x86_64-linux-gnu-gcc", "aarch64": "aarch64-linux-gnu-gcc", "s390x": "s390x-linux-gnu-gcc"}
_READY = b"BPFSIM-LAB-READY"
_OP_QUIT = 4
_ZERO_RUN = re.compile(rb"(?:00){2,255}")


def encode_line(data: bytes) -> bytes:
    """Hex with each run of 2 to 255 zero bytes as ``zNN`` (the helper's lab_init reads this)."""
    text = data.hex().encode()
    # A run must start on a byte boundary: only even positions of the hex text are bytes.
    out, last = [], 0
    for match in _ZERO_RUN.finditer(text):
        start = match.start() + (match.start() & 1)
        run = (match.end() - start) // 2
        if run < 2:
            continue
        out += [text[last:start], b"z%02x" % run]
        last = start + 2 * run
    out.append(text[last:])
    return b"".join(out)


def decode_line(text: bytes) -> bytes:
    """The inverse of ``encode_line``; ValueError on anything else."""
    parts = text.split(b"z")
    out = [bytes.fromhex(parts[0].decode("ascii"))]
    for part in parts[1:]:
        out += [bytes(int(part[:2], 16)), bytes.fromhex(part[2:].decode("ascii"))]
    return b"".join(out)


def lab_dir() -> Path:
    """Where the lab keeps packages, kernels and initramfs images (never inside the checkout).

    Its kernels and helpers are booted and run, the libseccomp driver of tools/compile_policies.py
    on the host: a directory another uid owns or may write into is refused (issue 16, item 1)."""
    path = Path(os.environ.get("BPFSIM_LAB") or Path.home() / ".cache" / "bpfsim-lab")
    try:
        info = path.stat()
    except FileNotFoundError:
        return path
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise KernelError(errnos.EPERM, f"{path}: the lab's cache is owned by uid {info.st_uid} or writable by "
                                        "others, so what it holds could be someone else's; not using it")
    return path


def kernel_directory(kernel: DistroKernel) -> Path:
    """Where the lab keeps the boot files of ``kernel``."""
    return lab_dir() / "kernels" / kernel.name


def kernel_image(kernel: DistroKernel) -> Path:
    """What qemu boots: the ELF vmlinux on x86_64 (qemu's PVH entry, 2x faster), else vmlinuz."""
    return kernel_directory(kernel) / ("vmlinux" if kernel.arch == "x86_64" else "vmlinuz")


def lab_kernel(name: str) -> DistroKernel:
    """The lab kernel called ``name``, checked to be fetched; KernelError otherwise."""
    try:
        found = DISTRO_KERNELS[name]
    except KeyError:
        raise KernelError(errnos.ENOENT, f"no lab kernel {name!r} (known: {', '.join(DISTRO_KERNELS)})") from None
    if not kernel_image(found).exists():
        raise KernelError(errnos.ENOENT, f"lab kernel {name} is not fetched: run `make lab` ({kernel_image(found)})")
    return found


def close_pipes(proc: subprocess.Popen) -> None:
    """Close our ends of a worker's pipes, whatever state they are in."""
    for pipe in (proc.stdin, proc.stdout):
        try:
            pipe.close()
        except OSError:
            pass


def end_worker(proc: subprocess.Popen, wfd: int, goodbye: bytes | None, grace: float) -> None:
    """End an oracle worker (the local helper or a guest's qemu): send ``goodbye`` and give it
    ``grace`` seconds to leave by itself, then kill it; ``goodbye=None`` kills it at once."""
    if proc.poll() is None and goodbye is not None:
        try:
            os.set_blocking(wfd, True)
            os.write(wfd, goodbye)
            proc.wait(timeout=grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    close_pipes(proc)


# ------------------------------------------------------------------------------ the initramfs

def _compiler(arch: str) -> str | None:
    """The cross compiler for ``arch`` (the host's own gcc for x86_64 when it has no prefix)."""
    found = shutil.which(CROSS_CC[arch])
    if found is None and arch == "x86_64" and os.uname().machine == "x86_64":
        found = shutil.which("gcc")
    return found


def _newc(entries: list[tuple[str, int, int, bytes]]) -> bytes:
    """A ``newc`` cpio archive (the initramfs format) of (name, mode, rdev, data) entries."""
    out = []
    for ino, (name, mode, rdev, data) in enumerate(entries + [("TRAILER!!!", 0, 0, b"")], 1):
        raw = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(raw), 0)
        head = b"070701" + b"".join(b"%08X" % f for f in fields) + raw
        out += [head, b"\0" * (-len(head) % 4), data, b"\0" * (-len(data) % 4)]
    return b"".join(out)


def initrd(arch: str) -> Path:
    """The initramfs whose /init is the helper built statically for ``arch`` from this source."""
    source = Path(__file__).with_name("_oracle.c")
    text = source.read_bytes()
    path = lab_dir() / "initrd" / f"oracle-{arch}-{hashlib.sha256(text).hexdigest()[:16]}.cpio"
    if path.exists():
        return path
    cc = _compiler(arch)
    if cc is None:
        raise KernelError(errnos.ENOENT, f"no {CROSS_CC[arch]} to build the {arch} guest helper: run `make lab`")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        exe = Path(tmp) / "init"
        done = subprocess.run([cc, "-static", "-O2", "-fno-stack-protector", "-o", str(exe), str(source)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise KernelError(errnos.ENOEXEC, f"cannot build the {arch} guest helper: {done.stderr.strip()[-500:]}")
        entries = [("dev", 0o40755, 0, b""), ("proc", 0o40755, 0, b""),
                   ("dev/console", 0o20600, 5 << 8 | 1, b""), ("init", 0o100755, 0, exe.read_bytes())]
        part = Path(tmp) / "initrd.cpio"
        part.write_bytes(_newc(entries))
        os.replace(part, path)
    return path


# ------------------------------------------------------------------------------ booting

def qemu_command(kernel: DistroKernel, initramfs: Path) -> list[str]:
    """qemu under TCG (the host's /dev/kvm cannot run stock kernels), one vCPU, console on stdio."""
    common = ["-m", "512", "-smp", "1", "-no-reboot", "-kernel", str(kernel_image(kernel)),
              "-initrd", str(initramfs)]
    quiet = "panic=-1 quiet loglevel=1"
    if kernel.arch == "x86_64":
        return ["qemu-system-x86_64", "-accel", "tcg", "-display", "none", "-nodefaults",
                "-serial", "stdio", *common, "-append", f"console=ttyS0 {quiet}"]
    if kernel.arch == "aarch64":
        return ["qemu-system-aarch64", "-M", "virt", "-cpu", "max,pauth-impdef=on", "-display", "none",
                "-nodefaults", "-serial", "stdio", *common, "-append", f"console=ttyAMA0 {quiet}"]
    return ["qemu-system-s390x", "-M", "s390-ccw-virtio", "-nographic", *common, "-append", quiet]


class Worker:
    """What every oracle worker shares, a local helper (``kernel._Worker``) or a guest's qemu:
    non-blocking pipes to a process that belongs to the process that started it (a forked copy
    never drives or ends it), and a failure that ends it before it is reported."""

    def __init__(self, proc: subprocess.Popen, what: str):
        self.proc, self.what = proc, what
        self.wfd = proc.stdin.fileno()
        self.rfd = proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        os.set_blocking(self.rfd, False)
        self.busy = False
        self.owner = os.getpid()

    def _timeout(self, deadline: float) -> None:
        if time.monotonic() >= deadline:
            self._fail(errnos.ETIMEDOUT, f"{self.what} did not answer in time")

    def _fail(self, errno: int, message: str):
        self.close(force=True)
        raise KernelError(errno, message)

    def alive(self) -> bool:
        return os.getpid() == self.owner and self.proc.poll() is None

    def close(self, force: bool = False) -> None:
        raise NotImplementedError


class GuestWorker(Worker):
    """One booted guest, driven like a local helper process (``kernel._Worker``'s interface)."""

    boot_timeout = 300.0  # TCG on a busy 2-core machine: 2-15 s usually

    def __init__(self, kernel: DistroKernel):
        self.kernel = kernel
        command = qemu_command(kernel, initrd(kernel.arch))
        if shutil.which(command[0]) is None:
            raise KernelError(errnos.ENOENT, f"no {command[0]} to boot {kernel.name}: run `make lab`")
        super().__init__(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, close_fds=True), f"guest {kernel.name}")
        self._buffer = b""
        try:
            self._line(time.monotonic() + self.boot_timeout, lambda line: _READY in line, "boot")
        except KernelError:
            self.close(force=True)
            raise

    def _line(self, deadline: float, wanted, what: str) -> bytes:
        """The next console line ``wanted`` accepts; other lines are kernel noise and skipped."""
        poller = select.poll()
        poller.register(self.rfd, select.POLLIN)
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if line.startswith(b"!"):
                    self._fail(errnos.EIO, "a request reached the guest incomplete")
                if wanted(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(int(left * 1000)):
                if time.monotonic() >= deadline:
                    self._fail(errnos.ETIMEDOUT, f"guest {self.kernel.name} did not {what} in time")
                continue
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                self._fail(errnos.EPIPE, f"guest {self.kernel.name} stopped (qemu exited {self.proc.poll()})")
            self._buffer += chunk

    def send(self, op: int, payload: bytes, deadline: float) -> None:
        view = memoryview(encode_line(struct.pack("<II", op, len(payload)) + payload) + b"\n")
        poller = select.poll()
        poller.register(self.wfd, select.POLLOUT)
        while view:
            try:
                view = view[os.write(self.wfd, view):]
                continue
            except BlockingIOError:
                pass
            except BrokenPipeError:
                self._fail(errnos.EPIPE, f"guest {self.kernel.name} stopped")
            if not poller.poll(max(0, int((deadline - time.monotonic()) * 1000))):
                self._timeout(deadline)
        self.busy = True

    def recv(self, deadline: float) -> bytes:
        line = self._line(deadline, lambda line: line.startswith(b"="), "answer")
        try:
            reply = decode_line(line[1:].strip())
        except (ValueError, UnicodeDecodeError):
            self._fail(errnos.EIO, f"guest {self.kernel.name} sent a garbled reply")
        if len(reply) < 4 or struct.unpack_from("<I", reply)[0] != len(reply) - 4:
            self._fail(errnos.EIO, f"guest {self.kernel.name} sent a reply of the wrong length")
        self.busy = False
        return reply[4:]

    def close(self, force: bool = False) -> None:
        """Power the guest off (QUIT makes its init call reboot(RB_POWER_OFF)), or kill qemu."""
        if os.getpid() != self.owner:
            return
        end_worker(self.proc, self.wfd, None if force else encode_line(struct.pack("<II", _OP_QUIT, 0)) + b"\n", 30)
