"""Compile real seccomp policies, kept as data, into corpus filters with libseccomp, per arch.

Collecting aid, not a project dependency. Each filter is built by Debian 12's libseccomp of the
target arch, linked statically into tools/libseccomp_export.c and run as a program of that arch:
natively on x86_64, under qemu-user (Debian ``qemu-user``) for aarch64 and s390x. So syscall names
resolve as on that arch and a big-endian filter is exported by a big-endian libseccomp, never
byte-swapped on this host (the lab notes: libseccomp 2.5.4 on x86_64 exporting an s390x filter
emitted one ``ret ALLOW`` swapped). Every ``ret`` of every export is checked to be a known action
in the arch's order before it is stored as the corpus stores filters (little-endian records).
libseccomp-dev comes through the lab's private apt (lab/lab.py, cached under ``$BPFSIM_LAB``).

    python tools/compile_policies.py MOBY_DEFAULT_JSON CONTAINERS_SECCOMP_JSON [ARCH...]

writes ``corpus/<origin>-<name>[-<arch>]/filter.bpf`` (``filter-N.bpf`` for a stack, 0 installed
first) and a ``SOURCE`` draft. The policies are data: moby's ``default.json``, containers-common's
``seccomp.json`` (Debian 12 golang-github-containers-common 0.50.1+ds1-4) and the syscall groups
printed by this machine's ``systemd-analyze syscall-filter``. ARCHes default to all three.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lab"))

import lab  # noqa: E402  (the private apt configuration)
from bpfsim import Action, Instruction, Program, abi, distros, guest, opcodes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent / "corpus"
LIBSECCOMP = "2.5.4-1+deb12u1"  # Debian 12's libseccomp, the same version on every arch
DRIVER = Path(__file__).resolve().parent / "libseccomp_export.c"
QEMU_USER = {"aarch64": "qemu-aarch64", "s390x": "qemu-s390x"}  # Debian qemu-user
SUB_ARCHES = {"x86_64": ("x86", "x32"), "aarch64": ("arm",), "s390x": ("s390",)}
# systemd 252 src/shared/seccomp-util.c seccomp_local_archs: the native arch last.
SYSTEMD_ARCHES = {"x86_64": ("x86", "x32", "x86_64"), "aarch64": ("arm", "aarch64"),
                  "s390x": ("s390", "s390x")}
GO_ARCH = {"SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X32": "x32",
           "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_S390X": "s390x",
           "SCMP_ARCH_S390": "s390"}
OCI_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "i386": "SCMP_ARCH_X86", "x32": "SCMP_ARCH_X32",
            "aarch64": "SCMP_ARCH_AARCH64", "s390x": "SCMP_ARCH_S390X"}
# What each runtime grants a container by default (moby oci/caps/defaults.go; containers.conf).
MOBY_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
             "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
             "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
PODMAN_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
               "CAP_SYS_CHROOT"}


class Libseccomp:
    """Debian's libseccomp of one arch as a program of that arch: tools/libseccomp_export.c
    linked against its libseccomp.a, run natively or under qemu-user."""

    def __init__(self, arch: str):
        self.arch = arch
        deb_arch = distros.DEB_ARCH[arch]
        root = guest.lab_dir() / "libseccomp" / deb_arch
        self.driver = root / "libseccomp_export"
        if not self.driver.exists() or self.driver.stat().st_mtime < DRIVER.stat().st_mtime:
            root.mkdir(parents=True, exist_ok=True)
            deb = root / f"libseccomp-dev_{LIBSECCOMP}_{deb_arch}.deb"
            if not deb.exists():
                failed = lab.PrivateApt(guest.lab_dir() / "apt").download(f"libseccomp-dev:{deb_arch}={LIBSECCOMP}", root)
                if failed:
                    raise SystemExit(f"compile_policies: libseccomp-dev:{deb_arch}: {failed} (run make lab first)")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            triplet = f"{arch}-linux-gnu"
            subprocess.run([f"{triplet}-gcc", "-O2", "-static", f"-I{root}/usr/include", "-o", str(self.driver),
                            str(DRIVER), str(root / "usr" / "lib" / triplet / "libseccomp.a")], check=True)
        self.command = [QEMU_USER[arch]] if arch in QEMU_USER else []

    def export(self, spec: list[str], what: str) -> tuple[bytes, list[str]]:
        """The filter ``spec`` builds, as little-endian records, and the names libseccomp refused."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "filter.bpf"
            done = subprocess.run([*self.command, str(self.driver), str(out)], input="\n".join(spec) + "\n",
                                  capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"compile_policies: {what}: {done.stderr.strip()}")
            exported = out.read_bytes()
        refused = sorted({line.split()[1] for line in done.stdout.splitlines() if line.startswith("refused ")})
        prog = in_host_order(exported, self.arch)
        check_returns(prog, f"{what} ({self.arch})")
        return prog.to_bytes(), refused


