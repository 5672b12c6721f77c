"""python -m parity compare TORCH_SPEC PADDLE_SPEC --input-shape N,C,H,W: check any torch/paddle pair, registered or not.

A spec is ``package.module:factory`` or ``path/to/file.py:factory``; the factory is called with
no arguments (write a two-line function for arguments). The report is ``python -m parity``'s,
preceded by how the weights were paired: by name, by construction order (which proves
nothing about the function), or by a ``--key-map`` file. Exit code 0 if every check passed,
1 if one failed or the weights cannot be paired, 2 for a usage error. The arguments and the
key-map file are checked before torch or paddle is imported.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from typing import Any

DTYPES = ("float64", "float32")

KEY_MAP_HELP = """\
key-map file (--key-map FILE): a JSON object that names the paddle key of every torch key,
  {"conv1.weight": "stem.conv.weight", "bn1.running_mean": "stem.bn._mean", ...}
  Every torch tensor (BatchNorm's num_batches_tracked excepted) and every paddle tensor must
  appear once; a Linear weight is transposed when the paddle key belongs to a paddle Linear.
  Unknown, unmapped, repeated and mis-shaped keys are listed, grouped by module prefix.

weights: by default torch's weights are copied into paddle (constant-initialised tensors such
  as BatchNorm's are first redrawn at random, so that no mistake hides behind a constant);
  --weights-from paddle copies the other way (no redraw); --own-weights keeps each side's
  own weights and the copy check says where they differ.

example:
  python -m parity compare torchvision.models:resnet18 paddle.vision.models:resnet18 \\
      --input-shape 2,3,64,64 --dtype float32"""

from parity import cliargs


class UsageError(ValueError):
    """A mistake in the command line or its files; main prints it and returns 2."""


def parse_shape(text: str) -> tuple[int, ...]:
    """``"2,3,64,64"`` -> (2, 3, 64, 64): at least two positive whole numbers (batch, channels, ...)."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) < 2 or any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(f"expected N,C,H,W (or N,C,L): positive whole numbers separated by commas, "
                                         f"e.g. 2,3,64,64; got {text!r}")
    return shape


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m parity compare", epilog=KEY_MAP_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Check that a torch model and a paddle model are the same network. "
                                            "Each SPEC is package.module:factory or path/to/file.py:factory; the "
                                            "factory is called with no arguments and returns the model.")
    p.add_argument("torch_spec", metavar="TORCH_SPEC", help="factory of the torch.nn.Module")
    p.add_argument("paddle_spec", metavar="PADDLE_SPEC", help="factory of the paddle.nn.Layer")
    p.add_argument("--input-shape", type=parse_shape, required=True, metavar="N,C,H,W",
                   help="shape of the random test input (batch first)")
    p.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="float64 proves exactness (a 1e-8 constant shows), float32 is faster (default float64)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--copy-weights", action="store_true", help="copy torch's weights into paddle (the default)")
    w.add_argument("--weights-from", choices=("torch", "paddle"), help="the side whose weights both use")
    w.add_argument("--own-weights", action="store_true", help="keep each side's weights (e.g. both pretrained)")
    p.add_argument("--key-map", metavar="FILE", help="JSON file pairing torch keys with paddle keys (see below)")
    p.add_argument("--steps", type=int, default=3, metavar="K", help="optimizer steps per step check (default 3; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the input, labels and redrawn weights")
    p.add_argument("--json", metavar="PATH", help="also write the report and the key mapping as JSON (atomically)")
    return p


def describe_pairing(how: str, pairs: list[Any], source: str | None = None) -> list[str]:
    """The lines that say how the weights were paired (printed before the report)."""
    n_t = sum(1 for p in pairs if p.transpose)
    head = {"name": "weights paired by name", "order": "weights paired by construction order",
            "file": f"weights paired by the key-map file {source}"}[how]
    lines = [f"{head}: {len(pairs)} tensors" + (f", {n_t} Linear weights transposed" if n_t else "")]
    if how == "order":
        from parity.keypairing import ORDER_WARNING

        lines.append(f"warning: {ORDER_WARNING}")
        renamed = [f"  {p.torch} -> {p.paddle}" for p in pairs if p.torch != p.paddle]
        from zoo.messages import capped_lines

        lines += capped_lines(renamed, "pairs (all of them in --json)")
    return lines


