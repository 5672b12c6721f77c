"""python -m parity export NAME [--weights W] [--static] [--out DIR]: deployable, verified exports.

Builds the model in torch (with ``--weights``: a checkpoint of either framework, or
"torchvision" / "paddle.vision" from their caches), copies the weights into paddle, and
writes ``torch.onnx``, ``paddle.onnx`` and a paddle inference model (``paddle_inference/``)
under ``DIR/NAME_<dims>d``. The batch axis is dynamic unless ``--static``; the input is
named ``input`` and the output ``logits``. Each file is checked against eager output at
batch sizes 1 and 7 (static: ``--batch``) in onnxruntime or paddle.inference, and is kept
only if it passes (``--keep-failed`` keeps a failed one as ``*.failed``). Exit code 0 only
if every file passed; 2 for a usage error (parity/deploy.py does the work).
"""
from __future__ import annotations

import argparse
import os
import sys

OPSETS = range(11, 20)  # what both torch.onnx (legacy: up to 20) and paddle2onnx 2.1.0 export


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _opset(text: str) -> int:
    value = _at_least(0)(text)
    if value not in OPSETS:
        raise argparse.ArgumentTypeError(f"must be {OPSETS.start}..{OPSETS.stop - 1} (what both exporters write), "
                                         f"got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    from parity.onnx_check import DEFAULT_OPSET

    p = argparse.ArgumentParser(prog="python -m parity export", description=__doc__.splitlines()[0])
    p.add_argument("model", help="registered model name")
    p.add_argument("--weights", help="checkpoint of either framework, or torchvision / paddle.vision "
                                     "(default: the builder's random initialisation, seeded)")
    p.add_argument("--dims", type=int, choices=(1, 2), default=2)
    p.add_argument("--opset", type=_opset, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--out", default=".", help="output folder (default: current folder)")
    p.add_argument("--static", action="store_true", help="fix the batch axis at --batch")
    p.add_argument("--batch", type=_at_least(1), default=1, help="batch size of a --static export (default 1)")
    p.add_argument("--size", type=_at_least(1), help="input size (default: the model's default input size)")
    p.add_argument("--num-classes", type=_at_least(0), help="classes (0: pooled features, where the model allows)")
    p.add_argument("--in-channels", type=_at_least(1))
    p.add_argument("--keep-failed", action="store_true", help="keep a file that fails verification, as *.failed")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    import numpy as np
    import torch

    import paddle_impl
    import torch_impl
    import zoo
    from parity.deploy import export_deployables

    try:
        info = zoo.get(args.model)
        size = args.size or info.default_size(args.dims)
        overrides = {k: v for k, v in (("num_classes", args.num_classes), ("in_channels", args.in_channels))
                     if v is not None}
        kwargs = info.build_kwargs(args.dims, size, **overrides)
        torch.manual_seed(0)
        try:
            t_model = torch_impl.build(args.model, weights=args.weights, **kwargs)
            p_model = paddle_impl.build(args.model, **kwargs)
        except (KeyError, ValueError):
            raise
        except Exception as exc:  # a builder that cannot make this configuration (e.g. no classes)
            raise ValueError(f"cannot build {args.model} with {kwargs}: {type(exc).__name__}: {exc}") from None
        shape = info.input_shape(args.dims, 1, size, kwargs["in_channels"])[1:]
        t_model.eval()
        with torch.no_grad():
            t_model(torch.from_numpy(np.zeros((1, *shape), np.float32)))  # a wrong size fails here, with its message
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    out_dir = os.path.join(args.out, f"{args.model}_{args.dims}d")
    try:
        artifacts = export_deployables(t_model, p_model, shape, out_dir, opset=args.opset, dynamic=not args.static,
                                       batch=args.batch, num_classes=kwargs.get("num_classes"),
                                       keep_failed=args.keep_failed)
    except OSError as exc:
        print(f"error: cannot write under {out_dir}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    batch = "dynamic batch" if not args.static else f"batch {args.batch}"
    for a in artifacts:
        where = f"wrote {a.path}" if a.passed else (f"kept {a.path}" if a.path else "not kept")
        print(f"{a.name:<17} {'ok' if a.passed else 'FAIL':<5} {a.detail}; {where}")
    print(f"input 'input' [{batch}, {', '.join(map(str, shape))}] float32, opset {args.opset}")
    return 0 if all(a.passed for a in artifacts) else 1
