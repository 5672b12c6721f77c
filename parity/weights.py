"""State-dict conversion between torch and paddle, both ways, by name and module type.

The only renames (see PITFALLS.md):
- BatchNorm ``running_mean``/``running_var`` (torch) are ``_mean``/``_variance`` (paddle);
  torch's ``num_batches_tracked`` has no paddle twin and is dropped (a torch target
  keeps its own counter).
- A Linear weight is [out, in] in torch and [in, out] in paddle, so it is transposed.
Both are decided by the type of the layer that owns the key, never by a tensor's ndim:
a square Linear loaded untransposed would load without complaint and compute nonsense.

Every mismatch is an error that lists all missing, unexpected and mis-shaped keys.
"""
from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import paddle
import torch

# Which keys are Linear weights and BatchNorm buffers: each implementation's own rule.
from paddle_impl import _weights as _paddle_weights
from torch_impl import _weights as _torch_weights
from parity.keypairing import name_pairs
# The renames and the mismatch error are framework-free: the weights= loaders share them.
from zoo import files, messages
from zoo.state_keys import (DROPPED_TORCH_KEYS, PADDLE_BN_BUFFERS, TORCH_BN_BUFFERS,  # noqa: F401
                            WeightMismatchError, paddle_key_to_torch, split_key as _split, torch_key_to_paddle)


def to_numpy(value: Any) -> np.ndarray:
    """A numpy copy (never a view of a torch tensor's memory, so editing it leaves the model alone)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, paddle.Tensor):
        return value.numpy()
    return np.asarray(value)


@dataclass(frozen=True)
class KeyPair:
    """One tensor's name on each side, and whether its layout is transposed between them."""

    torch: str
    paddle: str
    transpose: bool


def key_pairs(torch_keys: Iterable[str], paddle_module: paddle.nn.Layer) -> tuple[list[KeyPair], list[str], list[str]]:
    """Pair torch keys with the paddle module's keys by name.

    Returns (pairs, torch keys with no paddle twin, paddle keys with no torch twin).
    The BN renames and Linear transposes come from the paddle module's layer types.
    """
    linear, bn = _paddle_weights.module_kinds(paddle_module)
    triples, unexpected, missing = name_pairs(list(torch_keys), list(paddle_module.state_dict().keys()), bn, linear)
    return [KeyPair(*t) for t in triples], unexpected, missing


def _state_items(source: Any) -> dict[str, Any]:
    if isinstance(source, (torch.nn.Module, paddle.nn.Layer)):
        return dict(source.state_dict())
    if isinstance(source, Mapping):
        return dict(source)
    raise TypeError(f"expected a module or a state dict (a mapping of names to tensors), got {type(source).__name__}")


def torch_to_paddle(source: torch.nn.Module | Mapping[str, Any], paddle_module: paddle.nn.Layer,
                    context: str = "torch -> paddle") -> dict[str, np.ndarray]:
    """A paddle-layout state dict (numpy arrays, paddle names) for ``paddle_module``.

    ``source`` is a torch module or its state dict. Raises WeightMismatchError listing
    every missing, unexpected and mis-shaped key.
    """
    items = _state_items(source)
    pairs, unexpected, missing = key_pairs(items, paddle_module)
    target = paddle_module.state_dict()
    out, mis_shaped = {}, []
    for pair in pairs:
        arr = to_numpy(items[pair.torch])
        if pair.transpose:
            arr = arr.T if arr.ndim == 2 else arr  # a mis-shaped Linear is reported below
        want = tuple(target[pair.paddle].shape)
        if tuple(arr.shape) != want:
            mis_shaped.append((pair.torch, tuple(to_numpy(items[pair.torch]).shape),
                               tuple(reversed(want)) if pair.transpose else want))
        out[pair.paddle] = np.ascontiguousarray(arr)
    if missing or unexpected or mis_shaped:
        linear, bn = _paddle_weights.module_kinds(paddle_module)
        raise WeightMismatchError(context, [paddle_key_to_torch(k, bn) for k in missing], unexpected, mis_shaped)
    return out


