"""The ``bpfsim`` command: eval, trace, debug, table, disasm, asm, verify and dump.

The only module that prints or exits. ``main(argv)`` returns the exit status: 0 on success, 1 where
the kernel's verifier (or seccomp(2) attaching the stack) refuses a filter, 2 for bad usage or
unreadable input, reported as one line on stderr that names the file and what is wrong.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import re
import sys
from collections.abc import Callable

from . import abi
from .data import SeccompData
from .errors import BpfsimError, SeccompError, UnknownKernelError, VerifyError
from .insn import RECORDS
from .profiles import Kernel
from .program import Program, split_symbol, stack_files
from .seccomp import FilterChain, evaluate
from .syscalls import UnknownSyscallError, describe_nr, known_arches
from .verifier import verify

# The debugger, the analysis and the output formats are imported by the commands that use them:
# a one-shot command spends most of its time starting up.


class _UsageError(Exception):
    """Bad usage: one line on stderr, exit status 2."""


class _Refused(Exception):
    """A filter the kernel refuses to load or attach: exit status 1, naming the file."""

    def __init__(self, source: str, error: BpfsimError):
        self.source = source
        self.error = error


class _Exit(Exception):
    def __init__(self, status: int):
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse that reports instead of exiting, so ``main`` alone decides the exit status."""

    def error(self, message: str):
        command = self.prog.removeprefix("bpfsim").strip()
        raise _UsageError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, which argparse asks for each formatter it makes,
    without importing shutil (2 ms, mostly its compression modules): COLUMNS when it is a
    positive number, else the width of the terminal on standard output, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter (descriptions and epilogs as written), as wide as argparse makes it."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, _terminal_columns() - 2 if width is None else width)


class _CommandParser(_Parser):
    """A subcommand's parser: FILTERs may come after options too (``eval a.bpf --nr 1 b.bpf``), as
    with getopt's permutation, which argparse does only in its intermixed mode. Its options are
    added by ``add_options`` when it first parses (its ``--help`` included): a command does not
    build the other commands' options, and argparse's top-level help only lists the names."""

    _intermixing = False
    add_options: Callable[[argparse.ArgumentParser], None] | None = None

    def parse_known_args(self, args=None, namespace=None):
        if self.add_options is not None:
            add_options, self.add_options = self.add_options, None
            add_options(self)
        if self._intermixing:  # parse_known_intermixed_args calls this for each of its passes
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


# -- colors -------------------------------------------------------------------------------------

_COLORS = {"KILL_PROCESS": "31", "KILL_THREAD": "31", "TRAP": "33", "ERRNO": "33", "USER_NOTIF": "36",
           "TRACE": "36", "LOG": "32", "ALLOW": "32"}


def _color(text: str, action: str) -> str:
    if "NO_COLOR" in os.environ or not sys.stdout.isatty():
        return text
    return f"\x1b[1;{_COLORS[action]}m{text}\x1b[0m"


def _status(line: str) -> None:
    """What a command did, beside its output: on stderr, so that standard output stays the output."""
    print(line, file=sys.stderr)


# -- inputs -------------------------------------------------------------------------------------

