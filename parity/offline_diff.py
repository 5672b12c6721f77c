"""Compare two dumps (one torch, one paddle) with the harness's judge and tolerances (``python -m parity diff``).

The checks are the two-sided ones, computed from what each side wrote: ``copy`` (both
started from the same weights), ``eval_forward``, ``train_loss``, ``train_input_grad``,
``train_param_grads``, ``bn_stats`` and ``sgd_steps``. Weight keys pair as parity/weights.py
pairs them (BatchNorm renames, Linear weights transposed), from each manifest's record of
which keys are Linear weights and BatchNorm buffers. A failed forward or gradient check
names the first divergent layer or functional op, with the records paired by parity/pairing.py.

Differences from ``compare``: each side steps on its own gradients in both dtypes (the
two processes cannot share them), so float32 sgd_steps of a deep net show float32's own
drift; and no check is judged again against a reference run (that needs both models).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from parity import keypairing as K
from parity.results import Check, Report
from parity.judge import TOLERANCES, judge


class DiffError(ValueError):
    """Two dumps that cannot be compared (same framework, other inputs, ...); the message says why."""


def _records(manifest: dict[str, Any], arrays: dict[str, np.ndarray], phase: str) -> list[Any]:
    from parity.records import Record

    out = []
    for e in manifest["records"][phase]:
        grad = arrays.get(e["key"] + "_grad")
        out.append(Record(e["name"], e["kind"], e["type"], e["source"], tuple(tuple(p) for p in e["params"]),
                          arrays[e["key"]], grad, e.get("trainable", 0)))
    return out


def _locate(t: tuple, p: tuple, phase: str, dtype: str, tol: float, grads: bool) -> str:
    from parity.pairing import first_divergence, first_grad_divergence, pair_records

    pairs = pair_records(_records(*t, phase), _records(*p, phase))
    found = (first_grad_divergence if grads else first_divergence)(pairs, dtype, tol)
    if found is None:
        return ("no layer's output gradient exceeds the tolerance" if grads else
                "no single layer's output exceeds the tolerance") + " (the difference builds up across layers)"
    return found.message()


def pair_keys(t_man: dict[str, Any], p_man: dict[str, Any], key_map: dict[str, str] | None = None
              ) -> tuple[list[K.Triple], str]:
    """(torch key, paddle key, transpose) triples and how they were paired: "name", "order" or "file"."""
    t_shapes = {e["key"]: tuple(e["shape"]) for e in t_man["state"]}
    p_shapes = {e["key"]: tuple(e["shape"]) for e in p_man["state"]}
    linear = {e["key"] for e in p_man["state"] if e["linear"]}
    if key_map is not None:
        return K.by_file(key_map, t_shapes, p_shapes, linear), "file"
    try:
        return K.by_name(t_shapes, p_shapes, set(t_man["bn_prefixes"]), linear), "name"
    except K.PairingError as by_name:
        try:
            return K.by_order(t_shapes, p_shapes, linear), "order"
        except K.PairingError as by_order:
            raise K.PairingError(f"cannot pair the two dumps' weights: {by_name.summary}, and {by_order.summary}",
                                 by_name.lines) from None


def _sides(a: tuple, b: tuple) -> tuple[tuple, tuple]:
    fws = (a[0]["framework"], b[0]["framework"])
    if sorted(fws) != ["paddle", "torch"]:
        raise DiffError(f"expected one torch dump and one paddle dump, got {fws[0]} and {fws[1]}")
    return (a, b) if fws[0] == "torch" else (b, a)


def _same_run(t_man: dict[str, Any], p_man: dict[str, Any], dtype: str | None) -> str:
    for key, what in (("input_digest", "input"), ("labels", "labels"), ("steps", "--steps"), ("seed", "--seed"),
                      ("projection_seed", "loss projections")):
        if t_man[key] != p_man[key]:
            raise DiffError(f"the dumps were made from different {what}: torch {t_man[key]!r}, paddle {p_man[key]!r}; "
                            f"dump both sides from the same files and flags")
    if t_man["dtype"] != p_man["dtype"]:
        raise DiffError(f"the dumps ran in different dtypes: torch {t_man['dtype']}, paddle {p_man['dtype']}")
    if dtype is not None and dtype != t_man["dtype"]:
        raise DiffError(f"--dtype {dtype}: the dumps ran in {t_man['dtype']}")
    return t_man["dtype"]


def diff(a: tuple, b: tuple, dtype: str | None = None, key_map: dict[str, str] | None = None
         ) -> tuple[Report, list[K.Triple], str]:
    """Compare dumps ``a`` and ``b`` (each (manifest, arrays by file) from parity.dump.read)."""
    t, p = _sides(a, b)
    (t_man, t_files), (p_man, p_files) = t, p
    dtype = _same_run(t_man, p_man, dtype)
    triples, how = pair_keys(t_man, p_man, key_map)
    tol = TOLERANCES[dtype]
    report = Report(f"{t_man['spec']} / {p_man['spec']}", None, dtype)
    if how == "order":
        report.notes.append(K.ORDER_WARNING)

    def weights(step: int, select=lambda tk: True) -> list[tuple[str, np.ndarray, np.ndarray]]:
        tw, pw = t_files["weights"], p_files["weights"]
        return [(f"step {step} {tk}" if step else tk, tw[f"step{step}/{tk}"],
                 pw[f"step{step}/{pk}"].T if tr else pw[f"step{step}/{pk}"]) for tk, pk, tr in triples if select(tk)]

    start = weights(0)
    same = [n for n, x, y in start if not np.array_equal(x, y)]
    report.checks.append(Check("copy", not same, metric="exact", tol=0.0,
                               detail="both dumps started from the same weights" if not same else
                               f"the dumps started from different weights ({len(same)} tensors, e.g. {same[0]}); "
                               f"dump the second side with --weights FIRST_DUMP"))
    t_out = [t_files["eval"][f"output{i}"] for i in range(len(t_man["outputs"]))]
    p_out = [p_files["eval"][f"output{i}"] for i in range(len(p_man["outputs"]))]
    if len(t_out) != len(p_out) or any(x.shape != y.shape for x, y in zip(t_out, p_out)):
        check = Check("eval_forward", False, metric="max_rel", tol=tol["eval_forward"],
                      detail=f"outputs differ in number or shape: torch {t_man['outputs']}, paddle {p_man['outputs']}")
    else:
        check = judge("eval_forward", dtype, [(f"output[{i}]", x, y) for i, (x, y) in enumerate(zip(t_out, p_out))])
    if not check.passed:
        check.detail = _locate((t_man, t_files["eval_records"]), (p_man, p_files["eval_records"]), "eval", dtype,
                               tol["eval_forward"], grads=False)
    report.checks.append(check)
    tt, pt = t_files["train"], p_files["train"]
    loss = judge("train_loss", dtype, [("loss", tt["loss"], pt["loss"])])
    if not loss.passed:
        loss.detail = _locate((t_man, t_files["train_records"]), (p_man, p_files["train_records"]), "train", dtype,
                              tol["train_loss"], grads=False)
    report.checks.append(loss)
    report.checks.append(judge("train_input_grad", dtype, [("input", tt["input_grad"], pt["input_grad"])]))
    trainable = {e["key"] for e in t_man["state"] if e["trainable"]}
    grads = judge("train_param_grads", dtype, [(tk, tt[f"grad/{tk}"], pt[f"grad/{pk}"].T if tr else pt[f"grad/{pk}"])
                                               for tk, pk, tr in triples if tk in trainable and f"grad/{pk}" in pt])
    if not grads.passed:
        grads.detail += "; " + _locate((t_man, t_files["train_records"]), (p_man, p_files["train_records"]),
                                       "train", dtype, tol["train_input_grad"], grads=True)
    report.checks.append(grads)
    bn = {e["key"] for e in t_man["state"] if e["bn"]}
    if bn:
        report.checks.append(judge("bn_stats", dtype, [(tk, tt[f"bn/{tk}"], pt[f"bn/{pk}"])
                                                       for tk, pk, _ in triples if tk in bn]))
    else:
        report.notes.append("no BatchNorm in the model: no bn_stats check")
    if t_man["steps"]:
        per_step = [judge("sgd_steps", dtype, weights(k)) for k in range(1, t_man["steps"] + 1)]
        worst = max(per_step, key=lambda c: (not c.passed, c.max_rel or 0.0))
        worst.detail = (f"{t_man['steps']} steps, SGD lr {t_man['sgd']['lr']:g} momentum {t_man['sgd']['momentum']:g} "
                        f"weight_decay {t_man['sgd']['weight_decay']:g}, each side on its own gradients"
                        + (f"; {worst.detail}" if worst.detail else ""))
        report.checks.append(worst)
    if t_man["stochastic_layers_frozen"]:
        report.notes.append("train checks ran with dropout/stochastic layers in eval mode: "
                            + ", ".join(t_man["stochastic_layers_frozen"]))
    return report, triples, how
