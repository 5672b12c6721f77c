"""python -m parity convert --model NAME --from torch IN.pt --to paddle OUT.pdparams (and the reverse).

Reads a checkpoint of one framework (a raw state dict, or wrapped as {"state_dict": ...},
{"model": ...}, with or without DDP's ``module.`` prefix; torchvision's published .pth
files are raw state dicts), builds the registered model in both frameworks with the
given arguments, converts by name and module type, checks every key and shape, and
writes the other framework's checkpoint atomically (zoo/files.py). OUT's folder is checked
for writing before anything is read, and a write failure is one line naming the path and
the reason.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

FRAMEWORKS = ("torch", "paddle")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m parity convert",
                                description="Convert a registered model's checkpoint between torch and paddle.")
    p.add_argument("--model", required=True, help="registered model name, e.g. resnet18")
    p.add_argument("--from", dest="src_fw", choices=FRAMEWORKS, required=True)
    p.add_argument("src", metavar="IN", help="input checkpoint (.pt/.pth for torch, .pdparams for paddle)")
    p.add_argument("--to", dest="dst_fw", choices=FRAMEWORKS, required=True)
    p.add_argument("dst", metavar="OUT", help="output checkpoint, written atomically")
    p.add_argument("--dims", type=int, choices=(1, 2), default=2)
    p.add_argument("--num-classes", type=int, help="default: the model's default")
    p.add_argument("--in-channels", type=int, help="default: the model's default")
    p.add_argument("--input-size", type=int, help="for models whose classifier is sized from the input")
    return p


def convert_file(model: str, src: str, src_fw: str, dst: str, dst_fw: str, **build_kwargs) -> int:
    """Convert checkpoint ``src`` of ``src_fw`` to ``dst`` of ``dst_fw``; returns the number of tensors."""
    import paddle_impl
    import torch_impl
    import zoo
    from parity import weights as W
    from zoo import files

    if src_fw == dst_fw:
        raise ValueError("--from and --to name the same framework; nothing to convert")
    info = zoo.get(model)
    files.check_writable(dst)  # before anything is read or built: a bad OUT costs nothing
    files.remove_stale_temps(Path(dst).parent)
    kwargs = info.build_kwargs(build_kwargs.pop("dims", 2), build_kwargs.pop("input_size", None),
                               **{k: v for k, v in build_kwargs.items() if v is not None})
    state = W.load_checkpoint(src, src_fw)
    context = f"{src} ({src_fw}) for {model}"
    if dst_fw == "paddle":
        out = W.torch_to_paddle(state, paddle_impl.build(model, **kwargs), context=context)
    else:
        out = W.paddle_to_torch(state, torch_impl.build(model, **kwargs), context=context)
    W.save_checkpoint(out, dst, dst_fw)
    return len(out)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from parity.weights import CheckpointError, WeightMismatchError

    try:
        n = convert_file(args.model, args.src, args.src_fw, args.dst, args.dst_fw, dims=args.dims,
                         num_classes=args.num_classes, in_channels=args.in_channels, input_size=args.input_size)
    except (KeyError, ValueError, OSError, CheckpointError, WeightMismatchError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {n} tensors, {args.src_fw} -> {args.dst_fw} ({args.model}, dims={args.dims})")
    return 0