def in_host_order(exported: bytes, arch: str) -> Program:
    """``struct sock_filter`` records as the arch's CPU stores them (big-endian on s390x)."""
    record = struct.Struct(("<" if abi.arch_info(arch).byteorder == "little" else ">") + "HBBI")
    return Program([Instruction(*record.unpack_from(exported, i)) for i in range(0, len(exported), record.size)])


def check_returns(prog: Program, what: str) -> None:
    """Every return of a libseccomp filter is ``ret #k`` with a known action: a swapped record
    (the lab notes' ``0x0000ff7f``) would be KILL_THREAD to the kernel."""
    known = {int(a) for a in Action}
    for pc, insn in enumerate(prog):
        if opcodes.BPF_CLASS(insn.code) != opcodes.BPF_RET:
            continue
        if opcodes.BPF_RVAL(insn.code) != opcodes.BPF_K or insn.k & abi.SECCOMP_RET_ACTION_FULL not in known:
            raise SystemExit(f"compile_policies: {what}: pc {pc}: {insn} is not a known action in host order")


def action(name, errno_ret, default_errno):
    """An OCI action name as libseccomp spells the action."""
    if name == "SCMP_ACT_ERRNO":
        return f"SCMP_ACT_ERRNO({errno_ret if errno_ret is not None else default_errno})"
    return name


def applies(rule, goarches, caps):
    """The includes/excludes test of an OCI profile rule (moby profiles/seccomp, setupSeccomp)."""
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("arches") and not set(inc["arches"]) & goarches:
        return False
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if exc.get("arches") and set(exc["arches"]) & goarches:
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    return True


def scmp_arch(oci_arch: str) -> str:
    """``SCMP_ARCH_X86_64`` as seccomp_arch_resolve_name spells it (``x86_64``)."""
    return oci_arch.removeprefix("SCMP_ARCH_").lower()


def oci_filter(profile, native, caps, optimize, host):
    """The spec of one filter for ``native`` and its archMap sub-architectures, built on ``host``
    as runc builds it (libseccomp-golang: NewFilter, AddArch for each, rules by name)."""
    arches = [native] + next((m["subArchitectures"] for m in profile["archMap"]
                              if m["architecture"] == native), [])
    goarches = {GO_ARCH[a] for a in arches}
    default_errno = profile.get("defaultErrnoRet", 1)
    spec = [f"init {action(profile['defaultAction'], None, default_errno)}"]
    spec += [f"arch add {scmp_arch(a)}" for a in arches]
    if native != OCI_ARCH[host]:
        spec.append("arch remove native")
    spec.append(f"attr SCMP_FLTATR_CTL_OPTIMIZE {optimize}")
    for rule in profile["syscalls"]:
        if not applies(rule, goarches, caps):
            continue
        act = action(rule["action"], rule.get("errnoRet"), default_errno)
        args = "".join(f" {a['index']} {a['op']} {a['value']} {a.get('valueTwo', 0)}" for a in rule.get("args") or [])
        spec += [f"rule {act} {name}{args}" for name in rule["names"]]
    return spec


def write(name, blobs, source):
    """One corpus directory; the ``recorded:`` and ``lab:`` lines the recorders added to SOURCE are kept."""
    path = ROOT / name
    path.mkdir(exist_ok=True)
    if len(blobs) == 1:
        (path / "filter.bpf").write_bytes(blobs[0])
    else:
        for i, blob in enumerate(blobs):
            (path / f"filter-{i}.bpf").write_bytes(blob)
    old = (path / "SOURCE").read_text() if (path / "SOURCE").exists() else ""
    recorded = [line + "\n" for line in old.splitlines() if line.startswith(("recorded:", "lab:"))]
    (path / "SOURCE").write_text(source + "".join(recorded))
    print(name, [len(b) // 8 for b in blobs])


def systemd_groups():
    """@group -> set of syscall names, nested groups expanded (systemd-analyze syscall-filter)."""
    text = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], capture_output=True,
                          text=True).stdout
    groups, current = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())

    def expand(group, seen=()):
        out = set()
        for item in groups[group]:
            out |= expand(item, seen + (group,)) if item.startswith("@") else {item}
        return out
    return {g: expand(g) for g in groups}