def _number(text: str) -> int:
    """A VALUE as C writes an integer constant (``abi.c_integer``)."""
    try:
        return abi.c_integer(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _arg_pair(text: str) -> tuple[int, str]:
    """``--arg 1=O_WRONLY|O_CREAT``: which of the six arguments, and its value's text, whose names
    are numbered later, by the call's arch (``abi.argument_value``); numbers are checked now."""
    index, sep, value = text.partition("=")
    if not sep or not index.strip().isdigit() or not 0 <= int(index) < 6:
        raise argparse.ArgumentTypeError(f"{text!r} is not INDEX=VALUE with INDEX 0..5")
    for part in value.split("|"):
        if not re.fullmatch(r"\s*[A-Za-z_]\w*\s*", part):
            _number(part)
    return int(index), value


def _filter_files(paths: list[str]) -> list[str]:
    """The FILTER arguments with each directory replaced by its ``.bpf`` files in install order
    (``program.stack_files``)."""
    if paths.count("-") > 1:
        raise _UsageError("-: standard input can be read once")
    return [file for path in paths for file in stack_files(path)]


def _kernel(text: str) -> Kernel:
    try:
        return Kernel(text)
    except UnknownKernelError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_kernel_option(parser: argparse.ArgumentParser) -> None:
    """``--kernel`` on every command that judges; what the version changes is bpfsim.profiles'."""
    parser.add_argument("--kernel", metavar="VERSION", type=_kernel, default=Kernel(),
                        help=f"judge as this Linux version does, e.g. 5.10.262, 6.1 or debian-6.12-amd64 "
                             f"(default: {Kernel()}, the newest bpfsim models)")


def _shown(spec: str) -> str:
    """A FILTER argument as messages name it."""
    return "<stdin>" if spec == "-" else spec


def _reading(args) -> dict:
    """How the commands' FILTER files are read: ``--symbol``, ``-D`` and ``--big-endian``."""
    return {"symbol": args.symbol, "defines": args.defines, "byteorder": args.byteorder}


def _load(spec: str, *, arch: str | None = None, symbol: str | None = None, defines=(),
          byteorder: str = "little") -> Program:
    """One FILTER argument: a file, ``-`` for standard input, or ``FILE:SYMBOL`` for one filter of
    an ELF file or C source (``SYMBOL`` a number: the address or file offset of one without a symbol)."""
    if spec == "-":
        from .program import MAX_FILE_SIZE
        if sys.stdin is None:
            raise _UsageError("-: standard input is closed")
        return Program.parse(sys.stdin.buffer.read(MAX_FILE_SIZE + 1), name="<stdin>", arch=arch, symbol=symbol,
                             defines=dict(defines), byteorder=byteorder)
    path, named = split_symbol(spec)
    if named is not None and symbol is not None:
        raise _UsageError(f"{spec}: a symbol in the name and --symbol {symbol}: give one")
    return Program.load(path, arch=arch, symbol=named if named is not None else symbol, defines=dict(defines),
                        byteorder=byteorder)


def _byte_order_note(prog: Program, byteorder: str) -> str:
    """For a refused filter that, its records read in the other byte order, is one the kernel
    accepts: most likely records of a machine of that order (libseccomp exports an s390x filter
    big-endian), so say so and how to read it."""
    other = "big" if byteorder == "little" else "little"
    records = b"".join(RECORDS[byteorder].pack(i.code, i.jt, i.jf, i.k) for i in prog)
    try:
        verify(Program.from_bytes(records, byteorder=other))
    except VerifyError:
        return ""
    option = "--big-endian" if other == "big" else "no --big-endian"
    return f" (read as {other}-endian records it is a filter the kernel accepts: give {option})"


def _load_verified(paths: list[str], *, arch: str | None = None, installs_as: str | None = None,
                   via: str = "seccomp", kernel: Kernel | None = None, symbol: str | None = None, defines=(),
                   byteorder: str = "little",
                   tracer: bool = False, notes: dict | None = None,
                   refused: dict[str, tuple[int, BpfsimError]] | None = None,
                   chain: FilterChain | None = None) -> list[Program]:
    """Load the stack in install order (``arch``, the filters' arch, numbers names in C and
    assembler text) and attach it as seccomp(2) on ``kernel`` would, naming a refused file; with
    ``installs_as``, each install call also passes through the filters before it (``tracer``:
    one resumes the calls they TRACE). A file whose install call returned 0 without attaching
    it (ERRNO with data 0) is left out of the stack, and ``notes`` says why by path. With
    ``refused``, a refused file is recorded there (its index and the error) and the rest attach."""
    if chain is None:
        chain = FilterChain(arch=installs_as, kernel=kernel, judge_installs=installs_as is not None, tracer=tracer)
    programs = []
    for index, path in enumerate(paths):
        prog = _load(path, arch=arch, symbol=symbol, defines=defines, byteorder=byteorder)
        try:
            chain.attach(prog, via=via)
        except (VerifyError, SeccompError) as error:
            note = _byte_order_note(prog, byteorder) if isinstance(error, VerifyError) else ""
            if note:
                error = VerifyError(error.errno, error.pc, error.message + note, insn=error.insn, check=error.check)
            if refused is None:
                raise _Refused(_shown(path), error) from None
            refused[path] = (index, error)
            continue
        if len(chain) > len(programs):
            programs.append(prog)
        elif notes is not None:
            verdict = chain.last_call.verdict
            notes[path] = f"not attached: the install call returned 0 ({verdict})"
    return programs


def _judged_arches(args, programs: list[Program]) -> tuple[list[str], str]:
    """The arches whose calls a command judges, and the line that says why: ``--arch``, else
    every arch the stack may let through (arches.py), else the filters' own, else x86_64."""
    if args.arch == "all":
        names = [a for a in known_arches() if abi.arch_info(a).seccomp]  # x32 too: x86_64's, with its bit
        return names, f"arches {', '.join(names)} (--arch all)"
    if args.arch is not None:
        return [args.arch], f"arch {args.arch} (--arch)"
    from .arches import arches_checked
    checked = arches_checked(programs)
    names = [name for name in checked.passed if abi.arch_info(name).seccomp]
    if names:
        more = ", as for arches they never name" if checked.others_pass else ""
        label, whose = ("arches", "their") if len(names) > 1 else ("arch", "its")
        return names, (f"{label} {', '.join(names)}: read from the filters, which may let {whose} calls "
                       f"through{more} (--arch ARCH or all to choose)")
    own = next((p.arch for p in programs if p.arch), None)
    why = "no path lets a call of any arch through" if checked.checked else "the filters do not check the arch"
    return [own or "x86_64"], (f"arch {own}, the filters' own" if own else "arch x86_64, this machine's") + (
        f": {why} (--arch ARCH to choose)")


def _one_arch(args, programs: list[Program]) -> str:
    """The arch of the call a command judges: one arch, or a usage error naming the candidates."""
    names, _ = _judged_arches(args, programs)
    if len(names) > 1 and args.arch == "all":
        raise _UsageError(f"--arch all judges {len(names)} arches, and this output is one call's: choose one with --arch")
    if len(names) > 1:
        files = ", ".join(dict.fromkeys(p.name for p in programs if p.name)) or "the stack"
        raise _UsageError(f"{files}: the stack lets calls of {', '.join(names)} through: choose one with --arch")
    return names[0]


def _either_sides_arches(args, old: list[Program], new: list[Program]) -> tuple[list[str], str]:
    """The arches ``diff`` judges: those either stack may let through, since a call that one side
    refuses whatever it asks and the other lets through is a difference too."""
    names, why = _judged_arches(args, old)
    if args.arch is not None:
        return names, why
    more = [name for name in _judged_arches(args, new)[0] if name not in names]
    if not more:
        return names, why
    names += more
    return names, (f"arches {', '.join(names)}: read from the filters, which may let their calls through "
                   "on one side or both (--arch ARCH or all to choose)")


def _check_arch(arch: str) -> None:
    try:
        if not abi.arch_info(arch).seccomp:
            raise _UsageError(f"--arch {arch}: seccomp filters do not run there (Linux v6.18.2)")
    except abi.UnknownArchError as error:
        raise _UsageError(f"--arch: {error}") from None


def _check_options(args, programs: list[Program]) -> None:
    """What argparse cannot check alone: the arch's kernel runs filters, and the evaluation options
    fit the stack."""
    for option in ("arch", "filter_arch"):
        if getattr(args, option, None) == "":
            raise _UsageError(f"--{option.replace('_', '-')}: an empty name")
    if args.arch not in (None, "all"):
        _check_arch(args.arch)
    if getattr(args, "listener", None) is not None and not 0 <= args.listener < len(programs):
        raise _UsageError(f"--listener {args.listener}: the stack has filters 0..{len(programs) - 1}")
    if getattr(args, "threads", 1) < 1:
        raise _UsageError(f"--threads {args.threads}: a process has at least the calling thread")


def _input(args, programs: list[Program], arch: str) -> SeccompData:
    """The call of ``arch`` that ``--nr``, ``--arg`` and ``--ip`` describe."""
    try:
        nr = int(args.nr, 0)
    except ValueError:
        nr = args.nr
    values = [0] * 6
    for index, value in args.arg:
        try:
            values[index] = abi.argument_value(value, arch)
        except ValueError as error:
            raise _UsageError(f"--arg {index}: {error}") from None
    try:
        data = SeccompData(nr, arch, args.ip, values)
    except UnknownSyscallError as error:
        raise _UsageError(f"--nr: {error}") from None
    except (ValueError, BpfsimError) as error:
        raise _UsageError(f"bad input: {error}") from None
    return data


def _options(args) -> dict:
    return dict(kernel=args.kernel, tracer=args.tracer, listener=args.listener, threads=args.threads,
                after_trace=args.after_trace)


def _syscall_name(data: SeccompData) -> str | None:
    try:
        return describe_nr(data.nr & 0xFFFFFFFF, abi.arch_name(data.arch))
    except BpfsimError:
        return None


def _call_name(data: SeccompData) -> str:
    name = _syscall_name(data)
    if name is None:
        return f"nr {data.nr} ({abi.arch_name(data.arch)} has no syscall with that number)"
    nr = f"{data.nr:#x}" if data.nr >= abi.X32_SYSCALL_BIT else str(data.nr)  # x32 numbers, as the table shows them
    return f"{name} (nr {nr}, {abi.arch_name(data.arch)})"


# -- commands -----------------------------------------------------------------------------------

def _outcome_json(verdict, data: SeccompData, kernel: Kernel) -> dict:
    """``eval --json``: the contract's keys, with ``errno`` the errno the caller sees (ENOSYS for
    TRACE without a tracer too), then what else the calling thread observes and which call it was."""
    outcome = verdict.outcome
    siginfo = outcome.siginfo
    arch = abi.arch_name(data.arch)
    return {**verdict.as_dict(), "errno": outcome.errno, "runs": outcome.runs, "retval": outcome.retval,
            "signal": outcome.signal, "killed": outcome.killed, "core_dump": outcome.core_dump,
            "siginfo": None if siginfo is None else {
                "si_signo": siginfo.si_signo, "si_code": siginfo.si_code, "si_errno": siginfo.si_errno,
                "si_syscall": siginfo.si_syscall, "si_arch": siginfo.si_arch,
                "si_call_addr": siginfo.si_call_addr},
            "trace_message": outcome.trace_message, "listener": outcome.listener,
            "nr": data.nr, "name": _syscall_name(data), "arch": arch, "kernel": kernel.name}


def _cmd_eval(args) -> int:
    files = _filter_files(args.filters)
    programs = _load_verified(files, arch=args.filter_arch, kernel=args.kernel, **_reading(args))
    _check_options(args, programs)
    arches = [_one_arch(args, programs)] if args.json or args.trace else _judged_arches(args, programs)[0]
    unmet = []
    for arch in arches:
        _check_arch(arch)
        data = _input(args, programs, arch)
        if len(arches) > 1 and arch != arches[0]:
            print()
        verdict = _eval_one(args, files, programs, data)
        if args.expect and not _meets(verdict, args.expect, data):
            unmet.append(f"{_call_name(data)}: expected {args.expect[0]}, got {verdict}")
    for line in unmet:
        _report(line)
    return _UNMET if unmet else 0


_UNMET = 3  # eval --expect: the verdict is not the expected one


def _expectation(text: str) -> tuple[str, str | None]:
    """``--expect ACTION[:ERRNO]``: an action name, and for ERRNO an errno (number or name)."""
    from .seccomp import Action
    action, sep, value = text.partition(":")
    if action.upper() not in Action.__members__:
        raise argparse.ArgumentTypeError(f"{text!r}: the action is one of {', '.join(Action.__members__)}")
    if sep and action.upper() != "ERRNO":
        raise argparse.ArgumentTypeError(f"{text!r}: only ERRNO takes a value (ERRNO:EPERM, ERRNO:1)")
    if sep and not value:
        raise argparse.ArgumentTypeError(f"{text!r}: an errno after the colon, a number or a name")
    return text, value or None


def _meets(verdict, expectation: tuple[str, str | None], data: SeccompData) -> bool:
    """The verdict's action, and for ERRNO the errno the caller sees (a name numbered by the call's arch)."""
    text, value = expectation
    wanted = None
    if value is not None:
        try:
            wanted = int(value, 0)
        except ValueError:
            try:
                wanted = abi.errno_number(value.upper(), data.arch)
            except KeyError:
                raise _UsageError(f"--expect {text}: no errno {value} on {abi.arch_name(data.arch)}") from None
    return verdict.action.name == text.partition(":")[0].upper() and wanted in (None, verdict.outcome.errno)


def _eval_one(args, files: list[str], programs: list[Program], data: SeccompData):
    """Print one call's verdict; return it."""
    if args.trace:
        from .debugger import trace_stack
        stack = trace_stack(programs, data, **_options(args))
        for i in range(len(programs) - 1, -1, -1) if stack.verdict.returns else ():
            print(f"filter {i} ({_shown(files[i])}):\n{stack.traces[i]}\n")
        verdict = stack.verdict
    else:
        verdict = evaluate(programs, data, **_options(args))
    if args.json:
        import json
        print(json.dumps(_outcome_json(verdict, data, args.kernel)))
        return verdict
    print(_color(str(verdict), verdict.action.name))
    print(f"{_call_name(data)}: {verdict.outcome}")
    if args.trace:
        print(stack.why)
    return verdict


def _call_stack(args) -> tuple[list[Program], SeccompData]:
    """The stack and the one call that trace and debug step through."""
    programs = _load_verified(_filter_files(args.filters), arch=args.filter_arch, kernel=args.kernel, **_reading(args))
    _check_options(args, programs)
    arch = _one_arch(args, programs)
    _check_arch(arch)
    return programs, _input(args, programs, arch)


def _cmd_trace(args) -> int:
    from .debugger import trace_stack
    programs, data = _call_stack(args)
    stack = trace_stack(programs, data, **_options(args))
    if args.json:
        import json
        filters = [{"filter": i, "file": _shown(path), "ret": run.ret,
                    "steps": [{"pc": step.pc, "insn": str(step.insn), "a": step.a, "x": step.x,
                               "next_pc": step.next_pc, "ret": step.ret} for step in run]}
                   for i, (path, run) in enumerate(zip(_filter_files(args.filters), stack.traces))]
        print(json.dumps({"verdict": _outcome_json(stack.verdict, data, args.kernel), "filters": filters}))
        return 0
    print(str(stack))
    return 0


def _cmd_debug(args) -> int:
    from .debugger import Debugger, DebuggerShell
    if "-" in args.filters:
        raise _UsageError("debug reads its commands from standard input, so no FILTER can be -")
    if sys.stdin is None:  # started with <&-: there is nothing to read commands from
        raise _UsageError("debug: standard input is closed; it reads its commands from there")
    programs, data = _call_stack(args)
    debugger = Debugger(programs, data, **_options(args))
    shell = DebuggerShell(debugger, stdin=None if sys.stdin.isatty() else sys.stdin, stdout=sys.stdout)
    shell.cmdloop()
    return 0


def _errno_cell(row, arch: str) -> str:
    """The table's errno column: ``13 (EACCES)``, named as ``arch`` numbers errnos."""
    return "" if row.errno is None else f"{row.errno} ({abi.errno_name(row.errno, arch)})"


def _cmd_table(args) -> int:
    from .analysis import policy_table
    programs = _load_verified(_filter_files(args.filters), arch=args.filter_arch, kernel=args.kernel, **_reading(args))
    _check_options(args, programs)
    arches, why = _judged_arches(args, programs)
    for arch in arches:
        _check_arch(arch)
    # One arch keeps the contract's row; several name theirs.
    named = len(arches) > 1
    table = [(arch, row) for arch in arches for row in policy_table(programs, arch, kernel=args.kernel)]
    if args.json:
        import json
        print(json.dumps([{**row.as_dict(), **({"arch": arch} if named else {})} for arch, row in table]))
    elif args.csv:
        import csv
        records = [{**record, **({"arch": arch} if named else {})} for arch, row in table for record in row.csv_rows()]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]) if records else ["nr"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: str(v).lower() if isinstance(v, bool) else v for k, v in r.items()} for r in records)
    else:
        width = max((len(r.name or "") for _, r in table), default=4)
        shown_nr = lambda nr: f"{nr:#x}" if nr & abi.X32_SYSCALL_BIT else str(nr)  # noqa: E731 x32's bit
        nr_width = max([5, *(len(shown_nr(r.nr)) for _, r in table)])
        errno_width = max([16, *(len(_errno_cell(r, arch)) for arch, r in table)])  # "93 (EPROTONOSUPPORT)"
        print(f"# {why}")
        arch_width = max(map(len, arches)) if named else 0
        arch_head = f"{'arch':<{arch_width}}  " if arch_width else ""
        print(f"{arch_head}{'nr':>{nr_width}}  {'name':<{width}}  {'action':<12}  {'errno':<{errno_width}}  "
              f"depends on args")
        for arch, r in table:
            action = _color(r.action.name.ljust(12), r.action.name)
            arch_cell = f"{arch:<{arch_width}}  " if arch_width else ""
            depends = "" if not r.depends_on_args else "yes" if r.complete else "not proved (budget ran out)"
            print(f"{arch_cell}{shown_nr(r.nr):>{nr_width}}  {r.name or '':<{width}}  {action}  "
                  f"{_errno_cell(r, arch):<{errno_width}}  {depends}".rstrip())
            if r.depends_on_args and r.complete:
                for possibility in r.verdicts:
                    print(f"{'':<{arch_width + 2 if arch_width else 0}}{'':>{nr_width}}  {'':<{width}}  {possibility}")
    return 0