def paddle_to_torch(source: paddle.nn.Layer | Mapping[str, Any], torch_module: torch.nn.Module,
                    context: str = "paddle -> torch") -> dict[str, torch.Tensor]:
    """A torch state dict for ``torch_module`` from a paddle layer or its state dict.

    BatchNorm counters (``num_batches_tracked``) are taken from ``torch_module``, since
    paddle keeps none. Tensors keep the source's dtype; ``load_torch`` casts on load.
    """
    items = _state_items(source)
    linear, bn = _torch_weights.module_kinds(torch_module)
    target = torch_module.state_dict()
    out: dict[str, torch.Tensor] = {}
    unexpected, mis_shaped, seen = [], [], set()
    for pk, value in items.items():
        tk = paddle_key_to_torch(pk, bn)
        if tk not in target:
            unexpected.append(pk)
            continue
        arr = to_numpy(value)
        if tk in linear and arr.ndim == 2:
            arr = arr.T
        if tuple(arr.shape) != tuple(target[tk].shape):
            want = tuple(target[tk].shape)
            mis_shaped.append((pk, tuple(to_numpy(value).shape), tuple(reversed(want)) if tk in linear else want))
            continue
        out[tk] = torch.from_numpy(np.ascontiguousarray(arr))
        seen.add(tk)
    for tk, value in target.items():
        _, leaf = _split(tk)
        if tk not in seen and leaf in DROPPED_TORCH_KEYS:
            out[tk] = value.detach().clone()
            seen.add(tk)
    missing = [k for k in target if k not in seen]
    if missing or unexpected or mis_shaped:
        raise WeightMismatchError(context, missing, unexpected, mis_shaped)
    return {k: out[k] for k in target}  # the module's own key order


def load_paddle(paddle_module: paddle.nn.Layer, state: Mapping[str, Any], context: str = "paddle load") -> None:
    """Strict load: every key present, none extra, shapes equal, values cast to the target's dtype.

    paddle's own ``set_state_dict`` silently skips unknown and mis-shaped keys, so it is
    not used.
    """
    target = paddle_module.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mis_shaped = [(k, tuple(np.shape(to_numpy(v))), tuple(target[k].shape))
                  for k, v in state.items() if k in target and tuple(np.shape(to_numpy(v))) != tuple(target[k].shape)]
    if missing or unexpected or mis_shaped:
        raise WeightMismatchError(context, missing, unexpected, mis_shaped)
    for key, tensor in target.items():
        arr = to_numpy(state[key])
        tensor.set_value(arr.astype(paddle_dtype_to_numpy(tensor.dtype), copy=False))


def load_torch(torch_module: torch.nn.Module, state: Mapping[str, Any], context: str = "torch load") -> None:
    """Strict load into ``torch_module`` with every offending key listed; values cast to the target's dtype."""
    target = torch_module.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mis_shaped = [(k, tuple(v.shape), tuple(target[k].shape))
                  for k, v in state.items() if k in target and tuple(v.shape) != tuple(target[k].shape)]
    if missing or unexpected or mis_shaped:
        raise WeightMismatchError(context, missing, unexpected, mis_shaped)
    with torch.no_grad():
        for key, tensor in target.items():
            value = state[key]
            value = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
            tensor.copy_(value.to(tensor.dtype))


def paddle_dtype_to_numpy(dtype: Any) -> np.dtype:
    name = str(dtype).replace("paddle.", "")
    return np.dtype({"bool": "bool"}.get(name, name))


def copy_torch_to_paddle(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer) -> None:
    """Copy every parameter and BN statistic of ``torch_module`` into ``paddle_module``."""
    load_paddle(paddle_module, torch_to_paddle(torch_module, paddle_module))


def copy_paddle_to_torch(paddle_module: paddle.nn.Layer, torch_module: torch.nn.Module) -> None:
    """Copy every parameter and BN statistic of ``paddle_module`` into ``torch_module``."""
    load_torch(torch_module, paddle_to_torch(paddle_module, torch_module))


# --- checkpoints on disk ------------------------------------------------------------------