def systemd_stack(names, allow_list, host):
    """Specs of one filter per arch in systemd's seccomp_local_archs order (native last), each with
    ACT_BADARCH=ALLOW, as seccomp_init_for_arch and seccomp_load_syscall_filter_set_raw make them."""
    default, rule = ("SCMP_ACT_ERRNO(1)", "SCMP_ACT_ALLOW") if allow_list else ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO(1)")
    specs = []
    for arch in SYSTEMD_ARCHES[host]:
        spec = [f"init {default}"]
        if arch != host:  # seccomp_arch_resolve_name spells these three as bpfsim does
            spec += [f"arch remove native", f"arch add {arch}"]
        spec.append("attr SCMP_FLTATR_ACT_BADARCH SCMP_ACT_ALLOW")
        specs.append(spec + [f"rule {rule} {name}" for name in sorted(names)])
    return specs


def how_obtained(arch):
    run = "natively on this x86_64 host" if arch not in QEMU_USER else f"under Debian 12's {QEMU_USER[arch]} (qemu-user)"
    order = abi.arch_info(arch).byteorder
    return (f"compiled by tools/compile_policies.py with Debian 12's libseccomp {LIBSECCOMP} for "
            f"{distros.DEB_ARCH[arch]} (libseccomp-dev's libseccomp.a linked into tools/libseccomp_export.c), run as "
            f"an {arch} program {run}; exported in {order}-endian order, every ret checked to be a known action in "
            "that order, stored as little-endian records. The policy is real, the compilation is ours, so the "
            "bytes are libseccomp's but not necessarily what the policy's own software installs")