def _cmd_diff(args) -> int:
    from .differences import diff
    old, new = (_load_verified(_filter_files([side]), arch=args.filter_arch, kernel=args.kernel, **_reading(args))
                for side in (args.old, args.new))
    _check_options(args, old + new)
    arches, why = _either_sides_arches(args, old, new)
    for arch in arches:
        _check_arch(arch)
    found = diff(old, new, arches, kernel=args.kernel)
    if args.json:
        import json
        print(json.dumps([d.as_dict() for d in found]))
    else:
        print(f"# {why}")
        if not found:
            print(f"no difference: every call of {', '.join(arches)} gets the same verdict for every input")
        else:
            print(f"--- {_shown(args.old)}")
            print(f"+++ {_shown(args.new)}")
            for difference in found:
                print(difference)
    return 1 if found else 0


def _cmd_lint(args) -> int:
    from .audit import at_or_above, lint
    programs = [_load(path, arch=args.filter_arch, **_reading(args)) for path in _filter_files(args.filters)]
    if args.arch not in (None, "all"):
        _check_arch(args.arch)
    arches = None
    if args.arch is not None:
        arches = _judged_arches(args, [])[0]
    findings = lint(programs, arches, kernel=args.kernel)
    if args.json:
        import json
        print(json.dumps([f.as_dict() for f in findings]))
    else:
        for finding in findings:
            print(finding)
        print(f"{len(findings)} finding(s), {len(at_or_above(findings, args.fail_on))} at or above {args.fail_on}")
    return 1 if at_or_above(findings, args.fail_on) else 0


