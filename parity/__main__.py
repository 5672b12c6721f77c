"""python -m parity TARGET [TARGET ...]: run the parity checks and print the report.

TARGET is a model name (lenet5), a family (lenet) or ``all``. Exit code 0 only if every
check of every model passed; 2 for a usage error.

``python -m parity COMMAND ...`` runs a sub-command instead: each lives in its own module
of this package (``parity/cli_<command>.py``, with a ``main(argv) -> int``).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time

# Before paddle is imported: it sets OMP_NUM_THREADS=1 when unset, which would also
# slow torch in this process.
os.environ.setdefault("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m parity",
        description="Build each model in PyTorch and PaddlePaddle, copy the weights, and check that outputs, "
                    "gradients, BatchNorm statistics, optimizer steps and ONNX exports agree.")
    p.add_argument("targets", nargs="+", metavar="TARGET", help="model name, family name, or 'all'")
    p.add_argument("--dims", type=int, nargs="+", choices=(1, 2), default=[1, 2], help="1D and/or 2D (default both)")
    p.add_argument("--dtype", choices=("both", "float64", "float32"), default="both",
                   help="float64 proves exactness, float32 is what users run (default both)")
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export checks")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size of the test input (default: each model's parity batch, 4 or 2 for the largest)")
    p.add_argument("--size", type=int, help="spatial input size (default: each model's parity size)")
    p.add_argument("--brief", action="store_true", help="print only the one-line-per-model summary")
    return p


def _subcommand(name: str):
    """The module implementing ``python -m parity NAME``, or None."""
    if not name.isidentifier() or importlib.util.find_spec(f"parity.cli_{name}") is None:
        return None
    return importlib.import_module(f"parity.cli_{name}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and (module := _subcommand(argv[0])) is not None:
        return module.main(argv[1:])
    args = _parser().parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from parity.harness import resolve, run_many
    from parity.report import format_report, format_summary, write_json

    try:
        names = resolve(args.targets)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    start = time.perf_counter()

    def show(report) -> None:
        if not args.brief:
            print(format_report(report) + "\n", flush=True)

    try:
        reports = run_many(names, args.dims, dtypes, onnx=not args.no_onnx, batch=args.batch, size=args.size,
                           progress=show)
    except ValueError as exc:  # e.g. an input size the architecture does not accept
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(reports))
    print(f"wall time {time.perf_counter() - start:.1f}s")
    if args.json:
        write_json(reports, args.json)
        print(f"wrote {args.json}")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
