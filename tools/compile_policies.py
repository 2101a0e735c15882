"""Compile real seccomp policies, kept as data, into corpus filters with libseccomp.

Collecting aid, not a project dependency: it runs under Debian's python3 with python3-seccomp
(``/usr/bin/python3 tools/compile_policies.py MOBY_DEFAULT_JSON``) and writes
``corpus/<origin>-<name>/filter.bpf`` (or ``filter-N.bpf`` for a stack, 0 installed first) and a
``SOURCE`` draft. The policies are data: moby's ``default.json`` (path given), containers-common's
``/usr/share/containers/seccomp.json`` (Debian golang-github-containers-common) and the syscall
groups printed by this machine's ``systemd-analyze syscall-filter``.
"""

import json
import os
import subprocess
import sys
import tempfile

import seccomp

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
LIBSECCOMP = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libseccomp2"],
                            capture_output=True, text=True).stdout
ARCHES = {"SCMP_ARCH_X86_64": seccomp.Arch.X86_64, "SCMP_ARCH_X86": seccomp.Arch.X86,
          "SCMP_ARCH_X32": seccomp.Arch.X32, "SCMP_ARCH_AARCH64": seccomp.Arch.AARCH64,
          "SCMP_ARCH_ARM": seccomp.Arch.ARM}
GO_ARCH = {"SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X32": "x32",
           "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_ARM": "arm"}
OPS = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT,
       "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_GE": seccomp.GE,
       "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
# What each runtime grants a container by default (moby oci/caps/defaults.go; containers.conf).
MOBY_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
             "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
             "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
PODMAN_CAPS = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
               "CAP_SYS_CHROOT"}


def action(name, errno_ret, default_errno):
    """An OCI action name as libseccomp's action value."""
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(errno_ret if errno_ret is not None else default_errno)
    return {"SCMP_ACT_ALLOW": seccomp.ALLOW, "SCMP_ACT_KILL": seccomp.KILL, "SCMP_ACT_TRAP": seccomp.TRAP,
            "SCMP_ACT_LOG": seccomp.LOG, "SCMP_ACT_KILL_PROCESS": seccomp.KILL_PROCESS}[name]


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


def oci_filter(profile, native, caps, optimize):
    """One filter for ``native`` and its archMap sub-architectures; returns (filter, skipped)."""
    arches = [native] + next((m["subArchitectures"] for m in profile["archMap"]
                              if m["architecture"] == native), [])
    goarches = {GO_ARCH[a] for a in arches}
    default_errno = profile.get("defaultErrnoRet", 1)
    f = seccomp.SyscallFilter(action(profile["defaultAction"], None, default_errno))
    for arch in arches:
        if not f.exist_arch(ARCHES[arch]):
            f.add_arch(ARCHES[arch])
    if native != "SCMP_ARCH_X86_64":
        f.remove_arch(seccomp.Arch.NATIVE)
    f.set_attr(seccomp.Attr.CTL_OPTIMIZE, optimize)
    skipped = []
    for rule in profile["syscalls"]:
        if not applies(rule, goarches, caps):
            continue
        act = action(rule["action"], rule.get("errnoRet"), default_errno)
        args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0))
                for a in rule.get("args") or []]
        for name in rule["names"]:
            try:
                f.add_rule(act, name, *args)
            except (RuntimeError, ValueError, OSError):
                skipped.append(name)
    return f, skipped


def export(f):
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


def write(name, blobs, source):
    path = os.path.join(ROOT, name)
    os.makedirs(path, exist_ok=True)
    if len(blobs) == 1:
        open(os.path.join(path, "filter.bpf"), "wb").write(blobs[0])
    else:
        for i, blob in enumerate(blobs):
            open(os.path.join(path, f"filter-{i}.bpf"), "wb").write(blob)
    open(os.path.join(path, "SOURCE"), "w").write(source)
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


def systemd_stack(names, allow_list):
    """One filter per arch in systemd's order (seccomp_local_archs: x86, x32, native x86_64 last),
    each with ACT_BADARCH=ALLOW, as systemd's seccomp_load_syscall_filter_set_raw installs them."""
    blobs, skipped = [], []
    for arch in (seccomp.Arch.X86, seccomp.Arch.X32, seccomp.Arch.X86_64):
        default, rule = ((seccomp.ERRNO(1), seccomp.ALLOW) if allow_list
                         else (seccomp.ALLOW, seccomp.ERRNO(1)))
        f = seccomp.SyscallFilter(default)
        if arch != seccomp.Arch.X86_64:
            f.add_arch(arch)
            f.remove_arch(seccomp.Arch.NATIVE)
        f.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.ALLOW)
        for name in sorted(names):
            try:
                f.add_rule(rule, name)
            except (RuntimeError, ValueError, OSError):
                skipped.append(name)
        blobs.append(export(f))
    return blobs, sorted(set(skipped))