def _cmd_disasm(args) -> int:
    files = _filter_files([args.filter])
    if len(files) > 1:
        raise _UsageError(f"{args.filter}: a stack of {len(files)} filters; disassemble one of its files "
                          f"({', '.join(os.path.basename(f) for f in files[:3])}{', ...' if len(files) > 3 else ''})")
    prog = _load(files[0], arch=args.arch, **_reading(args))
    arch = args.arch or prog.arch
    if args.json:
        import json
        from .formatter import annotate
        comments = annotate(prog, arch=arch)
        print(json.dumps([{"pc": pc, "code": insn.code, "jt": insn.jt, "jf": insn.jf, "k": insn.k,
                           "text": str(insn), "comment": comment}
                          for pc, (insn, comment) in enumerate(zip(prog, comments))]))
    elif args.c:
        print(prog.to_c(arch=arch), end="")
    elif args.pseudo_c:
        print(prog.to_asm(arch=arch, dialect="pseudo_c"), end="")
    elif args.asm:
        print(prog.to_asm(arch=arch), end="")
    else:
        print(prog.listing(raw=args.raw, arch=arch))
    return 0


def _cmd_asm(args) -> int:
    from .output import write_file
    prog = _load(args.file, arch=args.arch, **_reading(args))
    if not prog:
        raise _UsageError(f"{args.file}: no instructions to write")
    written = prog.to_c(arch=prog.arch).encode() if args.format == "c" else prog.to_bytes()
    if args.output == "-":
        sys.stdout.buffer.write(written)
        sys.stdout.flush()
        out = "standard output"
    else:
        out = args.output
        write_file(out, written, inputs=["/dev/stdin" if args.file == "-" else args.file])  # < a.asm -o a.asm too
    _status(f"{out}: {len(prog)} instructions")
    return 0


