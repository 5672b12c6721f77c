"""Offline dumps: one framework's run of the harness protocol, written to a folder (``python -m parity dump``).

A dump holds what the two-sided checks compare, computed on one side alone: the eval output
and every layer's eval output; a train-mode forward and backward of the protocol's loss
(the loss, the input gradient, every parameter gradient, every layer's output and output
gradient, the BatchNorm statistics after it); the weights before and after each of K SGD
steps. ``manifest.json`` says what is where, with each state key's shape and whether it is
a Linear weight or a BatchNorm buffer, so that ``diff`` pairs the keys (renames, transposes)
without importing either framework. The folder is written as a whole: into a temporary
sibling, then renamed, so an interrupted dump leaves no half folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from parity.onesided import Side
from parity.protocol import SGD, Projections

FORMAT = 1
PROJECTION_SEED = 12345  # the loss's fixed projections: the same on both sides of a diff
FILES = {"eval": "eval.npz", "eval_records": "eval_records.npz", "train": "train.npz",
         "train_records": "train_records.npz", "weights": "weights.npz"}


def input_digest(x: np.ndarray) -> str:
    """A short hash of the input's dtype, shape and bytes: diff refuses two dumps of different inputs."""
    h = hashlib.sha256(f"{x.dtype}{x.shape}".encode())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()[:16]


def step_batches(x: np.ndarray, steps: int, seed: int) -> list[np.ndarray]:
    """The K step batches, made from the seed and the input's shape alone, so both dumps draw the same."""
    return [np.random.RandomState([seed, 8191 + k]).standard_normal(x.shape).astype(x.dtype) for k in range(steps)]


def default_labels(n: int, num_classes: int | None, seed: int) -> np.ndarray | None:
    if not num_classes:
        return None
    return np.random.RandomState([seed, 7]).randint(0, num_classes, size=n).astype("int64")


def _records_manifest(records: list[Any], grads: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    arrays, entries = {}, []
    for i, r in enumerate(records):
        key = f"r{i:05d}"
        arrays[key] = r.output
        if grads and r.grad is not None:
            arrays[key + "_grad"] = r.grad
        entries.append(dict(key=key, name=r.name, kind=r.kind, type=r.type, source=r.source,
                            params=[list(p) for p in r.params], shape=list(np.shape(r.output)),
                            grad=bool(grads and r.grad is not None), trainable=r.trainable))
    return entries, arrays


def dump(model: Any, side: Side, x: np.ndarray, *, spec: str, labels: np.ndarray | None = None, steps: int = 3,
         seed: int = 0) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Run the protocol on ``model`` (already at its weights, cast to ``x``'s dtype); returns (manifest, arrays by file)."""
    dtype = str(x.dtype)
    initial = side.state(model)
    linear, bn = side.kinds(model)
    proj = Projections(PROJECTION_SEED)
    files: dict[str, dict[str, np.ndarray]] = {}

    model.eval()
    eval_out: list[Any] = []

    def eval_run() -> None:
        with side.no_grad():
            eval_out.extend(side.outputs(model(side.tensor(x))))

    eval_records = side.record(model, eval_run, grads=False)
    outs = [side.numpy(t) for t in eval_out]
    files["eval"] = {f"output{i}": o for i, o in enumerate(outs)}
    entries_eval, files["eval_records"] = _records_manifest(eval_records, grads=False)
    if labels is None:
        labels = default_labels(x.shape[0], outs[0].shape[1] if outs and outs[0].ndim == 2 else None, seed)

    frozen = side.train_mode(model)
    holder: dict[str, Any] = {}

    def train_run() -> None:
        xt = side.tensor(x, grad=True)
        loss = side.loss(side.outputs(model(xt)), labels, proj)
        loss.backward()
        holder.update(loss=side.numpy(loss), x=xt)

    train_records = side.record(model, train_run, grads=True)
    xg = holder["x"].grad
    train = {"loss": holder["loss"], "input_grad": side.numpy(xg) if xg is not None else np.full(x.shape, np.nan)}
    train.update({f"grad/{k}": v for k, v in side.grads(model).items()})
    after = side.state(model)
    train.update({f"bn/{k}": after[k] for k in after if _is_bn_buffer(k, bn)})
    files["train"] = train
    entries_train, files["train_records"] = _records_manifest(train_records, grads=True)

    side.load(model, initial)
    weights = {f"step0/{k}": v for k, v in initial.items()}
    if steps:
        side.train_mode(model)
        opt = side.sgd(model)
        for k, batch in enumerate(step_batches(x, steps, seed), 1):
            side.loss(side.outputs(model(side.tensor(batch))), labels, proj).backward()
            side.step(opt)
            weights.update({f"step{k}/{key}": v for key, v in side.state(model).items()})
    files["weights"] = weights

    manifest = {
        "format": FORMAT, "framework": side.framework, "versions": {side.framework: side.version,
                                                                     "numpy": np.__version__,
                                                                     "python": platform.python_version()},
        "spec": spec, "dtype": dtype, "input_shape": list(x.shape), "input_digest": input_digest(x), "seed": seed,
        "labels": None if labels is None else labels.tolist(), "steps": steps,
        "sgd": {k: float(v) for k, v in SGD.items()}, "projection_seed": PROJECTION_SEED,
        "stochastic_layers_frozen": frozen,
        "state": [{"key": k, "shape": list(np.shape(v)), "linear": k in linear, "bn": _is_bn_buffer(k, bn),
                   "trainable": f"grad/{k}" in train} for k, v in initial.items()],
        "bn_prefixes": sorted(bn),
        "outputs": [list(o.shape) for o in outs],
        "records": {"eval": entries_eval, "train": entries_train},
        "files": FILES,
        "ops_recorded": True,
    }
    return manifest, files


def _is_bn_buffer(key: str, bn: set[str]) -> bool:
    prefix, _, leaf = key.rpartition(".")
    return prefix + "." in bn and leaf in ("running_mean", "running_var", "_mean", "_variance")


def write(out: str | os.PathLike, manifest: dict[str, Any], files: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write the dump into a temporary sibling folder, then rename it to ``out`` (replacing an older dump)."""
    out = Path(out)
    if out.exists() and not (out / "manifest.json").exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out}: expected a new folder or an earlier dump, got a folder with other "
                              f"files in it; nothing was written")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.dump-partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for what, name in FILES.items():
            np.savez(tmp / name, **files[what])
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.{os.getpid()}.dump-old"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """(manifest, arrays by file) of a dump; raises ValueError naming what is missing."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{folder}: expected a dump folder (written by python -m parity dump), "
                         f"but it has no manifest.json")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{folder}: expected dump format {FORMAT}, got {manifest.get('format')!r}")
    files = {}
    for what, name in manifest["files"].items():
        with np.load(folder / name) as data:
            files[what] = {k: data[k] for k in data.files}
    return manifest, files


def imported_frameworks() -> list[str]:
    """The frameworks this process has imported (a dump must show only its own)."""
    return [f for f in ("torch", "paddle") if f in sys.modules]
