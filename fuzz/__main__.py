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
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("--cases", type=int, default=5000, help="(stack, input) cases to check")
    parser.add_argument("--minutes", type=float, help="run for this long instead of a case count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-save", action="store_true", help="do not write corpus/regressions/")
    args = parser.parse_args(argv)
    reason = live.seccomp_unavailable_reason()
    if reason:
        print(f"fuzz: cannot ask the kernel: {reason}", file=sys.stderr)
        return 2
    from fuzz import campaign
    print(f"fuzzing bpfsim against {campaign.describe_machine()}", file=sys.stderr)
    stats = campaign.run(args.cases, args.seed, seconds=args.minutes * 60 if args.minutes else None,
                         save=not args.no_save, progress=_progress(sys.stderr))
    for divergence in stats.divergences:
        print(divergence, file=sys.stderr)
    print(f"checked {stats.cases} cases, {len(stats.divergences)} divergences, {stats.rate:.0f} cases/s")
    return 0 if not stats.divergences else 1


if __name__ == "__main__":
    raise SystemExit(main())