def _cmd_verify(args) -> int:
    if args.via != "seccomp" and args.installs_as is None:
        raise _UsageError("--via: give --installs-as ARCH too, the arch of the installing thread")
    if args.tracer and args.installs_as is None:
        raise _UsageError("--tracer: give --installs-as ARCH too, the arch of the installing thread")
    paths = _filter_files(args.filters)
    notes: dict[str, str] = {}
    refused: dict[str, tuple[int, BpfsimError]] = {}
    chain = FilterChain(arch=args.installs_as, kernel=args.kernel, judge_installs=args.installs_as is not None,
                        tracer=args.tracer)
    programs = iter(_load_verified(paths, arch=args.filter_arch, via=args.via, **_reading(args), notes=notes,
                                   refused=refused, chain=chain))
    budget = f"path length {chain.path_length()} of {abi.MAX_INSNS_PER_PATH} (kernel/seccomp.c:seccomp_attach_filter)"
    results = []
    for index, path in enumerate(paths):
        if path in refused:
            error = refused[path][1]
            results.append({"file": _shown(path), "index": index, "ok": False, "errno": getattr(error, "errno", None),
                            "pc": getattr(error, "pc", None), "error": str(error)})
        elif path in notes:
            results.append({"file": _shown(path), "index": index, "ok": True, "attached": False, "note": notes[path]})
        else:
            results.append({"file": _shown(path), "index": index, "ok": True, "attached": True,
                            "instructions": len(next(programs))})
    if args.json:
        import json
        print(json.dumps({"ok": not refused, "filters": results, "path_length": chain.path_length(),
                          "max_path_length": abi.MAX_INSNS_PER_PATH}))
    else:
        for result in results:
            if result["ok"]:
                print(f"{result['file']}: " + (result.get("note") or f"ok, {result['instructions']} instructions"))
            else:
                print(f"{result['file']}: refused (filter {result['index']})")
        print(budget)
    for path, (index, error) in refused.items():
        _report(f"{_shown(path)} (filter {index}): {error}")
    return 1 if refused else 0


