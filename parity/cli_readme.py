"""python -m parity readme: regenerate the model table in README.md from the code.

Rewrites what lies between ``<!-- model-table:start -->`` and ``<!-- model-table:end -->``
(atomically; the rest of the file is kept byte for byte). Parameters and MACs come from
``parity.summary``; the parity column from the report of ``python -m parity all --json
parity-report.json`` when that file exists. ``--check`` only reports whether the
parameter and MAC columns are stale (exit 1) and writes nothing.
"""
from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    from parity.readme import README, REPORT

    p = argparse.ArgumentParser(prog="python -m parity readme",
                                description="Regenerate README.md's model table (parameters, MACs, parity status).")
    p.add_argument("--readme", default=str(README), metavar="PATH", help=f"default: {README}")
    p.add_argument("--report", default=str(REPORT), metavar="PATH",
                   help=f"parity JSON report to read the status from (default: {REPORT})")
    p.add_argument("--check", action="store_true", help="exit 1 if the table is stale; write nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from parity.readme import stale_rows, update_readme

    try:
        if args.check:
            with open(args.readme) as f:
                problems = stale_rows(f.read())
            for line in problems:
                print(line)
            print(f"{args.readme}: model table is {'STALE' if problems else 'current'}")
            return 1 if problems else 0
        changed = update_readme(args.readme, args.report)
    except (OSError, ValueError) as exc:
        print(f"error: {args.readme}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.readme}: model table {'updated' if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
