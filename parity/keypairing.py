"""Pairing a torch state dict's keys with a paddle one's from names and shapes alone (no framework).

Three ways, as ``compare`` and ``diff`` report them:
- ``by_name``: the names are equal but for the BatchNorm renames (``running_mean`` ->
  ``_mean``, ``running_var`` -> ``_variance``); torch's ``num_batches_tracked`` is dropped.
- ``by_file``: a key-map file, JSON ``{"torch_key": "paddle_key", ...}`` naming every pair.
- ``by_order``: construction order, every shape checked. It only proves the two state
  dicts have the same shapes in the same order; it proves nothing about the function.
A Linear weight is transposed; which keys are Linear weights is each side's own knowledge
(the paddle side's for by_name, as parity/weights.py decides it), passed in as a set.
Each returns (torch key, paddle key, transpose) triples or raises PairingError, whose
``lines`` list every offending key, grouped by module prefix.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

from zoo import messages
from zoo.state_keys import is_counter, torch_key_to_paddle

Shapes = Mapping[str, Sequence[int]]
Triple = tuple[str, str, bool]

ORDER_WARNING = ("paired by construction order, since the names differ: this only shows that both sides hold "
                 "tensors of the same shapes in the same order, and proves nothing about what the two networks "
                 "compute; the checks below do")


class PairingError(ValueError):
    """Keys that cannot be paired: ``summary`` first, then ``lines`` (grouped key lists)."""

    def __init__(self, summary: str, lines: Sequence[str] = ()) -> None:
        super().__init__("\n".join([summary, *lines]))
        self.summary, self.lines = summary, list(lines)


def _key_lines(label: str, keys: Sequence[str]) -> list[str]:
    return [f"  {label} ({len(keys)}): {messages.key_list(keys)}"] if keys else []


def _shape_of(shape: Sequence[int], transpose: bool) -> tuple[int, ...]:
    return tuple(reversed(tuple(shape))) if transpose else tuple(shape)


def _mis_shaped(triples: Sequence[Triple], t_shapes: Shapes, p_shapes: Shapes) -> list[str]:
    return [f"  mis-shaped: {t} {list(t_shapes[t])} vs {p} {list(p_shapes[p])}" + (" (a Linear weight, transposed)"
                                                                                   if tr else "")
            for t, p, tr in triples if _shape_of(t_shapes[t], tr) != tuple(p_shapes[p])]


def name_pairs(torch_keys: Sequence[str], paddle_keys: Sequence[str], bn_prefixes: set[str],
               paddle_linear: set[str]) -> tuple[list[Triple], list[str], list[str]]:
    """Pair keys by name with the BatchNorm renames, shapes unchecked: (triples, torch keys
    with no paddle twin, paddle keys with no torch twin). torch's counters are dropped."""
    wanted = set(paddle_keys)
    triples, unexpected, seen = [], [], set()
    for tk in torch_keys:
        pk = torch_key_to_paddle(tk, bn_prefixes)
        if pk is None:
            continue
        if pk in wanted:
            triples.append((tk, pk, pk in paddle_linear))
            seen.add(pk)
        else:
            unexpected.append(tk)
    return triples, unexpected, [k for k in paddle_keys if k not in seen]


def by_name(t_shapes: Shapes, p_shapes: Shapes, bn_prefixes: set[str], paddle_linear: set[str]) -> list[Triple]:
    """Pair by name with the BatchNorm renames; ``bn_prefixes`` are the BatchNorm module prefixes ("bn1.")."""
    triples, unexpected, missing = name_pairs(list(t_shapes), list(p_shapes), bn_prefixes, paddle_linear)
    bad = _mis_shaped(triples, t_shapes, p_shapes)
    lines = _key_lines("torch keys with no paddle twin", unexpected) + \
        _key_lines("paddle keys with no torch twin", missing) + bad
    if lines:
        raise PairingError(f"by name, {len(triples) - len(bad)} tensors pair; "
                           f"{len(unexpected)} torch and {len(missing)} paddle tensors have no twin", lines)
    return triples


