"""``weights=``: from a source name or a path to the tensors a model loads (framework-free).

``weights`` is either
- a source, ``"torchvision"`` or ``"paddle.vision"`` (optionally ``"torchvision:IMAGENET1K_V1"``
  for one of torchvision's tags), looked up in that library's cache folder
  (``zoo.weight_sources``); nothing is ever downloaded, and a missing file is an error
  that names the file, the folder and the URL to fetch it from; or
- a path to a checkpoint of either framework (a file, or a training run's folder):
  a raw state dict, a ``{"state_dict": ...}``-style wrapper, or a checkpoint written by
  our training scripts.
``prepare`` reads it (``zoo.checkpoint_reader``), renames a library's keys to ours
(``zoo.key_maps``), applies the source's exact conversions, and fits it to the target
(``zoo.state_fit``). Each framework's side then only assigns the arrays.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from zoo import key_maps
from zoo import weight_sources as S
from zoo.checkpoint_reader import read_checkpoint
from zoo.state_fit import TargetSpec, fit, to_layout
from zoo.training import CheckpointError, find_checkpoint, split_checkpoint

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")
_FRAMEWORK_OF_SOURCE = {"torchvision": "torch", "paddle.vision": "paddle"}


@dataclass
class Resolved:
    """A checkpoint file and the library that published it (None: a user's own file)."""

    path: Path
    source: str | None


def source_name(weights: Any) -> str | None:
    """The source a ``weights=`` value names ("torchvision" for "torchvision:TAG"), else None."""
    if isinstance(weights, str):
        base = weights.split(":", 1)[0]
        if base in S.SOURCES:
            return base
    return None


def resolve(weights: str | os.PathLike, name: str) -> Resolved:
    """The file ``weights`` means for model ``name``; CheckpointError when there is none."""
    source = source_name(weights)
    if source is None:
        path = find_checkpoint(weights)
        known = {f.file: f.source for s in S.SOURCES for f in S.files(s, name)}
        source = known.get(path.name)
        if source is not None and (source, name) in S.REFUSED:  # known by its file name
            raise CheckpointError(f"{path}: {source}'s {name} weights do not load here: {S.REFUSED[source, name]}")
        return Resolved(path, source)
    tag = str(weights).split(":", 1)[1] if ":" in str(weights) else None
    published = S.files(source, name)
    if tag is not None:
        tags = [f.tag for f in published]
        published = [f for f in published if f.tag == tag]
        if not published:
            raise CheckpointError(f"{source} publishes no {tag!r} weights for {name} (it has: "
                                  f"{', '.join(tags) or 'none'})")
    if not published:
        have = [n for n in _names() if S.files(source, n)]
        raise CheckpointError(f"{source} publishes no weights for {name}; it has them for {', '.join(have)}")
    if (source, name) in S.REFUSED:
        raise CheckpointError(f"{source}'s {name} weights do not load here: {S.REFUSED[source, name]}")
    folder = S.cache_dir(source)
    for f in published:
        if (folder / f.file).is_file():
            return Resolved(folder / f.file, source)
    wanted = published[0]
    others = "".join(f"\n  (or {f.tag}: {f.file}, {f.url})" for f in published[1:])
    fetch = ("python -c \"import torch; torch.hub.load_state_dict_from_url('%s')\"" % wanted.url
             if source == "torchvision" else f"curl -L --create-dirs -o {folder / wanted.file} {wanted.url}")
    raise CheckpointError(f"no {source} weights for {name} in {folder}: expected the file {wanted.file} there "
                          f"({wanted.tag}){others}\n  nothing is downloaded here; fetch it yourself, e.g.:\n  {fetch}")


def _names() -> list[str]:
    from zoo.models import names

    return names()


def state_dict_of(obj: Any, path: Path) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
    """(training metadata or None, the arrays) of an unpickled checkpoint, unwrapped."""
    meta, state = split_checkpoint(obj, path)
    for _ in range(3):
        inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = inner
    arrays = {}
    for k, v in state.items():
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], np.ndarray):
            v = v[1]  # paddle's (name, array) pair for a tensor
        if isinstance(v, np.ndarray):
            arrays[str(k)] = v
    if not arrays:
        raise CheckpointError(f"{path}: no tensors found (top-level keys: {', '.join(map(str, list(state)[:10]))})")
    if all(k.startswith("module.") for k in arrays):  # saved from DistributedDataParallel
        arrays = {k[len("module."):]: v for k, v in arrays.items()}
    return meta, arrays


def prepare(weights: str | os.PathLike, name: str, target: TargetSpec,
            check_meta: Callable[[dict[str, Any], Path], None] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """(arrays to assign under the target's names, notes for the user) for model ``name``.

    ``check_meta(meta, path)`` vets a training checkpoint's metadata (the training
    scripts pass theirs); by default the checkpoint must be of model ``name``.
    """
    found = resolve(weights, name)
    ckpt = read_checkpoint(found.path)
    meta, state = state_dict_of(ckpt.obj, found.path)
    if meta is not None:
        if check_meta is not None:
            check_meta(meta, found.path)
        elif meta.get("model") != name:
            raise CheckpointError(f"{found.path} is a checkpoint of {meta.get('model')} ({meta.get('framework')}), "
                                  f"not of {name}")
    source = found.source
    library = next((s for s, fw in _FRAMEWORK_OF_SOURCE.items() if fw == ckpt.framework), None)
    rules = key_maps.rules_for(library, name) if library else ()
    renamed = {key_maps.rename(k, rules): v for k, v in state.items()}
    if source is None and library == "paddle.vision" and any(k not in state for k in renamed):
        source = library  # its own layer names: paddle.vision's file under another name
    if source is not None and (source, name) in S.REFUSED:
        raise CheckpointError(f"{found.path}: {source}'s {name} weights do not load here: {S.REFUSED[source, name]}")
    notes = [f"{name}: {source} weights from {found.path}" if source else f"{name}: weights from {found.path}"]
    scales, why = S.CONVERSIONS.get((source, name), ((), ""))
    for scale in scales:
        if scale.key in renamed:
            renamed[scale.key] = renamed[scale.key] * np.asarray(scale.factor, dtype=renamed[scale.key].dtype)
    if why:
        notes.append(why)
    if source == "paddle.vision" and any(k.endswith("_variance") for k in renamed):
        notes.append(S.PADDLE_VISION_BN_NOTE)
    if (source, name) in S.NOTES:
        notes.append(S.NOTES[source, name])
    hint = "" if (library, name) not in S.REFUSED else f"if this is {library}'s file: {S.REFUSED[library, name]}"
    out, fit_notes = fit(to_layout(renamed, ckpt.framework, target), target,
                         f"{found.path} ({ckpt.framework}) for {target.layout} {name}", hint)
    return out, notes + fit_notes
