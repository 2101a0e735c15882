"""make lab: fetch the lab's kernels and host tools, build the guest helpers, boot each guest once.

Idempotent and cached outside the checkout (``$BPFSIM_LAB``, default ``~/.cache/bpfsim-lab``):
a second run downloads nothing and boots nothing it has already checked. Kernels come from
Debian's archive through a private apt configuration (its own sources, lists, status and cache
under the lab directory, mirrors taken from the machine's own apt sources), so the machine's apt
state, sources and dpkg database are never touched; only ``/boot`` of each package is kept. The
host tools (qemu, cross compilers) are installed with the machine's apt-get when missing.
The kernels are ``bpfsim.distros.DISTRO_KERNELS`` (one line each).

    python lab/lab.py [--refresh] [NAME...]
"""

from __future__ import annotations

import argparse
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bpfsim import SeccompData, distros, guest  # noqa: E402
from bpfsim.errors import KernelError  # noqa: E402

HOST_TOOLS = {  # command → Debian package that provides it
    "qemu-system-x86_64": "qemu-system-x86", "qemu-system-s390x": "qemu-system-misc",
    "qemu-system-aarch64": "qemu-system-arm", "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
    "s390x-linux-gnu-gcc": "gcc-s390x-linux-gnu", "x86_64-linux-gnu-gcc": "gcc",
    "zstd": "zstd", "dpkg-deb": "dpkg",
}
CROSS_LIBC = ("libc6-dev-arm64-cross", "libc6-dev-s390x-cross")  # glibc's static libc.a
SUITES = ("bullseye", "bookworm", "trixie")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def say(message: str) -> None:
    print(f"lab: {message}", flush=True)


