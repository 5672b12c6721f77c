"""python -m parity export NAME [--dims] [--opset] [--out DIR]: both frameworks' ONNX files, verified.

Builds the model in torch, copies the weights into paddle, exports both (float32,
fixed input shape), checks each file with onnx.checker, runs both in onnxruntime
against eager output and against each other, and prints the errors.
"""
from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    from parity.onnx_check import DEFAULT_OPSET

    p = argparse.ArgumentParser(prog="python -m parity export", description=__doc__.splitlines()[0])
    p.add_argument("model", help="registered model name")
    p.add_argument("--dims", type=int, choices=(1, 2), default=2)
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--out", default=".", help="output folder (default: current folder)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, help="input size (default: the model's default input size)")
    p.add_argument("--num-classes", type=int)
    p.add_argument("--in-channels", type=int)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    import numpy as np
    import torch

    import paddle_impl
    import torch_impl
    import zoo
    from parity import weights as W
    from parity.onnx_check import check_onnx

    try:
        info = zoo.get(args.model)
        size = args.size or info.default_size(args.dims)
        overrides = {k: v for k, v in (("num_classes", args.num_classes), ("in_channels", args.in_channels))
                     if v is not None}
        kwargs = info.build_kwargs(args.dims, size, **overrides)
        torch.manual_seed(0)
        t_model, p_model = torch_impl.build(args.model, **kwargs), paddle_impl.build(args.model, **kwargs)
        W.copy_torch_to_paddle(t_model, p_model)
        shape = info.input_shape(args.dims, args.batch, size, kwargs["in_channels"])
        x = np.random.RandomState(0).standard_normal(shape).astype("float32")
        t_model.eval()
        t_model(torch.from_numpy(x))  # a wrong size fails here with the model's own message
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    out_dir = os.path.join(args.out, f"{args.model}_{args.dims}d")
    checks = check_onnx(t_model, p_model, x, opset=args.opset, out_dir=out_dir)
    for c in checks:
        errs = "" if c.max_abs is None else f"max_abs {c.max_abs:.1e}  max_rel {c.max_rel:.1e}  tol {c.tol:.0e}  "
        print(f"{c.name:<12} {'ok' if c.passed else 'FAIL':<5} {errs}{c.detail}")
    for side in ("torch", "paddle"):
        path = os.path.join(out_dir, f"{side}.onnx")
        if os.path.exists(path):
            print(f"wrote {path}  (input {list(shape)}, float32)")
    return 0 if all(c.passed for c in checks) else 1
