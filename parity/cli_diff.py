"""python -m parity diff DIR_A DIR_B: compare a torch dump and a paddle dump (written by dump) with the parity checks.

Prints the report of ``python -m parity`` (eval_forward, train_loss, train gradients,
bn_stats, sgd_steps, each against the harness's tolerances) with the first divergent layer
where a forward or gradient check fails. The weights pair by name (BatchNorm renames,
Linear transposes), else by construction order, or by ``--key-map`` (see ``compare --help``).
Exit code 0 if every check passed, 1 if one failed, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import sys

from parity import cliargs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m parity diff", description="Compare two dumps: one torch, one paddle.")
    p.add_argument("dirs", nargs=2, metavar="DIR", help="the two dump folders, in either order")
    p.add_argument("--dtype", choices=("float64", "float32"), help="assert the dumps' dtype (they ran in one)")
    p.add_argument("--key-map", metavar="FILE", help='JSON {"torch_key": "paddle_key", ...} for every tensor')
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON (atomically)")
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    args = cliargs.parse(parser, argv)
    if isinstance(args, int):
        return args
    from parity.dump import read
    from parity.keypairing import PairingError, read_key_map

    try:
        key_map = read_key_map(args.key_map) if args.key_map else None
        dumps = [read(d) for d in args.dirs]
        if args.json:
            from zoo import files

            files.check_writable(args.json)
        from parity.offline_diff import diff  # its DiffError is a ValueError

        try:
            report, triples, how = diff(dumps[0], dumps[1], args.dtype, key_map)
        except PairingError as exc:
            print(f"refused: {exc}")
            return 1
    except (ValueError, OSError) as exc:  # DiffError, unreadable dumps, a bad --key-map or --json path
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from parity.report import format_reports

    print(f"weights paired by {'construction order' if how == 'order' else how}: {len(triples)} tensors")
    print(format_reports([report]))
    if args.json:
        doc = {"partial": False, "cases": 1, "dumps": args.dirs, "reports": [report.to_dict()],
               "key_map": {"how": how, "pairs": [list(t) for t in triples]}}
        if not cliargs.write_doc(args.json, doc):
            return 1
    return 0 if report.ok else 1