def ensure_host_tools() -> bool:
    """Install missing qemu/cross-compiler packages with the machine's apt-get (allowed)."""
    missing = sorted({pkg for cmd, pkg in HOST_TOOLS.items() if shutil.which(cmd) is None})
    missing += [p for p in CROSS_LIBC if not Path(f"/usr/share/doc/{p}").exists()]
    if not missing:
        say("host tools present (qemu-system-x86/-arm/-misc, cross gcc for aarch64 and s390x)")
        return True
    say(f"installing host tools: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
    if done.returncode:
        say(f"cannot install {' '.join(missing)} (apt-get exited {done.returncode}); run as root "
            "with Debian's archive reachable, or install them yourself")
        return False
    return True


def mirrors() -> dict[str, str]:
    """The machine's Debian and Debian-security mirror URIs (never a host written in the code)."""
    found = {}
    texts = [p.read_text() for p in Path("/etc/apt/sources.list.d").glob("*.sources")]
    texts += [p.read_text() for p in Path("/etc/apt").glob("sources.list") if p.exists()]
    for uri in re.findall(r"(?:URIs:[ \t]*|deb[ \t]+(?:\[[^]]*\][ \t]*)?)(\S+)", "\n".join(texts)):
        key = "security" if uri.rstrip("/").endswith("debian-security") else "main"
        found.setdefault(key, uri.rstrip("/"))
    if "main" not in found:
        raise SystemExit("lab: no Debian mirror in /etc/apt sources to fetch kernels from")
    found.setdefault("security", found["main"] + "-security")
    return found


class PrivateApt:
    """apt-get with its own sources, lists, status and cache: the machine's apt is untouched."""

    def __init__(self, root: Path):
        self.root = root
        for sub in ("etc/apt.conf.d", "etc/preferences.d", "etc/trusted.gpg.d", "lists/partial",
                    "cache/archives/partial", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "state" / "status").touch()
        urls = mirrors()
        arches = ",".join(sorted(set(distros.DEB_ARCH.values())))
        lines = []
        for suite in SUITES:
            lines.append(f"deb [arch={arches} signed-by={KEYRING}] {urls['main']} {suite} main")
            lines.append(f"deb [arch={arches} signed-by={KEYRING}] {urls['security']} {suite}-security main")
        (root / "etc" / "sources.list").write_text("\n".join(lines) + "\n")
        self.options = []
        for key, value in (("Dir::Etc", root / "etc"), ("Dir::Etc::sourcelist", root / "etc" / "sources.list"),
                           ("Dir::Etc::sourceparts", "-"), ("Dir::State", root / "state"),
                           ("Dir::State::Lists", root / "lists"), ("Dir::State::status", root / "state" / "status"),
                           ("Dir::Cache", root / "cache"), ("APT::Architectures", arches),
                           ("Acquire::Languages", "none"), ("APT::Sandbox::User", "root")):
            self.options += ["-o", f"{key}={value}"]

    def has_lists(self) -> bool:
        return any((self.root / "lists").glob("*_Packages*"))

    def update(self) -> bool:
        say("fetching package lists for bullseye, bookworm, trixie (+ security), private apt (~73 MB)")
        return subprocess.run(["apt-get", *self.options, "-q", "update"]).returncode == 0

    def download(self, spec: str, into: Path) -> str | None:
        """Download one package into ``into``; None on success, else apt's complaint."""
        done = subprocess.run(["apt-get", *self.options, "-q", "download", spec], cwd=into,
                              capture_output=True, text=True)
        if done.returncode == 0:
            return None
        errors = [line for line in done.stderr.splitlines() if line.startswith("E:")]
        return (errors or done.stderr.strip().splitlines() or ["apt-get failed"])[-1]


def extract_boot(deb: Path, kernel: distros.DistroKernel) -> None:
    """Keep only the kernel image of the package, and on x86_64 also the ELF vmlinux inside it."""
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        member = next(m for m in archive.getmembers() if re.fullmatch(r"\./boot/vmlinu[xz]-.*", m.name))
        image = archive.extractfile(member).read()
    target = guest.kernel_directory(kernel)
    target.mkdir(parents=True, exist_ok=True)
    (target / "vmlinuz").write_bytes(image)
    if kernel.arch == "x86_64":
        (target / "vmlinux").write_bytes(elf_of_bzimage(image))


def elf_of_bzimage(image: bytes) -> bytes:
    """The ELF vmlinux inside a bzImage (the idea of the kernel's scripts/extract-vmlinux): qemu
    boots it through the PVH entry in about half the time the bzImage takes."""
    xz, zstd = image.find(b"\xfd7zXZ\x00"), image.find(b"\x28\xb5\x2f\xfd")
    if xz >= 0 and (zstd < 0 or xz < zstd):
        elf = lzma.LZMADecompressor().decompress(image[xz:])
    elif zstd >= 0:  # the stream is followed by other data: zstd complains but writes it all
        elf = subprocess.run(["zstd", "-dcq"], input=image[zstd:], capture_output=True).stdout
    else:
        raise ValueError("no xz or zstd payload in the bzImage")
    if not elf.startswith(b"\x7fELF"):
        raise ValueError("the bzImage payload is not an ELF vmlinux")
    return elf


def fetch(kernel: distros.DistroKernel, apt: PrivateApt, debs: Path) -> bool:
    if guest.kernel_image(kernel).exists():
        say(f"{kernel.name}: kernel {kernel.version} ({kernel.arch}) already here")
        return True
    deb = next(debs.glob(f"{kernel.package}_{kernel.deb_version}_{distros.DEB_ARCH[kernel.arch]}.deb"), None)
    if deb is None:
        say(f"{kernel.name}: downloading {kernel.apt_spec}")
        complaint = apt.download(kernel.apt_spec, debs)
        if complaint:
            say(f"{kernel.name}: cannot fetch {kernel.apt_spec}: {complaint} "
                "(superseded in the security suite? check `apt-cache madison` and edit its line)")
            return False
        deb = next(debs.glob(f"{kernel.package}_*_{distros.DEB_ARCH[kernel.arch]}.deb"))
    say(f"{kernel.name}: keeping /boot of {deb.name}")
    extract_boot(deb, kernel)
    deb.unlink()
    return True


def boot_check(kernel: distros.DistroKernel) -> bool:
    """Boot the guest once and see one filter act, unless this kernel and helper were checked."""
    from bpfsim import kernel as oracle_module
    stamp = guest.kernel_directory(kernel) / f"checked-{guest.initrd(kernel.arch).stem}"
    if stamp.exists():
        say(f"{kernel.name}: boot already checked with this helper")
        return True
    say(f"{kernel.name}: booting under qemu (TCG) to check it")
    start = time.monotonic()
    try:
        with oracle_module.Oracle(kernel=kernel.name) as oracle:
            errno_one = bytes.fromhex("0600000001000500")  # ret ERRNO|1
            getpid = next(nr for nr, name in oracle_module._harmless_table(kernel.arch).items()
                          if name == "getpid")
            seen = oracle.run_calls([errno_one], [SeccompData(getpid, kernel.arch)])[0]
    except KernelError as failure:
        say(f"{kernel.name}: did not work: {failure}")
        return False
    if (seen.action, seen.data) != ("ERRNO", 1):
        say(f"{kernel.name}: a filter returning ERRNO|1 gave {seen}")
        return False
    stamp.write_text(f"{time.monotonic() - start:.1f}\n")
    say(f"{kernel.name}: boots and filters ({time.monotonic() - start:.1f} s to answer and power off)")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"lab kernels (default: all of {', '.join(distros.DISTRO_KERNELS)})")
    parser.add_argument("--refresh", action="store_true", help="fetch the package lists again")
    opts = parser.parse_args(argv)
    unknown = [n for n in opts.names if n not in distros.DISTRO_KERNELS]
    if unknown:
        parser.error(f"unknown lab kernel {unknown[0]!r} (known: {', '.join(distros.DISTRO_KERNELS)})")
    kernels = [distros.DISTRO_KERNELS[n] for n in opts.names or distros.DISTRO_KERNELS]
    root = guest.lab_dir()
    say(f"lab directory {root}")
    if not ensure_host_tools():
        return 1
    failed = []
    if not all(guest.kernel_image(k).exists() for k in kernels):
        apt = PrivateApt(root / "apt")
        if (opts.refresh or not apt.has_lists()) and not apt.update():
            say("cannot fetch the package lists (is Debian's archive reachable?)")
            return 1
        debs = root / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        failed += [k.name for k in kernels if not fetch(k, apt, debs)]
    for arch in sorted({k.arch for k in kernels}):
        say(f"guest helper for {arch}: {guest.initrd(arch)}")
    failed += [k.name for k in kernels if k.name not in failed and not boot_check(k)]
    if failed:
        say(f"not ready: {', '.join(failed)}")
        return 1
    say(f"ready: {', '.join(k.name for k in kernels)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