def _cmd_dump(args) -> int:
    from .kernel import capture_filters, dump_filters
    from .output import replace_files
    if not args.output:
        raise _UsageError("dump -o: an empty directory name")
    if args.output == "-":
        raise _UsageError("dump -o -: a directory is needed; standard output cannot hold the separate filters")
    if (args.pid is None) == (args.command is None):
        raise _UsageError("dump: give a PID or -c COMMAND (one of them)")
    if args.command is None and (args.limit is not None or args.timeout is not None):
        raise _UsageError("dump: --limit and --timeout go with -c COMMAND")
    if args.limit is not None and args.limit < 1:
        raise _UsageError(f"dump --limit {args.limit}: at least 1 filter")
    if args.timeout is not None and not 0 < args.timeout < float("inf"):
        raise _UsageError(f"dump --timeout {args.timeout}: a positive number of seconds")
    if args.command is None:
        blobs = dump_filters(args.pid)
        notes = [""] * len(blobs)
    else:
        capture = capture_filters(args.command, limit=args.limit,
                                  timeout=_DUMP_TIMEOUT if args.timeout is None else args.timeout)
        ended = _capture_ending(capture, args)
        if not capture.filters:
            raise _UsageError(f"dump -c: {ended}, without installing a filter")
        blobs = [found.blob for found in capture.filters]
        notes = [f" (thread {found.tid}, {found.call}"
                 + "".join(f" {name}" for bit, name in abi.FILTER_FLAG_NAMES.items() if found.flags & bit) + ")"
                 for found in capture.filters]
    files = {dump_file_name(i): blob for i, blob in enumerate(blobs)}
    replace_files(args.output, files, stale=lambda name: re.fullmatch(_DUMP_NAME, name))
    for i, (name, blob) in enumerate(files.items()):
        _status(f"{os.path.join(args.output, name)}: {len(blob) // 8} instructions{notes[i]}")
    if args.command is not None:
        _status(ended)
    elif not blobs:
        _status(f"pid {args.pid} has no filters")
    return 0


_DUMP_TIMEOUT = 60.0  # seconds dump -c lets a command run


def _capture_ending(capture, args) -> str:
    """How the command of ``dump -c`` ended, in words."""
    if capture.ending == "limit":
        return f"killed the command after filter {args.limit} (--limit {args.limit})"
    if capture.ending == "timeout":
        return f"killed the command at the timeout ({args.timeout or _DUMP_TIMEOUT:g} s)"
    if capture.signal is not None:
        return f"the command was killed by signal {capture.signal}"
    if capture.status == 127:
        return "the command exited with status 127 (the shell did not find it)"
    return f"the command exited with status {capture.status}"


# A thread holds at most 6553 filters: each costs its length plus FILTER_PATH_PENALTY (4) against
# MAX_INSNS_PER_PATH (32768) (kernel/seccomp.c:seccomp_attach_filter), so four digits always do.
_DUMP_DIGITS = len(str(abi.MAX_INSNS_PER_PATH // (1 + abi.FILTER_PATH_PENALTY)))


def dump_file_name(index: int) -> str:
    """The file ``dump`` writes filter ``index`` (install order) to: zero-padded, so that the
    shell's sorted glob (``DIR/*.bpf``) is install order."""
    return f"{index:0{_DUMP_DIGITS}d}.bpf"


_DUMP_NAME = r"\d+\.bpf"  # what dump writes (or an older bpfsim wrote), so what it replaces


# -- the parser ---------------------------------------------------------------------------------

_EPILOG = """\
examples:
  bpfsim eval sandbox.bpf --nr openat --arg 2=0x1           one call against one filter
  bpfsim eval base.bpf app.asm --nr 59 --json               a stack, oldest first; JSON verdict
  bpfsim trace sandbox.bpf --nr socket --arg 0=2            every executed instruction, explained
  bpfsim debug sandbox.bpf --nr mmap --arg 2=7              step, break, rerun interactively
  bpfsim table sandbox.bpf --arch x86_64                    the verdict of every syscall
  bpfsim disasm sandbox.bpf --raw                           the numbered listing with raw columns
  bpfsim asm filter.asm -o filter.bpf                       assemble to raw sock_filter records
  bpfsim verify filter.asm                                  what seccomp(2) would say at load time
  bpfsim verify base.bpf app.bpf --installs-as x86_64       may base.bpf's thread install app.bpf?
  bpfsim dump 1234 -o filters/                              a live process's filters (root)
  bpfsim dump -c 'app --sandboxed' -o filters/              the filters a command installs (root)
  bpfsim eval filters/ --nr execve                          the dumped stack, in install order

FILTER files may be raw .bpf records, assembler text, a C initializer or an ELF file (FILE:SYMBOL
for one of several), a directory that dump wrote, or - for standard input. --arch is the
call's arch (default: read from the filters' code); --filter-arch numbers the names of C and
assembler text that has no arch line.
Exit status: 0 success, 1 a filter the kernel refuses, 2 bad usage or unreadable input,
3 a verdict that is not the one eval --expect names."""


def _define(text: str) -> tuple[str, str]:
    """``-D NAME[=VALUE]``, as a C compiler reads it: ``-D NAME`` defines NAME as 1."""
    name, sep, value = text.partition("=")
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME or NAME=VALUE with NAME a C identifier")
    return name, value if sep else "1"


def _add_symbol_option(parser: argparse.ArgumentParser) -> None:
    """How a file's filter is found: its symbol, and the macros its C source is compiled with."""
    parser.add_argument("--symbol", metavar="NAME",
                        help="the filter's symbol in ELF and C files that hold several (FILE:SYMBOL names one "
                             "file's; a number is the address or file offset of a filter without a symbol)")
    parser.add_argument("-D", "--define", metavar="NAME[=VALUE]", dest="defines", type=_define, action="append",
                        default=[], help="a macro of C sources, as the compiler's -D sets it (repeatable), "
                                         "e.g. -D SANDBOX_SECCOMP_FILTER -D SECCOMP_AUDIT_ARCH=AUDIT_ARCH_X86_64")
    parser.add_argument("--big-endian", dest="byteorder", action="store_const", const="big", default="little",
                        help="raw records are big-endian: a filter libseccomp exported for s390x, ppc64 or mips, or "
                             "one such a machine's kernel dumped (default: little-endian, as on x86 and arm64)")


def _add_arch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", help="the call's architecture, or 'all' (default: every arch whose calls the "
                                       "stack may let through, read from its code)")
    parser.add_argument("--filter-arch", metavar="ARCH",
                        help="the arch that numbers syscall and errno names in C and assembler filters without "
                             "an arch line (C: default x86_64, as this machine's compiler would)")


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    """What a command that judges a whole stack for every syscall (table, lint) reads."""
    parser.add_argument("filters", metavar="FILTER", nargs="+",
                        help="filter files in install order, or a directory bpfsim dump wrote")
    _add_arch_options(parser)
    _add_kernel_option(parser)
    _add_symbol_option(parser)


def _add_call_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("filters", metavar="FILTER", nargs="+",
                        help="filter files in install order (oldest first), or a directory bpfsim dump wrote")
    parser.add_argument("--nr", required=True, help="syscall number or name (in ARCH's table)")
    _add_arch_options(parser)
    _add_symbol_option(parser)
    parser.add_argument("--arg", metavar="INDEX=VALUE", type=_arg_pair, action="append", default=[],
                        help="a syscall argument, e.g. 2=0x1 or '1=O_WRONLY|O_CREAT', names numbered by the call's arch "
                             "(repeatable; missing ones are 0)")
    parser.add_argument("--ip", metavar="VALUE", type=_number, default=0, help="instruction_pointer")
    parser.add_argument("--tracer", action="store_true", help="a ptracer set PTRACE_O_TRACESECCOMP")
    parser.add_argument("--after-trace", action="store_true",
                        help="the recheck when a tracer resumes a call stopped by TRACE (TRACE then allows)")
    parser.add_argument("--listener", metavar="N", type=int,
                        help="filter N (install order) holds a user-notification listener")
    parser.add_argument("--threads", metavar="N", type=int, default=1,
                        help="live threads in the process (KILL_THREAD kills the last one's process)")
    _add_kernel_option(parser)


def _eval_options(sub: argparse.ArgumentParser) -> None:
    _add_call_options(sub)
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print one JSON object")
    shown.add_argument("--trace", action="store_true", help="also print each filter's trace and why the winner won")
    sub.add_argument("--expect", metavar="ACTION[:ERRNO]", type=_expectation,
                     help=f"exit with status {_UNMET} unless the verdict is this (e.g. KILL_PROCESS, ERRNO:EPERM)")


def _trace_options(sub: argparse.ArgumentParser) -> None:
    _add_call_options(sub)
    sub.add_argument("--json", action="store_true",
                     help="one JSON object: the verdict as eval --json gives it, and each filter's steps")


def _table_options(sub: argparse.ArgumentParser) -> None:
    _add_stack_options(sub)
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="one JSON array")
    shown.add_argument("--csv", action="store_true", help="CSV with a header row")