def main(argv):
    moby_json = argv[1]
    moby = json.load(open(moby_json))
    common = json.load(open("/usr/share/containers/seccomp.json"))
    how = (f"compiled on this machine by tools/compile_policies.py with libseccomp {LIBSECCOMP} "
           "(Debian 12 python3-seccomp): the policy is real, the compilation is ours, so the bytes are "
           "libseccomp's but not necessarily what the policy's own software installs")
    moby_src = ("moby/profiles seccomp/default.json (the Docker default profile), commit "
                "cd3bed8061c7b7378b61fc6827c7885779417a75 (2026-06-30), Apache-2.0")
    variants = [
        ("moby-default-x86_64", "SCMP_ARCH_X86_64", 1, "x86_64 with archMap sub-architectures x86 and x32"),
        ("moby-default-x86_64-bintree", "SCMP_ARCH_X86_64", 2,
         "x86_64 + x86 + x32, SCMP_FLTATR_CTL_OPTIMIZE=2 (binary tree)"),
        ("moby-default-i386", "SCMP_ARCH_X86", 1, "x86 (i386) only: native x86_64 calls hit ACT_BADARCH"),
        ("moby-default-x32", "SCMP_ARCH_X32", 1, "x32 only: native x86_64 and i386 calls hit ACT_BADARCH"),
        ("moby-default-aarch64", "SCMP_ARCH_AARCH64", 1, "aarch64 with sub-architecture arm"),
    ]
    for name, native, optimize, what in variants:
        f, skipped = oci_filter(moby, native, MOBY_CAPS, optimize)
        write(name, [export(f)], f"""origin: {moby_src}
policy: {os.path.basename(moby_json)}, rules selected for Docker's default capabilities
  ({", ".join(sorted(MOBY_CAPS))}); default action ERRNO(EPERM) (defaultErrnoRet 1)
arches: {what}
optimizer: SCMP_FLTATR_CTL_OPTIMIZE={optimize}
how obtained: {how}
rules libseccomp refused: {", ".join(skipped) or "none"} (names unknown to libseccomp {LIBSECCOMP})
not modelled: runc/crun add their own -ENOSYS stub for unknown calls and filter flags
install order: one filter
""")
    # The same profile for `docker run --cap-add SYS_ADMIN`: the pair bpfsim diff is tested on.
    f, skipped = oci_filter(moby, "SCMP_ARCH_X86_64", MOBY_CAPS | {"CAP_SYS_ADMIN"}, 1)
    write("moby-default-x86_64-sys-admin", [export(f)], f"""origin: {moby_src}
policy: {os.path.basename(moby_json)}, rules selected for Docker's default capabilities plus CAP_SYS_ADMIN
  (docker run --cap-add SYS_ADMIN); default action ERRNO(EPERM) (defaultErrnoRet 1)
arches: x86_64 with archMap sub-architectures x86 and x32
optimizer: SCMP_FLTATR_CTL_OPTIMIZE=1
how obtained: {how}
rules libseccomp refused: {", ".join(skipped) or "none"} (names unknown to libseccomp {LIBSECCOMP})
not modelled: runc/crun add their own -ENOSYS stub for unknown calls and filter flags
install order: one filter
""")
    for name, optimize in (("containers-common-x86_64", 1), ("containers-common-x86_64-bintree", 2)):
        f, skipped = oci_filter(common, "SCMP_ARCH_X86_64", PODMAN_CAPS, optimize)
        write(name, [export(f)], f"""origin: containers-common seccomp.json (the podman/buildah/CRI-O default profile), as shipped by
  Debian 12 golang-github-containers-common 0.50.1+ds1-4 in /usr/share/containers/seccomp.json, Apache-2.0
policy: rules selected for podman's default capabilities ({", ".join(sorted(PODMAN_CAPS))});
  default action ERRNO(ENOSYS) (defaultErrnoRet 38)
arches: x86_64 with archMap sub-architectures x86 and x32
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
        blobs, skipped = systemd_stack(names, allow)
        kind = ("allow-list SystemCallFilter=" if allow else "deny-list SystemCallFilter=~") + " ".join(spec)
        write(name, blobs, f"""origin: systemd syscall groups as printed by `systemd-analyze syscall-filter` of Debian 12's
  {version}, LGPL-2.1-or-later (the group lists are data)
policy: {kind} with SystemCallErrorNumber=EPERM ({len(names)} names after expanding nested groups)
arches: a stack of three filters, one per arch in systemd's seccomp_local_archs order for x86_64
  (filter-0 x86, filter-1 x32, filter-2 x86_64), each with ACT_BADARCH=ALLOW, the shape
  seccomp_load_syscall_filter_set_raw installs
how obtained: {how}; systemd itself also adds its own rules (e.g. for its own seccomp() calls), not here
names libseccomp does not know on some arch: {", ".join(skipped) or "none"}
install order: filter-0.bpf, filter-1.bpf, filter-2.bpf (0 first)
""")


if __name__ == "__main__":
    main(sys.argv)