class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or holds no state dict we recognise."""


WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")


def unwrap_state_dict(obj: Any, path: str = "checkpoint") -> dict[str, Any]:
    """The state dict inside common checkpoint wrappers, without a DDP ``module.`` prefix.

    Accepts a raw state dict, ``{"state_dict": ...}``, ``{"model": ...}`` (and the other
    WRAPPER_KEYS), or a whole saved module.
    """
    if isinstance(obj, (torch.nn.Module, paddle.nn.Layer)):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) or isinstance(inner, (torch.nn.Module, paddle.nn.Layer)):
            return unwrap_state_dict(inner, path)
    tensors = {k: v for k, v in obj.items() if isinstance(v, (torch.Tensor, paddle.Tensor, np.ndarray))}
    if not tensors:
        raise CheckpointError(f"{path}: no tensors found (top-level keys: {messages.key_list(map(str, obj))})")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def load_checkpoint(path: str, framework: str) -> dict[str, Any]:
    """Read a torch (.pt/.pth) or paddle (.pdparams) checkpoint and return its state dict."""
    import os

    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such file")
    try:
        if framework == "torch":
            with warnings.catch_warnings():  # a paddle file read as torch warns "please file an issue" first
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                obj = torch.load(path, map_location="cpu", weights_only=True)
        elif framework == "paddle":
            obj = paddle.load(path)
        else:
            raise ValueError(f"framework must be 'torch' or 'paddle', got {framework!r}")
    except CheckpointError:
        raise
    except Exception as exc:  # pickle, zip and protobuf errors all mean the same to a user
        hint = "(a torch.save file)" if framework == "torch" else "(a paddle.save file)"
        other = "paddle" if framework == "torch" else "torch"
        if _looks_like(path) == other:
            kind = f"it looks like a {other} checkpoint: use --from {other}"
        else:
            kind = "the file is corrupt, truncated or of another kind"
        raise CheckpointError(f"{path}: cannot be read as a {framework} checkpoint {hint}; {kind} "
                              f"({type(exc).__name__})") from None
    return unwrap_state_dict(obj, path)


def _looks_like(path: str) -> str | None:
    """'torch' for a zip archive (what torch.save writes), 'paddle' for a pickle (paddle.save), else None."""
    if zipfile.is_zipfile(path):
        return "torch"
    with open(path, "rb") as f:
        return "paddle" if f.read(1) == b"\x80" else None


def save_checkpoint(state: Mapping[str, Any], path: str, framework: str) -> None:
    """Save a state dict atomically (zoo/files.py: a temp file in the same folder, then a rename).

    A failure is a ``zoo.files.WriteError`` naming ``path`` and the reason.
    """
    if framework == "torch":
        tensors = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.asarray(v)) for k, v in state.items()}
        files.atomic_write(path, lambda tmp: torch.save(tensors, tmp))
    else:
        tensors = {k: v if isinstance(v, paddle.Tensor) else paddle.to_tensor(np.asarray(v)) for k, v in state.items()}
        files.atomic_write(path, lambda tmp: paddle.save(tensors, str(tmp)))


# --- conversion for unregistered models ----------------------------------------------------

@dataclass
class Conversion:
    """The result of convert_state_dict: the converted tensors and how keys were paired."""

    state: dict[str, Any]
    mapping: list[tuple[str, str, bool]]  # (source key, target key, transposed)
    by_order: bool

    def describe(self) -> str:
        how = "by construction order (names differ)" if self.by_order else "by name"
        rows = [f"  {s} -> {t}{'  (transposed)' if tr else ''}" for s, t, tr in self.mapping]
        note = f"\n{self.note}" if self.note else ""
        return f"mapped {len(self.mapping)} tensors {how}:\n" + "\n".join(rows) + note

    @property
    def note(self) -> str:
        """What this mapping does not prove ("" for a mapping by name)."""
        return ORDER_CAVEAT if self.by_order else ""


ORDER_CAVEAT = ("pairing by construction order proves only that the shapes fit, nothing about what the layers "
                "compute: run `python -m parity compare` (or parity.compare_modules) on the pair")


def _unmatched_by_alignment(src_keys: list[tuple[str, tuple]],
                            dst_keys: list[tuple[str, tuple, bool]]) -> tuple[list[str], list[str]]:
    """(source keys, target keys) left unpaired when the two lists are aligned by shape, in
    order (parity/align.py): the real extra run (an aux head in the middle), not the tail."""
    from parity.align import align

    codes: dict = {}
    src = np.array([codes.setdefault(tuple(shape), len(codes)) for _, shape in src_keys], dtype=np.int64)
    dst = np.array([codes.setdefault(tuple(reversed(shape)) if tr else tuple(shape), len(codes))
                    for _, shape, tr in dst_keys], dtype=np.int64)
    src_leaf = [_split(k)[1] for k, _ in src_keys]
    dst_leaf = np.array([_split(k)[1] for k, *_ in dst_keys], dtype=object)
    score = np.zeros((len(src), len(dst)), dtype=np.int32)
    for i in range(len(src)):
        # Equal shapes pair; an equal leaf name ("weight", "bias") breaks ties between them.
        score[i] = np.where(dst == src[i], 4 + (dst_leaf == src_leaf[i]), 0)
    pairs = align(score)
    return ([src_keys[i][0] for i, j in pairs if j is None], [dst_keys[j][0] for i, j in pairs if i is None])


def _order_pairs(src_keys: list[tuple[str, tuple]], dst_keys: list[tuple[str, tuple, bool]],
                 context: str) -> list[tuple[str, str, bool]]:
    """Pair tensors by position, checking every shape (a transposed Linear counts as a match).

    When that fails, the keys blamed are those a shape alignment leaves unpaired, so an
    extra run in the middle is named, not whatever the shift pushed to the end.
    """
    pairs, bad = [], []
    for (sk, sshape), (dk, dshape, transpose) in zip(src_keys, dst_keys):
        want = tuple(reversed(dshape)) if transpose else tuple(dshape)
        if tuple(sshape) != want:
            bad.append((f"{sk} -> {dk}", tuple(sshape), want))
        pairs.append((sk, dk, transpose))
    if len(src_keys) == len(dst_keys) and not bad:
        return pairs
    unexpected, missing = _unmatched_by_alignment(src_keys, dst_keys)
    head = (f"{context} (by construction order): {len(src_keys)} source tensors vs {len(dst_keys)} target tensors; "
            f"aligned by shape, {len(unexpected)} source and {len(missing)} target tensors have no counterpart")
    if unexpected or missing:
        raise WeightMismatchError(head, missing=missing, unexpected=unexpected)
    raise WeightMismatchError(f"{context} (by construction order)", mis_shaped=bad)


def convert_state_dict(source: Any, target: Any, *, verbose: bool = False) -> Conversion:
    """Convert ``source`` (a module or state dict of one framework) for ``target`` (a module of the other).

    Keys are paired by name, with the BatchNorm renames and Linear transposes decided by
    the target's layer types. When the names do not pair up (a user's own port that named
    things differently), tensors are paired by construction order instead, with every
    shape checked; ``Conversion.describe()`` prints the mapping that was chosen.
    """
    to_paddle = isinstance(target, paddle.nn.Layer)
    if not to_paddle and not isinstance(target, torch.nn.Module):
        raise TypeError(f"target must be a torch.nn.Module or a paddle.nn.Layer, got {type(target).__name__}")
    items = _state_items(source)
    try:
        if to_paddle:
            state = torch_to_paddle(items, target)
            pairs, _, _ = key_pairs(items, target)
            mapping = [(p.torch, p.paddle, p.transpose) for p in pairs]
        else:
            state = paddle_to_torch(items, target)
            linear, bn = _torch_weights.module_kinds(target)
            mapping = [(k, paddle_key_to_torch(k, bn), paddle_key_to_torch(k, bn) in linear) for k in items]
        result = Conversion(state, mapping, by_order=False)
    except WeightMismatchError:
        result = _convert_by_order(items, target, to_paddle)
    if verbose:
        print(result.describe())
    return result


def _convert_by_order(items: dict[str, Any], target: Any, to_paddle: bool) -> Conversion:
    src = [(k, tuple(to_numpy(v).shape)) for k, v in items.items() if _split(k)[1] not in DROPPED_TORCH_KEYS]
    if to_paddle:
        linear, _ = _paddle_weights.module_kinds(target)
        dst = [(k, tuple(v.shape), k in linear) for k, v in target.state_dict().items()]
    else:
        linear, _ = _torch_weights.module_kinds(target)
        dst = [(k, tuple(v.shape), k in linear) for k, v in target.state_dict().items()
               if _split(k)[1] not in DROPPED_TORCH_KEYS]
    mapping = _order_pairs(src, dst, "torch -> paddle" if to_paddle else "paddle -> torch")
    state: dict[str, Any] = {}
    for sk, dk, transpose in mapping:
        arr = to_numpy(items[sk])
        state[dk] = np.ascontiguousarray(arr.T) if transpose else arr
    if not to_paddle:
        for k, v in target.state_dict().items():
            if _split(k)[1] in DROPPED_TORCH_KEYS:
                state[k] = v.detach().clone()
        state = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(v) for k, v in state.items()}
    return Conversion(state, mapping, by_order=True)


@dataclass
class KeyMap:
    """How a torch module's state dict pairs with a paddle layer's, tensor by tensor.

    Built by ``key_map``: by name when the names pair up, else by construction order
    when that gives a shape-consistent 1:1 pairing (a user's port with other names).
    ``problems`` lists what prevents any pairing, a summary first; the map is usable when
    it is empty. A map by order proves nothing about the function (``note``).
    """

    pairs: list[KeyPair]
    by_order: bool
    problems: list[str]

    @property
    def note(self) -> str:
        """What this mapping does not prove ("" for a mapping by name)."""
        return ORDER_CAVEAT if self.by_order else ""

    def triples(self) -> list[tuple[str, str, bool]]:
        """(torch key, paddle key, transposed) of each pair: what ``bridge`` reads and writes by."""
        return [(p.torch, p.paddle, p.transpose) for p in self.pairs]

    def to_paddle(self, torch_module: torch.nn.Module | Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
        """Paddle's state dict (numpy, paddle names) from a torch module or its state dict."""
        sd = torch_module.state_dict() if isinstance(torch_module, torch.nn.Module) else torch_module
        # Transposes are made by torch: numpy's copy of a transposed 25088x4096 matrix is 2-3x slower.
        # A transposed tensor is new memory already; copying it once more doubled the cost for VGG.
        return {p.paddle: sd[p.torch].detach().cpu().t().contiguous().numpy() if p.transpose else to_numpy(sd[p.torch])
                for p in self.pairs}

    def to_torch(self, paddle_module: paddle.nn.Layer, torch_module: torch.nn.Module) -> dict[str, torch.Tensor]:
        sd = paddle_module.state_dict()
        out = {k: v.detach().clone() for k, v in torch_module.state_dict().items()}  # keeps BN counters
        for p in self.pairs:
            arr = torch.from_numpy(to_numpy(sd[p.paddle]))
            out[p.torch] = arr.t().contiguous() if p.transpose else arr
        return out


def key_map(torch_module: torch.nn.Module, paddle_module: paddle.nn.Layer) -> KeyMap:
    """Pair the two state dicts by name, falling back to construction order (see KeyMap)."""
    t_sd, p_sd = torch_module.state_dict(), paddle_module.state_dict()
    pairs, unexpected, missing = key_pairs(t_sd.keys(), paddle_module)
    mis = [f"{p.torch} {list(t_sd[p.torch].shape)} vs {p.paddle} {list(p_sd[p.paddle].shape)}"
           for p in pairs if _paddle_shape(t_sd[p.torch].shape, p.transpose) != tuple(p_sd[p.paddle].shape)]
    if not (unexpected or missing or mis):
        return KeyMap(pairs, False, [])
    problems = [f"by name, {len(unexpected)} torch and {len(missing)} paddle keys have no twin"
                + (f" and {len(mis)} are mis-shaped" if mis else "")]
    if unexpected:
        problems.append(f"torch keys with no paddle twin ({len(unexpected)}): {_grouped(unexpected)}")
    if missing:
        problems.append(f"paddle keys with no torch twin ({len(missing)}): {_grouped(missing)}")
    if mis:
        problems.append(f"mis-shaped ({len(mis)}): {'; '.join(mis[:6])}" + (f"; and {len(mis) - 6} more" if len(mis) > 6 else ""))
    linear, _ = _paddle_weights.module_kinds(paddle_module)
    src = [(k, tuple(v.shape)) for k, v in t_sd.items() if _split(k)[1] not in DROPPED_TORCH_KEYS]
    dst = [(k, tuple(v.shape), k in linear) for k, v in p_sd.items()]
    try:
        ordered = _order_pairs(src, dst, "torch -> paddle")
    except WeightMismatchError as exc:
        extra, lacking = exc.unexpected, exc.missing
        problems.insert(1, f"by construction order, {len(src)} torch vs {len(dst)} paddle tensors; aligned by shape, "
                           f"{len(extra)} torch and {len(lacking)} paddle tensors have no counterpart"
                           + (f": torch {_grouped(extra)}" if extra else "")
                           + (f"; paddle {_grouped(lacking)}" if lacking else ""))
        return KeyMap(pairs, False, problems)
    return KeyMap([KeyPair(s, d, tr) for s, d, tr in ordered], True, [])


def _grouped(keys: list[str]) -> str:
    """Keys grouped by module prefix on one line, a few of each shown (zoo.messages.key_list)."""
    return messages.key_list(keys).replace("\n    ", " | ")


def _paddle_shape(torch_shape: Iterable[int], transpose: bool) -> tuple[int, ...]:
    return tuple(reversed(tuple(torch_shape))) if transpose else tuple(torch_shape)