def _lint_options(sub: argparse.ArgumentParser) -> None:
    _add_stack_options(sub)
    sub.add_argument("--json", action="store_true", help="one JSON array of findings")
    sub.add_argument("--fail-on", choices=("info", "warning", "error"), default="error",
                     help="exit 1 when a finding is this severe or worse (default: error)")


def _diff_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("old", metavar="OLD", help="the old stack: a filter file or a directory bpfsim dump wrote")
    sub.add_argument("new", metavar="NEW", help="the new stack: a filter file or a directory bpfsim dump wrote")
    _add_arch_options(sub)
    _add_kernel_option(sub)
    _add_symbol_option(sub)
    sub.add_argument("--json", action="store_true", help="one JSON array of differences")


def _disasm_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("filter", metavar="FILTER")
    sub.add_argument("--raw", action="store_true", help="add the code/jt/jf/k columns")
    sub.add_argument("--arch", "--filter-arch", dest="arch", metavar="ARCH",
                     help="the filter's arch: it names syscalls and fields, and numbers the names of C and "
                          "assembler text without an arch line")
    _add_symbol_option(sub)
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument("--c", action="store_true", help="a C initializer of BPF_STMT/BPF_JUMP")
    shown.add_argument("--pseudo-c", action="store_true", help="seccomp-tools' C-like text (assembles back too)")
    shown.add_argument("--asm", action="store_true", help="assembler text that assembles back to the same filter")
    shown.add_argument("--json", action="store_true", help="one JSON array: each instruction's fields, text and comment")


def _asm_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("-o", "--output", metavar="OUT", required=True, help="the file to write, or - for standard output")
    _add_symbol_option(sub)
    sub.add_argument("--format", choices=("raw", "c"), default="raw", help="raw records (default) or C text")
    sub.add_argument("--arch", "--filter-arch", dest="arch", metavar="ARCH",
                     help="number syscall and errno names in C or assembler text as ARCH does")


