"""python -m parity dump SPEC --framework torch|paddle --input X.npy --out DIR: run one side alone and write what diff compares.

Only the named framework is imported, so the two sides can be dumped in separate processes,
environments or machines, then compared with ``python -m parity diff DIR_A DIR_B``. SPEC is
``package.module:factory`` or ``path/to/file.py:factory`` (called with no arguments). The
input's dtype (float32 or float64) is the run's. For the two dumps to start from the same
weights, give the second one ``--weights DIR_A`` (the first dump's folder): its initial
weights are converted by name (BatchNorm renames, Linear transposes), else by construction
order. ``--weights`` also takes an ``.npz`` of either framework's keys.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from parity import cliargs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m parity dump",
                                description="Run one framework's side of the parity checks and write a dump folder.")
    p.add_argument("spec", metavar="SPEC", help="module:factory or file.py:factory, called with no arguments")
    p.add_argument("--framework", choices=("torch", "paddle"), required=True, help="the framework SPEC builds")
    p.add_argument("--input", required=True, metavar="X.npy", help="the input batch (float32 or float64)")
    p.add_argument("--out", required=True, metavar="DIR", help="the dump folder (written whole, atomically)")
    p.add_argument("--labels", metavar="Y.npy", help="int labels for the cross-entropy (default: drawn from --seed)")
    p.add_argument("--steps", type=int, default=3, metavar="K", help="SGD steps (default 3)")
    p.add_argument("--weights", metavar="FILE|DIR", help="initial weights: an earlier dump's folder or an .npz")
    p.add_argument("--seed", type=int, default=0, help="seed of the default labels and the step batches")
    return p


class UsageError(ValueError):
    """A mistake in the arguments or the input files; main prints it and returns 2."""


def _load_array(path: str, what: str, kinds: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{what} {path}: expected a .npy array, cannot read it ({exc})") from None
    if arr.dtype.kind not in kinds:
        raise UsageError(f"{what} {path}: expected {'floats' if kinds == 'f' else 'integers'}, got dtype {arr.dtype}")
    return arr


def _weights_file(path: str) -> tuple[dict[str, np.ndarray], set[str] | None]:
    """(the state, the Linear weight keys when the file says) of ``--weights``."""
    p = Path(path)
    if p.is_dir():
        from parity.dump import read

        try:
            manifest, files = read(p)
        except ValueError as exc:
            raise UsageError(f"--weights: {exc}") from None
        state = {k[len("step0/"):]: v for k, v in files["weights"].items() if k.startswith("step0/")}
        return state, {e["key"] for e in manifest["state"] if e["linear"]}
    try:
        with np.load(p, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}, None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--weights {path}: expected a dump folder or an .npz of weights, cannot read it "
                         f"({exc})") from None


def convert_weights(state: dict[str, np.ndarray], model, side, state_linear: set[str] | None = None
                    ) -> dict[str, np.ndarray]:
    """``state`` (this framework's keys, or the other's) as a state dict for ``model``.

    ``state_linear``: the Linear weight keys of ``state`` when known (a dump records them);
    pairing by name needs only the model's own."""
    from parity import keypairing as K

    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if set(own) <= set(state) and all(tuple(np.shape(state[k])) == own[k] for k in own):
        return {k: state[k] for k in own}
    linear, bn = side.kinds(model)
    shapes = {k: tuple(np.shape(v)) for k, v in state.items()}
    t_shapes, p_shapes = (own, shapes) if side.is_torch else (shapes, own)
    try:
        triples = K.by_name(t_shapes, p_shapes, bn, linear)
    except K.PairingError as by_name:
        try:
            # by order, a paddle Linear is known by the paddle side's own record of it
            triples = K.by_order(t_shapes, p_shapes, linear if not side.is_torch else (state_linear or set()))
        except K.PairingError as by_order:
            raise UsageError(f"--weights: cannot pair its tensors with the model's: {by_name.summary}; "
                             f"{by_order.summary}\n" + "\n".join(by_name.lines)) from None
    out = {}
    for t, p, tr in triples:
        src = state[p] if side.is_torch else state[t]
        out[t if side.is_torch else p] = np.ascontiguousarray(src.T) if tr else src
    for k in own:  # torch's BatchNorm counters have no paddle twin: the model keeps its own
        out.setdefault(k, side.numpy(model.state_dict()[k]))
    return out


def main(argv: list[str]) -> int:
    parser = _parser()
    args = cliargs.parse(parser, argv)
    if isinstance(args, int):
        return args
    start = time.perf_counter()
    try:
        if args.steps < 0:
            raise UsageError(f"--steps: expected 0 or more, got {args.steps}")
        x = _load_array(args.input, "--input", "f")
        if x.dtype not in (np.float32, np.float64):
            raise UsageError(f"--input {args.input}: expected float32 or float64, got {x.dtype}")
        labels = _load_array(args.labels, "--labels", "iu").astype("int64") if args.labels else None
        if labels is not None and labels.shape != (x.shape[0],):
            raise UsageError(f"--labels {args.labels}: expected shape [{x.shape[0]}] (one per input), "
                             f"got {list(labels.shape)}")
        state, state_linear = _weights_file(args.weights) if args.weights else (None, None)
        from parity import specs
        from parity.dump import dump, imported_frameworks, write
        from parity.onesided import Side

        side = Side(args.framework)
        try:
            model = specs.build(args.spec, args.framework)
        except specs.SpecError as exc:
            raise UsageError(str(exc)) from None
        side.cast(model, str(x.dtype))
        if state is not None:
            try:
                side.load(model, convert_weights(state, model, side, state_linear))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        manifest, files = dump(model, side, x, spec=args.spec, labels=labels, steps=args.steps, seed=args.seed)
        manifest["imported_frameworks"] = imported_frameworks()  # the proof that the other one never loaded
        try:
            out = write(args.out, manifest, files)
        except OSError as exc:
            raise UsageError(f"--out {args.out}: cannot write ({exc})") from None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = len(manifest["records"]["eval"])
    print(f"wrote {out}: {args.framework} {manifest['versions'][args.framework]}, {manifest['dtype']} "
          f"{manifest['input_shape']}, {n} layer records, {args.steps} SGD steps ({time.perf_counter() - start:.1f}s)")
    return 0
