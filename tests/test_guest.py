"""bpfsim.guest without qemu: the console encoding, the initramfs format, the table of lab kernels.

The guests themselves are checked by ``make lab-test`` (lab/test_guest_oracle.py) and their
recorded verdicts by tests/test_lab_corpus.py.
"""

import errno

import pytest
from hypothesis import given, strategies as st

from bpfsim import Kernel, SeccompData, distros, guest
from bpfsim.errors import KernelError
from bpfsim.kernel import Oracle, is_harmless


@pytest.mark.parametrize("data, line", [
    pytest.param(b"", b"", id="nothing"),
    pytest.param(b"\x10\x00\x01", b"100001", id="one zero byte stays hex"),
    pytest.param(b"\x01\x00\x00\x10", b"01z0210", id="two zero bytes are z02"),
    pytest.param(bytes(300) + b"\x05", b"zffz2d05", id="runs longer than 255 are split"),
])
def test_zero_runs_are_written_as_z_and_a_count(data, line):
    assert guest.encode_line(data) == line
    assert guest.decode_line(line) == data


@given(st.lists(st.sampled_from([0, 0, 0, 1, 0x10, 0xFF]), max_size=600).map(bytes))
def test_every_byte_string_survives_the_console_encoding(data):
    assert guest.decode_line(guest.encode_line(data)) == data


def test_the_initramfs_is_a_newc_archive_with_the_device_node_the_console_needs():
    archive = guest._newc([("dev", 0o40755, 0, b""), ("dev/console", 0o20600, 5 << 8 | 1, b""),
                           ("init", 0o100755, 0, b"\x7fELF")])
    entries, pos = [], 0
    while True:  # the layout of usr/gen_init_cpio.c: 110-byte header, name, data, 4-byte padding
        head = archive[pos:pos + 110]
        assert head[:6] == b"070701"
        fields = [int(head[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, rmajor, rminor, namesize = fields[1], fields[6], fields[9], fields[10], fields[11]
        name = archive[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        data = archive[pos:pos + size]
        pos += size + -size % 4
        if name == "TRAILER!!!":
            break
        entries.append((name, mode, rmajor, rminor, data))
    assert entries == [("dev", 0o40755, 0, 0, b""), ("dev/console", 0o20600, 5, 1, b""),
                       ("init", 0o100755, 0, 0, b"\x7fELF")]
    assert pos == len(archive)


@pytest.mark.parametrize("name", list(distros.DISTRO_KERNELS))
def test_each_lab_kernel_is_a_modelled_kernel_named_as_its_package(name):
    lab = distros.DISTRO_KERNELS[name]
    assert str(Kernel(name)) == name and Kernel(name) == Kernel(lab.deb_version.split("-")[0])
    assert lab.apt_spec == f"{lab.package}:{distros.DEB_ARCH[lab.arch]}={lab.deb_version}"


def test_an_unknown_or_unfetched_lab_kernel_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(KernelError) as unknown:
        Oracle(kernel="debian-9-amd64")
    assert unknown.value.errno == errno.ENOENT and "debian-6.1-amd64" in str(unknown.value)
    monkeypatch.setenv("BPFSIM_LAB", str(tmp_path))
    with pytest.raises(KernelError) as unfetched:
        Oracle(kernel="debian-6.1-s390x")
    assert "make lab" in str(unfetched.value)


def test_calls_are_checked_against_what_the_oracle_can_make():
    with pytest.raises(ValueError):
        is_harmless(SeccompData(0x10014, "s390x"))  # svc passes 16 bits of the number
    with pytest.raises(ValueError):
        Oracle().run_calls([b"\x06\x00\x00\x00\x00\x00\xff\x7f"], [SeccompData(172, "aarch64")])


def test_a_lab_cache_another_user_could_write_into_is_refused(tmp_path, monkeypatch):
    """#16 item 1 for the lab: its kernels and helpers are booted and run (the libseccomp driver of
    tools/compile_policies.py on the host), so a world-writable cache is not used."""
    shared = tmp_path / "lab"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("BPFSIM_LAB", str(shared))
    with pytest.raises(KernelError) as refused:
        Oracle(kernel="debian-6.1-s390x")
    assert refused.value.errno == errno.EPERM and str(shared) in str(refused.value)
    shared.chmod(0o700)
    assert guest.lab_dir() == shared
