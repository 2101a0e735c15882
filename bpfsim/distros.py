"""Distribution kernels known by name: the ones the kernel lab boots, and whose version
``Kernel("debian-6.1-amd64")`` models.

Adding a kernel is one line of ``DISTRO_KERNELS``: ``make lab`` then fetches and boots it, and
the profile reads its upstream version from the package version. Versions were checked with
``apt-cache madison`` (2026-12); the security suites drop superseded ones, and no s390x 5.10 or
6.12 kernel is downloadable from Debian's archive. A distro kernel with a backport beyond its
version's stable tree needs a fact of its own in ``profiles.FACTS``.
"""

from __future__ import annotations

from dataclasses import dataclass

DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "s390x": "s390x"}
"""Debian's architecture name of each arch the lab runs."""


@dataclass(frozen=True, slots=True)
class DistroKernel:
    """A Debian kernel package: ``name`` is what ``Kernel(...)`` and ``Oracle(kernel=...)`` take."""

    name: str
    arch: str  # bpfsim's arch name of the kernel (its native seccomp arch)
    package: str  # Debian binary package
    deb_version: str  # the exact package version

    @property
    def version(self) -> str:
        """The upstream kernel version, e.g. ``6.1.192``."""
        return self.deb_version.split("-")[0]

    @property
    def apt_spec(self) -> str:
        """``package:arch=version`` for ``apt-get download``."""
        return f"{self.package}:{DEB_ARCH[self.arch]}={self.deb_version}"


DISTRO_KERNELS: dict[str, DistroKernel] = {k.name: k for k in (
    DistroKernel("debian-5.10-amd64", "x86_64", "linux-image-5.10.0-46-amd64", "5.10.262-1"),
    DistroKernel("debian-6.1-amd64", "x86_64", "linux-image-6.1.0-57-amd64", "6.1.192-3"),
    DistroKernel("debian-6.12-amd64", "x86_64", "linux-image-6.12.117+deb13-amd64", "6.12.117-1"),
    DistroKernel("debian-5.10-arm64", "aarch64", "linux-image-5.10.0-32-arm64", "5.10.223-1"),
    DistroKernel("debian-6.1-arm64", "aarch64", "linux-image-6.1.0-57-arm64", "6.1.192-3"),
    DistroKernel("debian-6.12-arm64", "aarch64", "linux-image-6.12.117+deb13-arm64", "6.12.117-1"),
    DistroKernel("debian-6.1-s390x", "s390x", "linux-image-6.1.0-50-s390x", "6.1.176-1"),
)}