def pair_weights(torch_model: Any, paddle_model: Any, key_map_doc: dict[str, str] | None, source: str | None):
    """(KeyMap, how) for the two models; raises PairingError with every unmatched key grouped."""
    from paddle_impl import _weights as paddle_kinds
    from parity import keypairing as K
    from parity import weights as W

    t_shapes = {k: tuple(v.shape) for k, v in torch_model.state_dict().items()}
    p_shapes = {k: tuple(v.shape) for k, v in paddle_model.state_dict().items()}
    linear, _ = paddle_kinds.module_kinds(paddle_model)
    if key_map_doc is not None:
        triples = K.by_file(key_map_doc, t_shapes, p_shapes, linear, source=f"--key-map {source}")
        return W.KeyMap([W.KeyPair(*t) for t in triples], False, []), "file"
    kmap = W.key_map(torch_model, paddle_model)
    if not kmap.problems:
        return kmap, "order" if kmap.by_order else "name"
    from torch_impl import _weights as torch_kinds

    _, bn = torch_kinds.module_kinds(torch_model)
    try:
        K.by_name(t_shapes, p_shapes, bn, linear)
    except K.PairingError as by_name:
        try:
            K.by_order(t_shapes, p_shapes, linear)
            order = "construction order pairs them"  # not reached: key_map would have used it
        except K.PairingError as exc:
            order = exc.summary
        extra = K.extra_prefix(t_shapes, p_shapes, linear)
        n_t = sum(p.numel() for p in torch_model.parameters() if p.requires_grad)
        n_p = sum(int(p.size) for p in paddle_model.parameters() if not p.stop_gradient)
        counts = (f"torch has {len([k for k in t_shapes if not K.is_counter(k)])} tensors ({n_t:,} trainable "
                  f"parameters), paddle {len(p_shapes)} ({n_p:,})")
        why = f"{by_name.summary}, and {order}" + (f"; {extra}" if extra else "")
        raise K.PairingError(f"cannot pair the weights: {counts}; {why}. Give a --key-map "
                             f"file (python -m parity compare --help), or build the two models alike",
                             by_name.lines + [f"  {order}" + (f"; {extra}" if extra else "")]) from None
    raise K.PairingError("cannot pair the weights: " + "; ".join(kmap.problems))


def compare_pair(torch_model: Any, paddle_model: Any, input_shape: tuple[int, ...], *, dtype: str = "float64",
                 steps: int = 3, seed: int = 0, weights_from: str = "torch", key_map_doc: dict[str, str] | None = None,
                 key_map_source: str | None = None, name: str = "model") -> tuple[Any, str, Any]:
    """The Python API behind ``compare``: (Report, how the weights paired, KeyMap) for two built models.

    ``weights_from`` is "torch" (copy torch's into paddle, constants redrawn first), "paddle"
    (copy paddle's into torch) or "own" (each keeps its own). Raises keypairing.PairingError
    when the weights cannot be paired, and whatever the forward raises when neither side runs
    ``input_shape``. Both models are cast to ``dtype`` and trained a few steps by the checks.
    """
    from parity import weights as W
    from parity.compare import compare_modules
    from parity.modes import set_dtype

    set_dtype(torch_model, paddle_model, dtype)
    kmap, how = pair_weights(torch_model, paddle_model, key_map_doc, key_map_source)
    if weights_from == "paddle":
        W.load_torch(torch_model, kmap.to_torch(paddle_model, torch_model))
    report = compare_modules(torch_model, paddle_model, input_shape=input_shape, dtype=dtype, steps=steps,
                             copy_weights=weights_from != "own", randomize=weights_from == "torch", seed=seed,
                             name=name, key_map=kmap)
    if how == "order":
        report.notes.append(ORDER_NOTE)
    return report, how, kmap