def compile_arch(host, moby_json, common_json):
    """The corpus directories of one arch's libseccomp."""
    lib = Libseccomp(host)
    moby, common = json.loads(Path(moby_json).read_text()), json.loads(Path(common_json).read_text())
    how = how_obtained(host)
    moby_src = ("moby/profiles seccomp/default.json (the Docker default profile), commit "
                "cd3bed8061c7b7378b61fc6827c7885779417a75 (2026-06-30), Apache-2.0")
    suffix = "" if host == "x86_64" else f"-{host}"
    subs = " and ".join(SUB_ARCHES[host])
    variants = {
        "x86_64": [("moby-default-x86_64", "x86_64", 1, "x86_64 with archMap sub-architectures x86 and x32"),
                   ("moby-default-x86_64-bintree", "x86_64", 2,
                    "x86_64 + x86 + x32, SCMP_FLTATR_CTL_OPTIMIZE=2 (binary tree)"),
                   ("moby-default-i386", "i386", 1, "x86 (i386) only: native x86_64 calls hit ACT_BADARCH"),
                   ("moby-default-x32", "x32", 1, "x32 only: native x86_64 and i386 calls hit ACT_BADARCH")],
    }.get(host, [(f"moby-default-{host}", host, 1, f"{host} with archMap sub-architecture {subs}"),
                 (f"moby-default-{host}-bintree", host, 2,
                  f"{host} + {subs}, SCMP_FLTATR_CTL_OPTIMIZE=2 (binary tree)")])
    for name, native, optimize, what in variants:
        blob, skipped = lib.export(oci_filter(moby, OCI_ARCH[native], MOBY_CAPS, optimize, host), name)
        write(name, [blob], f"""origin: {moby_src}
policy: {os.path.basename(moby_json)}, rules selected for Docker's default capabilities
  ({", ".join(sorted(MOBY_CAPS))}); default action ERRNO(EPERM) (defaultErrnoRet 1)
arches: {what}
optimizer: SCMP_FLTATR_CTL_OPTIMIZE={optimize}
how obtained: {how}
rules libseccomp refused: {", ".join(skipped) or "none"} (names unknown to libseccomp {LIBSECCOMP} on {host})
not modelled: runc/crun add their own -ENOSYS stub for unknown calls and filter flags
install order: one filter
""")
    if host == "x86_64":  # the same profile for `docker run --cap-add SYS_ADMIN`: the pair bpfsim diff is tested on
        blob, skipped = lib.export(oci_filter(moby, "SCMP_ARCH_X86_64", MOBY_CAPS | {"CAP_SYS_ADMIN"}, 1, host),
                                   "moby-default-x86_64-sys-admin")
        write("moby-default-x86_64-sys-admin", [blob], f"""origin: {moby_src}
policy: {os.path.basename(moby_json)}, rules selected for Docker's default capabilities plus CAP_SYS_ADMIN
  (docker run --cap-add SYS_ADMIN); default action ERRNO(EPERM) (defaultErrnoRet 1)
arches: x86_64 with archMap sub-architectures x86 and x32
optimizer: SCMP_FLTATR_CTL_OPTIMIZE=1
how obtained: {how}
rules libseccomp refused: {", ".join(skipped) or "none"} (names unknown to libseccomp {LIBSECCOMP} on {host})
not modelled: runc/crun add their own -ENOSYS stub for unknown calls and filter flags
install order: one filter
""")
    commons = [(f"containers-common-{host}", 1), (f"containers-common-{host}-bintree", 2)]
    for name, optimize in commons:
        blob, skipped = lib.export(oci_filter(common, OCI_ARCH[host], PODMAN_CAPS, optimize, host), name)
        write(name, [blob], f"""origin: containers-common seccomp.json (the podman/buildah/CRI-O default profile), as shipped by
  Debian 12 golang-github-containers-common 0.50.1+ds1-4 in /usr/share/containers/seccomp.json, Apache-2.0
policy: rules selected for podman's default capabilities ({", ".join(sorted(PODMAN_CAPS))});
  default action ERRNO(ENOSYS) (defaultErrnoRet 38)
arches: {host} with archMap sub-architecture{"s" if len(SUB_ARCHES[host]) > 1 else ""} {subs}
optimizer: SCMP_FLTATR_CTL_OPTIMIZE={optimize}
how obtained: {how}
rules libseccomp refused: {", ".join(skipped) or "none"}
not modelled: runc/crun add their own -ENOSYS stub for unknown calls and filter flags
install order: one filter
""")
    groups = systemd_groups()
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    for name, spec, allow in (("systemd-system-service", ["@system-service"], True),
                              ("systemd-deny-privileged-resources", ["@privileged", "@resources"], False)):
        names = set().union(*(groups[g] for g in spec))
        blobs, skipped = [], set()
        for filter_spec in systemd_stack(names, allow, host):
            blob, refused = lib.export(filter_spec, name + suffix)
            blobs.append(blob)
            skipped |= set(refused)
        kind = ("allow-list SystemCallFilter=" if allow else "deny-list SystemCallFilter=~") + " ".join(spec)
        order = ", ".join(f"filter-{i} {a}" for i, a in enumerate(SYSTEMD_ARCHES[host]))
        files = ", ".join(f"filter-{i}.bpf" for i in range(len(blobs)))
        write(name + suffix, blobs, f"""origin: systemd syscall groups as printed by `systemd-analyze syscall-filter` of Debian 12's
  {version} (x86_64), LGPL-2.1-or-later (the group lists are data; systemd built for s390 adds
  s390_runtime_instr to @debug, which neither policy here uses)
policy: {kind} with SystemCallErrorNumber=EPERM ({len(names)} names after expanding nested groups)
arches: a stack of {len(blobs)} filters, one per arch in systemd's seccomp_local_archs order for {host}
  ({order}), each with ACT_BADARCH=ALLOW, the shape seccomp_load_syscall_filter_set_raw installs
how obtained: {how}; rules added with seccomp_rule_add, where systemd uses seccomp_rule_add_exact;
  systemd itself also adds its own rules (e.g. for its own seccomp() calls), not here
names libseccomp does not know on some arch: {", ".join(sorted(skipped)) or "none"}
install order: {files} (0 first)
""")


def main(argv):
    if len(argv) < 3 or not set(argv[3:]) <= set(SUB_ARCHES):
        raise SystemExit(f"usage: compile_policies.py MOBY_DEFAULT_JSON CONTAINERS_SECCOMP_JSON [{'|'.join(SUB_ARCHES)}]...")
    moby_json, common_json, *arches = argv[1:]
    for arch in arches or SUB_ARCHES:
        compile_arch(arch, moby_json, common_json)


if __name__ == "__main__":
    main(sys.argv)
