"""``python -m fuzz --cases N --seed S`` or ``--minutes M``: bpfsim against this machine's kernel."""

import argparse
import sys

from bpfsim import kernel as live


def _progress(stream):
    last = [0.0]

    def show(stats):
        import time
        now = time.monotonic()
        if now - last[0] < 0.5:
            return
        last[0] = now
        end = "\r" if stream.isatty() else "\n"
        stream.write(f"  {stats.cases} cases, {stats.programs} verifier programs, "
                     f"{len(stats.divergences)} divergences, {stats.rate:,.0f} cases/s{end}")
        stream.flush()
    return show


def main(argv=None) -> int:
    """Run the campaign; Ctrl-C ends it with one line and status 130, as a shell reports SIGINT
    (the helpers end with this process: they watch their parent's pidfd)."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("\nfuzz: interrupted", file=sys.stderr)
        return 130
    except live.KernelError as failure:
        print(f"fuzz: the kernel oracle failed: {failure}", file=sys.stderr)
        return 2


def _run(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("--cases", type=int, default=5000, help="(stack, input) cases to check")
    parser.add_argument("--minutes", type=float, help="run for this long instead of a case count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-save", action="store_true", help="do not write corpus/regressions/")
    parser.add_argument("--threads", action="store_true",
                        help="random scripts of installs, clones, forks, TSYNCs and calls in a multi-threaded "
                             "process instead (--cases counts scripts of 24 steps)")
    parser.add_argument("--kernel", metavar="LAB_KERNEL",
                        help="fuzz against a lab kernel in a qemu guest (make lab), e.g. debian-5.10-amd64")
    args = parser.parse_args(argv)
    if args.kernel:
        from bpfsim import guest
        try:
            guest.lab_kernel(args.kernel)
        except live.KernelError as failure:
            print(f"fuzz: {failure}", file=sys.stderr)
            return 2
    else:
        reason = live.seccomp_unavailable_reason()
        if reason:
            print(f"fuzz: cannot ask the kernel: {reason}", file=sys.stderr)
            return 2
    if args.threads:
        return _threads(args)
    from fuzz import campaign
    where = f"lab kernel {args.kernel} (qemu guest)" if args.kernel else campaign.describe_machine()
    print(f"fuzzing bpfsim against {where}", file=sys.stderr)
    stats = campaign.run(args.cases, args.seed, seconds=args.minutes * 60 if args.minutes else None,
                         save=not args.no_save, progress=_progress(sys.stderr), kernel=args.kernel)
    for divergence in stats.divergences:
        print(divergence, file=sys.stderr)
    print(f"checked {stats.cases} cases, {len(stats.divergences)} divergences, {stats.rate:.0f} cases/s")
    return 0 if not stats.divergences else 1


def _threads(args) -> int:
    from fuzz import threads
    oracle = live.Oracle(kernel=args.kernel) if args.kernel else None
    where = f"lab kernel {args.kernel} (qemu guest)" if args.kernel else "this machine's kernel"
    print(f"fuzzing threads against {where}", file=sys.stderr)
    try:
        stats = threads.run(args.cases, args.seed, seconds=args.minutes * 60 if args.minutes else None,
                            oracle=oracle)
    finally:
        if oracle is not None:
            oracle.close()
    for programs, script, tracer, problems in stats.divergences:
        print(f"divergence (tracer={tracer}); filters:", file=sys.stderr)
        for program in programs:
            print("  " + program.to_asm().replace("\n", "; "), file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
    unseen = f", {stats.out_of_reach} not observable on this kernel" if stats.out_of_reach else ""
    print(f"checked {stats.scripts} scripts ({stats.steps} steps), {len(stats.divergences)} divergences, "
          f"{stats.rate:.0f} steps/s{unseen}")
    return 0 if not stats.divergences else 1


if __name__ == "__main__":
    raise SystemExit(main())