def run(args: argparse.Namespace, key_map_doc: dict[str, str] | None, out=print) -> tuple[int, dict[str, Any]]:
    """Build both models, pair the weights, compare; returns (exit code, JSON document)."""
    from parity import specs
    from parity.keypairing import PairingError

    doc: dict[str, Any] = {"partial": False, "cases": 1, "torch_spec": args.torch_spec,
                           "paddle_spec": args.paddle_spec, "input_shape": list(args.input_shape),
                           "dtype": args.dtype, "reports": []}
    from parity.noinit import paddle_init_skipped

    source = "own" if args.own_weights else (args.weights_from or "torch")
    try:
        torch_model = specs.build(args.torch_spec, "torch")
        # torch's weights overwrite paddle's before anything is compared, so paddle's initial
        # draws are never read: skipping them saves 7 s of a VGG-16 build (parity/noinit.py).
        with paddle_init_skipped() if source == "torch" else contextlib.nullcontext():
            paddle_model = specs.build(args.paddle_spec, "paddle")
    except specs.SpecError as exc:
        raise UsageError(str(exc)) from None
    # The frameworks' modules and the two models live as long as the process: frozen, they are
    # no longer walked by the collections the step checks make (parity/steps.py), 0.37 s each
    # with both frameworks loaded (VGG-16 built), under 0.001 s after.
    gc.collect()
    gc.freeze()
    from parity.results import Check, Report
    from parity.report import format_reports

    name = f"{args.torch_spec.rpartition(':')[2]} / {args.paddle_spec.rpartition(':')[2]}"
    try:
        report, how, kmap = compare_pair(torch_model, paddle_model, args.input_shape, dtype=args.dtype,
                                         steps=args.steps, seed=args.seed, weights_from=source,
                                         key_map_doc=key_map_doc, key_map_source=args.key_map, name=name)
    except PairingError as exc:
        out(f"refused: {exc}")
        report = Report(name, None, args.dtype, checks=[Check("structure", False, metric="exact", detail=exc.summary)])
        doc["reports"].append(report.to_dict())
        doc["key_map"] = {"how": None, "problem": str(exc)}
        return 1, doc
    except Exception as exc:
        # compare_modules re-raises when neither side runs the input: the user's shape is wrong.
        if _raises_on(torch_model, args.input_shape, args.dtype) is None:
            raise
        raise UsageError(f"neither model runs an input of shape {list(args.input_shape)} ({args.dtype}): "
                         f"{type(exc).__name__}: {exc}; check --input-shape") from None
    for line in describe_pairing(how, kmap.pairs, args.key_map):
        out(line)
    doc["key_map"] = {"how": how, "file": args.key_map,
                      "pairs": [list(t) for t in kmap.triples()]}
    out(format_reports([report]))
    doc["reports"].append(report.to_dict())
    return (0 if report.ok else 1), doc


def _raises_on(torch_model: Any, shape: tuple[int, ...], dtype: str) -> Exception | None:
    """What torch's eval forward of a zero input of ``shape`` raises, if anything."""
    import torch

    torch_model.eval()
    try:
        with torch.no_grad():
            torch_model(torch.zeros(shape, dtype=getattr(torch, dtype)))
    except Exception as exc:
        return exc
    return None


ORDER_NOTE = "the weights were paired by construction order (see the warning above the report)"


def main(argv: list[str]) -> int:
    parser = _parser()
    args = cliargs.parse(parser, argv)
    if isinstance(args, int):  # argparse has printed the usage and the message
        return args
    if args.steps < 0:
        print(f"error: --steps: expected 0 or more, got {args.steps}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        key_map_doc = None
        if args.key_map:
            from parity.keypairing import PairingError, read_key_map

            try:
                key_map_doc = read_key_map(args.key_map)
            except PairingError as exc:
                raise UsageError(str(exc)) from None
        if args.json:
            from zoo import files

            try:
                files.check_writable(args.json)
            except OSError as exc:
                raise UsageError(f"--json: {exc}") from None
        code, doc = run(args, key_map_doc)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wall time {time.perf_counter() - start:.1f}s")
    if args.json:
        if not cliargs.write_doc(args.json, doc):
            return 1
    return code
