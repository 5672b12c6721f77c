"""python -m parity selftest: plant realistic porting mistakes and show that the harness catches them.

Each mistake of parity/mutants.py is planted into an in-memory copy of its file (no file
on disk changes), the model is compared in float64 at its parity size, and the self-test
checks that the catalogue's check fails first, cleanly (no rejudge), at the catalogue's
layer; every neutral rewrite must pass. Prints a table; exit 0 only if every entry holds
(entries waiting for a harness change are listed as such and do not count either way),
1 otherwise, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m parity selftest",
        description="Plant porting mistakes into in-memory copies of the models and check that the parity "
                    "harness fails each on the right check, at the right layer, and passes neutral rewrites.")
    p.add_argument("--subset", choices=("all", "ci"), default="all",
                   help="all (default), or ci: one mistake per class that the harness catches today, "
                        "plus the neutral rewrites (what CI runs)")
    p.add_argument("--only", nargs="+", metavar="ID", default=(), help="run only these catalogue entries")
    p.add_argument("--list", action="store_true", help="print the catalogue and exit")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from parity import selftest

    try:
        chosen = selftest.select(args.subset, args.only)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        print(selftest.format_catalogue(chosen))
        return 0
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    outcomes = selftest.run(chosen, progress=lambda o: print(selftest.format_line(o), flush=True))
    print()
    print(selftest.format_table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1
