"""Output files are never lost: refused when they are an input, replaced atomically, and dump's
directory is the user's own with nothing left from an earlier dump (issue 16 items 2, 5, 6)."""

import os
import resource
import stat
import subprocess
import sys

import pytest

from bpfsim.cli import main
from bpfsim.errors import OutputError
from bpfsim.output import replace_files, write_file
from tests.users import as_nobody, shared  # noqa: F401 (fixture)

ASM = "ld [0]\njeq #59, kill, allow\nkill: ret #0x80000000\nallow: ret #0x7fff0000\n"


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name, fmt, text", [
    pytest.param("a.asm", "raw", ASM, id="asm -o over its own source"),
    pytest.param("a.c", "c", "struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, 0x7fff0000) };\n",
                 id="--format c over its own C source"),
])
def test_asm_refuses_to_overwrite_its_input(capsys, tmp_path, name, fmt, text):
    source = tmp_path / name
    source.write_text(text)
    status, out, err = _run(capsys, "asm", source, "-o", source, "--format", fmt)
    assert (status, out) == (2, "")
    assert f"{source}: is the input" in err and err.count("\n") == 1
    assert source.read_text() == text


def test_asm_refuses_to_overwrite_the_file_it_reads_as_standard_input(tmp_path):
    source = tmp_path / "a.asm"
    source.write_text(ASM)
    with open(source) as stdin:
        done = subprocess.run([sys.executable, "-m", "bpfsim", "asm", "-", "-o", str(source)], stdin=stdin,
                              capture_output=True, text=True)
    assert done.returncode == 2 and "is the input" in done.stderr
    assert source.read_text() == ASM


def test_asm_refuses_a_hard_link_to_its_input(capsys, tmp_path):
    source = tmp_path / "a.asm"
    source.write_text(ASM)
    os.link(source, tmp_path / "same.bpf")
    assert _run(capsys, "asm", source, "-o", tmp_path / "same.bpf")[0] == 2
    assert source.read_text() == ASM


def test_a_failed_write_names_the_file_and_keeps_the_old_output(tmp_path):
    """A write that fails midway (here RLIMIT_FSIZE, as a full disk would) leaves the old file
    whole and no partial or temporary file, and the error line names the output file."""
    source = tmp_path / "big.asm"
    source.write_text("ret #0\n" * 4000)
    out = tmp_path / "out.bpf"
    out.write_bytes(b"old!" * 2)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # SIGXFSZ: Python ignores it

    done = subprocess.run([sys.executable, "-m", "bpfsim", "asm", str(source), "-o", str(out)],
                          preexec_fn=small_files, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"bpfsim: {out}: cannot write it: ") and done.stderr.count("\n") == 1
    assert out.read_bytes() == b"old!" * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.asm", "out.bpf"]


def test_write_file_follows_ones_own_link_and_keeps_it(tmp_path):
    (tmp_path / "real.bpf").write_bytes(b"old")
    (tmp_path / "out.bpf").symlink_to("real.bpf")
    write_file(tmp_path / "out.bpf", b"\0" * 8)
    assert (tmp_path / "out.bpf").is_symlink() and (tmp_path / "real.bpf").read_bytes() == b"\0" * 8


def test_write_file_refuses_a_link_another_user_planted(shared):
    """The classic /tmp attack: nobody links root's future output name to a file root owns."""
    victim, out = os.path.join(shared, "victim"), os.path.join(shared, "out.bpf")
    with open(victim, "w") as file:
        file.write("precious")
    as_nobody(lambda: os.symlink(victim, out))
    with pytest.raises(OutputError, match="symbolic link of uid 65534"):
        write_file(out, b"\0" * 8)
    with open(victim) as file:
        assert file.read() == "precious"


def test_write_file_writes_into_a_fifo_instead_of_replacing_it(tmp_path):
    """/dev/stdout and pipes cannot be replaced by a rename; they are written to."""
    import threading
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_file(fifo, b"records!")
    reader.join(10)
    assert got == [b"records!"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_write_file_gives_new_files_the_mode_open_would(tmp_path):
    old = os.umask(0o027)
    try:
        write_file(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640


def _stale(name):
    return name.endswith(".bpf")


def test_replace_files_leaves_nothing_of_a_larger_earlier_set(tmp_path):
    out = tmp_path / "out"
    replace_files(out, {"0.bpf": b"a", "1.bpf": b"b", "2.bpf": b"c"}, stale=_stale)
    (out / "notes.txt").write_text("mine")
    replace_files(out, {"0.bpf": b"d"}, stale=_stale)
    assert sorted(p.name for p in out.iterdir()) == ["0.bpf", "notes.txt"]
    assert (out / "0.bpf").read_bytes() == b"d"


def test_replace_files_does_not_follow_a_planted_link(tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (out / "0.bpf").symlink_to("../victim")
    (out / "1.bpf").symlink_to("../victim")
    replace_files(out, {"0.bpf": b"new"}, stale=_stale)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["0.bpf"] and (out / "0.bpf").read_bytes() == b"new"


def test_replace_files_refuses_a_directory_another_user_made(shared):
    target = os.path.join(shared, "filters")
    victim = os.path.join(shared, "victim")

    def plant():
        os.mkdir(target, 0o777)
        os.symlink(victim, os.path.join(target, "0.bpf"))

    as_nobody(plant)
    with pytest.raises(OutputError) as refused:
        replace_files(target, {"0.bpf": b"new"}, stale=_stale)
    assert refused.value.path == target and "belongs to uid 65534" in str(refused.value)
    assert not os.path.exists(victim)


def test_replace_files_refuses_a_symbolic_link_as_the_directory(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(OutputError, match="symbolic link"):
        replace_files(tmp_path / "link", {"0.bpf": b"x"}, stale=_stale)
    assert list((tmp_path / "real").iterdir()) == []


def test_a_failed_set_leaves_the_earlier_set_whole(tmp_path):
    out = tmp_path / "out"
    replace_files(out, {"0.bpf": b"a", "1.bpf": b"b"}, stale=_stale)

    class Exploding(dict):
        def items(self):
            yield "0.bpf", b"new"
            raise KeyboardInterrupt  # Ctrl-C between two files

    with pytest.raises(KeyboardInterrupt):
        replace_files(out, Exploding(), stale=_stale)
    assert sorted(p.name for p in out.iterdir()) == ["0.bpf", "1.bpf"]
    assert (out / "0.bpf").read_bytes() == b"a"