def by_order(t_shapes: Shapes, p_shapes: Shapes, paddle_linear: set[str]) -> list[Triple]:
    """Pair by construction order, checking every shape (a transposed Linear weight counts as a match)."""
    src = [k for k in t_shapes if not is_counter(k)]
    dst = list(p_shapes)
    if len(src) != len(dst):
        raise PairingError(f"by construction order, {len(src)} torch tensors cannot pair with {len(dst)} paddle "
                           f"tensors")
    triples = [(t, p, p in paddle_linear) for t, p in zip(src, dst)]
    bad = _mis_shaped(triples, t_shapes, p_shapes)
    if bad:
        raise PairingError(f"by construction order, {len(bad)} of {len(triples)} pairs differ in shape "
                           f"(the first is where the orders part)", messages.capped_lines(bad, "mis-shaped pairs"))
    return triples


def extra_prefix(t_shapes: Shapes, p_shapes: Shapes, paddle_linear: set[str]) -> str | None:
    """When one side holds more tensors: the top-level module of that side whose removal lets the
    rest pair by construction order (Inception's ``AuxLogits.*``), as a sentence; else None."""
    src = {k: v for k, v in t_shapes.items() if not is_counter(k)}
    extra = len(src) - len(p_shapes)
    if extra == 0:
        return None
    side, keys = ("torch", src) if extra > 0 else ("paddle", p_shapes)
    prefixes: dict[str, list[str]] = {}
    for k in keys:
        prefixes.setdefault(k.split(".")[0], []).append(k)
    for prefix, members in prefixes.items():
        if len(members) != abs(extra):
            continue
        drop = set(members)
        t_rest = {k: v for k, v in src.items() if k not in drop}
        p_rest = {k: v for k, v in p_shapes.items() if k not in drop}
        try:
            by_order(t_rest if side == "torch" else src, p_rest if side == "paddle" else p_shapes, paddle_linear)
        except PairingError:
            continue
        return (f"the {side} side's {prefix}.* ({len(members)} tensors) has no counterpart: without it, the rest "
                f"pairs by construction order")
    return None


def read_key_map(path: str | Path) -> dict[str, str]:
    """A key-map file: a JSON object ``{"torch_key": "paddle_key", ...}`` of strings, no paddle key twice."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PairingError(f"--key-map {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PairingError(f"--key-map {path}: expected JSON, got a syntax error at line {exc.lineno} column "
                           f"{exc.colno}: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise PairingError(f"--key-map {path}: expected a JSON object {{\"torch_key\": \"paddle_key\", ...}}, got "
                           f"a JSON {type(doc).__name__}")
    bad = [k for k, v in doc.items() if not isinstance(v, str)]
    if bad:
        raise PairingError(f"--key-map {path}: expected every value to be a paddle key (a string); "
                           f"{len(bad)} are not", _key_lines("torch keys with a non-string value", bad))
    seen: dict[str, str] = {}
    twice = []
    for tk, pk in doc.items():
        if pk in seen:
            twice.append(f"{pk} (from {seen[pk]} and {tk})")
        seen[pk] = tk
    if twice:
        raise PairingError(f"--key-map {path}: expected each paddle key once; {len(twice)} are named twice",
                           messages.capped_lines([f"  {t}" for t in twice], "keys"))
    return dict(doc)


def by_file(mapping: Mapping[str, str], t_shapes: Shapes, p_shapes: Shapes, paddle_linear: set[str],
            source: str = "--key-map") -> list[Triple]:
    """Pair as ``mapping`` says; every torch tensor but BatchNorm counters and every paddle tensor must be named."""
    unknown_t = [k for k in mapping if k not in t_shapes]
    unknown_p = [v for v in mapping.values() if v not in p_shapes]
    uncovered_t = [k for k in t_shapes if k not in mapping and not is_counter(k)]
    named_p = set(mapping.values())
    uncovered_p = [k for k in p_shapes if k not in named_p]
    triples = [(t, p, p in paddle_linear) for t, p in mapping.items() if t in t_shapes and p in p_shapes]
    lines = (_key_lines("torch keys in the file but not in the torch model", unknown_t)
             + _key_lines("paddle keys in the file but not in the paddle model", unknown_p)
             + _key_lines("torch keys the file does not map", uncovered_t)
             + _key_lines("paddle keys no torch key maps to", uncovered_p)
             + _mis_shaped(triples, t_shapes, p_shapes))
    if lines:
        raise PairingError(f"{source}: the file does not pair the two models' weights ({len(mapping)} entries; "
                           f"torch has {len([k for k in t_shapes if not is_counter(k)])} tensors, paddle "
                           f"{len(p_shapes)})", lines)
    return triples