def _verify_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("filters", metavar="FILTER", nargs="+", help="filter files, or a directory bpfsim dump wrote")
    sub.add_argument("--filter-arch", metavar="ARCH",
                     help="the arch that numbers syscall and errno names in C and assembler filters")
    _add_symbol_option(sub)
    sub.add_argument("--json", action="store_true",
                     help="one JSON object: each filter's result, the path length used and its limit")
    sub.add_argument("--installs-as", metavar="ARCH",
                     help="make each install a system call of ARCH, judged by the filters before it")
    sub.add_argument("--via", choices=("seccomp", "prctl"), default="seccomp",
                     help="with --installs-as: the call that installs, seccomp(2) (default) or prctl(2)")
    sub.add_argument("--tracer", action="store_true",
                     help="with --installs-as: a ptracer with PTRACE_O_TRACESECCOMP resumes install calls "
                          "the filters TRACE (they are judged again and run)")
    _add_kernel_option(sub)


def _dump_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("pid", metavar="PID", type=int, nargs="?", help="a running process (its main thread)")
    sub.add_argument("-c", "--command", metavar="COMMAND",
                     help="run COMMAND (/bin/sh -c, as you, traced) and capture each filter it, its threads "
                          "or its children install, in install order; the command runs to its end")
    sub.add_argument("--limit", metavar="N", type=int,
                     help="with -c: kill the command and everything it started after the N-th filter")
    sub.add_argument("--timeout", metavar="SECONDS", type=float,
                     help=f"with -c: kill the command and everything it started after SECONDS "
                          f"(default {_DUMP_TIMEOUT:g}); the filters captured until then are written")
    sub.add_argument("-o", "--output", metavar="DIR", required=True)


# name, what runs it, its help, an example, the function that adds its options
_COMMANDS = [
    ("eval", _cmd_eval, "the verdict of a filter stack for one syscall",
     "bpfsim eval sandbox.bpf --nr openat --arg 2=0x1 --json", _eval_options),
    ("trace", _cmd_trace, "step trace: every instruction, branch and return explained",
     "bpfsim trace sandbox.bpf --nr execve", _trace_options),
    ("debug", _cmd_debug, "interactive stepping (type help inside)",
     "bpfsim debug sandbox.bpf --nr openat --arg 2=1", _add_call_options),
    ("table", _cmd_table, "the policy table: every syscall number of ARCH and its verdict",
     "bpfsim table sandbox.bpf --arch x86_64 --json", _table_options),
    ("lint", _cmd_lint, "what is wrong with a filter stack: findings with a witness input each",
     "bpfsim lint sandbox.bpf --fail-on warning", _lint_options),
    ("diff", _cmd_diff, "every call whose verdict differs between two stacks, where, and an input",
     "bpfsim diff old.bpf new.bpf --arch all", _diff_options),
    ("disasm", _cmd_disasm, "the numbered listing of a filter", "bpfsim disasm sandbox.bpf --raw", _disasm_options),
    ("asm", _cmd_asm, "assemble (or convert) a filter file", "bpfsim asm filter.asm -o filter.bpf", _asm_options),
    ("verify", _cmd_verify, "check filters as seccomp(2) would when attaching them in order",
     "bpfsim verify base.bpf app.asm --installs-as x86_64", _verify_options),
    ("dump", _cmd_dump, "write a live process's filters, or those a command installs, to "
     "DIR/0000.bpf, 0001.bpf, ... (oldest first)",
     "sudo bpfsim dump 1234 -o filters/\n  sudo bpfsim dump -c './server --sandbox' --limit 2 -o filters/",
     _dump_options),
]


def _parser() -> argparse.ArgumentParser:
    """The ``bpfsim`` parser; a command's options are added when that command parses."""
    from . import __version__
    parser = _Parser(prog="bpfsim", description="Classic-BPF seccomp filters, evaluated as Linux does (6.18 unless --kernel says otherwise).",
                     epilog=_EPILOG, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"bpfsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser)
    for name, run, help, example, options in _COMMANDS:
        sub = commands.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                                  formatter_class=_HelpFormatter)
        sub.set_defaults(run=run)
        sub.add_options = options
    return parser


_MAX_MESSAGE = 400  # characters of an error line; a 100,000-digit token is not worth repeating


def _report(message: str) -> None:
    """One line on stderr, whatever the message quotes from the input: control characters and
    line breaks are escaped, and a very long message is cut."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    if len(line) > _MAX_MESSAGE:
        line = line[:_MAX_MESSAGE] + f"... ({len(line) - _MAX_MESSAGE} more characters)"
    if sys.stderr is not None:
        print(f"bpfsim: {line}", file=sys.stderr)


def run() -> int:
    """``main`` for a process that ends with it (the ``bpfsim`` command, ``python -m bpfsim``):
    what is left is then frozen out of the cyclic collector (``gc.freeze``), so that the
    interpreter's shutdown does not walk every object again (5 ms of a one-shot command).
    Callers that go on use ``main``."""
    status = main()
    gc.freeze()
    return status


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status."""
    if sys.stdout is None:  # started with stdout closed (>&-): the results would vanish
        _report("standard output is closed")
        return 2
    try:
        args = _parser().parse_args(argv)
        return args.run(args)
    except _Exit as done:
        return done.status
    except _UsageError as error:
        _report(str(error))
        return 2
    except _Refused as refused:
        _report(f"{refused.source}: {refused.error}")
        return 1
    except VerifyError as error:
        _report(str(error))
        return 1
    except BpfsimError as error:
        _report(str(error))
        return 2
    except BrokenPipeError:
        # A reader such as head(1) went away: say nothing more (Python's documented idiom), and
        # exit as a program killed by SIGPIPE would, not with 1, which means a refused filter.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except OSError as error:
        where = (f"{error.filename}: " if error.filename
                 else "standard output: " if error.errno == errno.ENOSPC else "")  # e.g. >/dev/full
        _report(f"{where}{error.strerror or error}")
        return 2
    except KeyboardInterrupt:
        return 130
