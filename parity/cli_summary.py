"""python -m parity summary NAME: the per-layer table of a registered model in torch and in paddle.

Both frameworks build the model with the same arguments and run one input through it;
the rows (layer, type, input and output shape, kernel, stride, padding, trainable
parameters, MACs, other ops) are printed once where the two agree and twice, marked,
where they do not. Exit code 0 when every row and total is identical, 1 when something
differs, 2 for a usage error. Counting conventions: parity/summary.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m parity summary",
        description="Per-layer shapes, parameters and MACs of a registered model in PyTorch and PaddlePaddle, "
                    "side by side, with a check that both frameworks give the same rows.")
    p.add_argument("name", help="registered model name (python -m parity summary lenet5)")
    p.add_argument("--dims", type=int, choices=(1, 2), default=2, help="2 for images (default), 1 for signals")
    p.add_argument("--input-size", type=int, metavar="N",
                   help="spatial size: side of a square image or signal length (default: the model's default)")
    p.add_argument("--num-classes", type=int, metavar="K", help="number of classes (default: the zoo's)")
    p.add_argument("--in-channels", type=int, metavar="C", help="input channels (default: the zoo's)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write both summaries as JSON to PATH, or print them instead of the table when no PATH")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    import zoo
    from parity.report import atomic_write_text
    from parity.summary import compare, fmt_shape, format_table, summarize_pair

    try:
        info = zoo.get(args.name)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    try:
        t, p = summarize_pair(args.name, args.dims, args.input_size, args.num_classes, args.in_channels)
    except ValueError as exc:  # an input size or argument the architecture does not accept
        print(f"error: {exc}", file=sys.stderr)
        return 2
    differences = compare(t, p)
    num_classes = args.num_classes if args.num_classes is not None else info.num_classes
    if args.json:
        doc = {"model": args.name, "dims": args.dims, "input_shape": list(t.input_shape), "num_classes": num_classes,
               "identical": not differences, "differences": differences, "torch": t.to_dict(), "paddle": p.to_dict()}
        text = json.dumps(doc, indent=1)
        if args.json == "-":
            print(text)
            return 0 if not differences else 1
        atomic_write_text(args.json, text)
    title = (f"{args.name}  ({info.family})  dims={args.dims}  input {fmt_shape(t.input_shape)}  "
             f"num_classes={num_classes}  {t.dtype}")
    print(format_table(t, p, title))
    print()
    if differences:
        print(f"torch and paddle DIFFER ({len(differences)}):")
        print("\n".join(f"  {d}" for d in differences))
    else:
        print(f"torch and paddle rows identical ({len(t)} rows); MACs count convolutions and Linear layers, "
              "'ops' the rest (see parity/summary.py)")
    if args.json:
        print(f"wrote {args.json}")
    return 0 if not differences else 1


if __name__ == "__main__":
    sys.exit(main())
