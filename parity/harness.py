"""Run the parity checks on registered models: build both sides, compare, export ONNX."""
from __future__ import annotations

import math
import time
from typing import Iterable

import numpy as np
import paddle
import torch

import paddle_impl
import torch_impl
import zoo
from parity import weights as W
from parity.compare import Check, Report, compare_modules
from parity.run import resolve  # noqa: F401  (framework-free, for the CLI; kept importable from here)


def _trainable(model: torch.nn.Module | paddle.nn.Layer) -> int:
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(int(math.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


# Trainable counts (torch, paddle) per (model, builder arguments), so a process builds each
# published configuration once (VGG-16 takes seconds to build in paddle).
_COUNTS: dict[tuple[str, tuple], tuple[int, int]] = {}


def _count_key(name: str, kw: dict) -> tuple[str, tuple]:
    return name, tuple(sorted(kw.items()))


def _counts(name: str, kw: dict) -> tuple[int, int]:
    key = _count_key(name, kw)
    if key not in _COUNTS:
        with torch.device("meta"):  # shapes only: the torch side need not initialise anything
            t_model = torch_impl.build(name, **kw)
        _COUNTS[key] = (_trainable(t_model), _trainable(paddle_impl.build(name, **kw)))
    return _COUNTS[key]


def published_check(name: str, dims: int) -> Check | None:
    """Trainable counts on both sides against every count published for ``dims`` (None if none is)."""
    info = zoo.get(name)
    rows = [p for p in info.published if p.kwargs.get("dims", 2) == dims]
    if not rows:
        return None
    problems, seen = [], []
    for pub in rows:
        kw = info.build_kwargs(dims, **{k: v for k, v in pub.kwargs.items() if k != "dims"})
        counts = _counts(name, kw)
        args = ", ".join(f"{k}={v}" for k, v in pub.kwargs.items())
        seen.append(f"{pub.count:,} ({args}; {pub.source})")
        if counts != (pub.count, pub.count):
            problems.append(f"{args}: torch {counts[0]:,}, paddle {counts[1]:,}, published {pub.count:,}")
    detail = "; ".join(problems) if problems else "both sides equal " + "; ".join(seen)
    return Check("published_params", not problems, metric="exact", detail=detail)


def run_model(name: str, dims: int, dtype: str, *, onnx: bool = True, batch: int | None = None,
              size: int | None = None, seed: int = 0, steps: int = 3) -> Report:
    """Build ``name`` in both frameworks with the same arguments and run every check.

    ``batch`` and ``size`` default to the model's registry entry (``parity_batch`` and
    its parity size for ``dims``)."""
    from parity.onnx_check import check_onnx

    start = time.perf_counter()
    info = zoo.get(name)
    size = size if size is not None else info.check_size(dims)
    batch = batch if batch is not None else info.parity_batch
    kwargs = info.build_kwargs(dims, size)
    torch.manual_seed(seed)
    paddle.seed(seed)
    t_model = torch_impl.build(name, **kwargs)
    p_model = paddle_impl.build(name, **kwargs)
    _COUNTS.setdefault(_count_key(name, kwargs), (_trainable(t_model), _trainable(p_model)))
    x = np.random.RandomState(seed).standard_normal(info.input_shape(dims, batch, size))
    onnx_checks: list[Check] = []
    if onnx:
        try:
            W.copy_torch_to_paddle(t_model, p_model)
        except W.WeightMismatchError:
            pass  # compare_modules reports the structure failure
        else:
            onnx_checks = check_onnx(t_model, p_model, x)
    report = compare_modules(t_model, p_model, inputs=x, dtype=dtype, num_classes=info.build_kwargs(dims)["num_classes"],
                             seed=seed, steps=steps, name=name, dims=dims)
    published = published_check(name, dims)
    if published is not None:
        report.checks.insert(1, published)
    report.checks.extend(onnx_checks)
    if onnx:
        report.notes.append("ONNX runs in float32: onnxruntime has no float64 Conv kernel")
    report.notes.append(f"input {list(x.shape)}")
    report.seconds = time.perf_counter() - start
    return report


def run_many(names: Iterable[str], dims: Iterable[int] = (1, 2), dtypes: Iterable[str] = ("float64", "float32"),
             *, onnx: bool = True, batch: int | None = None, size: int | None = None,
             progress=None) -> list[Report]:
    """run_model over names x dims x dtypes; ONNX (always float32) runs once per model and dims."""
    dtypes = list(dtypes)
    reports = []
    for name in names:
        for d in dims:
            for i, dtype in enumerate(dtypes):
                with_onnx = onnx and (dtype == "float32" or "float32" not in dtypes)
                r = run_model(name, d, dtype, onnx=with_onnx, batch=batch, size=size)
                reports.append(r)
                if progress is not None:
                    progress(r)
    return reports
