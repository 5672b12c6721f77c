"""Run the parity checks on registered models: build both sides, compare, export ONNX."""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import paddle
import torch

import paddle_impl
import torch_impl
import zoo
import zoo.coverage as coverage_spec
from parity import weights as W
from parity.cases import EVAL_ONLY, Case, cases, label as _label  # noqa: F401 (Case: part of the harness API)
from parity.compare import compare_modules
from parity.results import Check, Report
from parity.modes import built_in
from parity.noinit import paddle_init_skipped
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
        # Shapes only: torch builds on the meta device, and paddle neither draws nor writes
        # its random weights (parity/noinit.py): drawn, they took 1.2 to 2.8 s of a
        # 72M-parameter LeNet-BN build, and zeroed up to 4.9 s, all page faults; 0.1 s so.
        with torch.device("meta"):
            t_model = torch_impl.build(name, **kw)
        with paddle_init_skipped(fill=False):
            p_model = paddle_impl.build(name, **kw)
        _COUNTS[key] = (_trainable(t_model), _trainable(p_model))
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


def _builders(name: str, torch_builder: Callable | None, paddle_builder: Callable | None) -> tuple[Callable, Callable]:
    """The two builders of ``name``: the registered ones, or the given functions (the self-test
    passes builders of in-memory copies with a planted mistake)."""
    return (torch_builder or (lambda **kw: torch_impl.build(name, **kw)),
            paddle_builder or (lambda **kw: paddle_impl.build(name, **kw)))


def run_model(name: str, dims: int, dtype: str, *, onnx: bool = True, batch: int | None = None,
              size: int | None = None, seed: int = 0, steps: int = 3, kind: str = "parity",
              options: dict[str, Any] | None = None, torch_builder: Callable | None = None,
              paddle_builder: Callable | None = None) -> Report:
    """Build ``name`` in both frameworks with the same arguments and run the checks of one case.

    ``kind`` is the case (see ``cases``): "parity" runs every check; "asym" every check but
    the optimizer steps; "real" the eval forward only (at the default size); "eval" the same
    at the parity size; "hot" the eval forward with every
    clipped activation driven across its kinks; "stochastic" the train checks with dropout
    and stochastic depth live on shared masks; "option" eval and train with ``options``
    passed to the builders. ``batch`` and ``size`` default to the model's registry entry
    (its parity size for ``dims``; the batch zoo.coverage.batch gives the kind)."""
    from parity.onnx_check import check_onnx

    start = time.perf_counter()
    info = zoo.get(name)
    size = size if size is not None else info.check_size(dims)
    batch = batch if batch is not None else coverage_spec.batch(name, dims, kind)
    kwargs = info.build_kwargs(dims, size, **(options or {}))
    build_t, build_p = _builders(name, torch_builder, paddle_builder)
    torch.manual_seed(seed)
    paddle.seed(seed)
    with built_in(dtype):
        t_model = build_t(**kwargs)
        # torch's weights overwrite every paddle tensor (a strict load) before any check reads
        # one, so paddle's random draws are left unwritten, not zeroed (parity/noinit.py).
        with paddle_init_skipped(fill=False):
            p_model = build_p(**kwargs)
    if not options and torch_builder is None and paddle_builder is None:
        _COUNTS.setdefault(_count_key(name, kwargs), (_trainable(t_model), _trainable(p_model)))
    x = np.random.RandomState(seed).standard_normal(info.input_shape(dims, batch, size))
    onnx = onnx and kind == "parity"
    onnx_checks: list[Check] = []
    if onnx:
        try:
            W.copy_torch_to_paddle(t_model, p_model)
        except W.WeightMismatchError:
            pass  # compare_modules reports the structure failure
        else:
            onnx_checks = check_onnx(t_model, p_model, x)
    # The twins' float64 paths are exact, so their input gradients are held to judge.EXACT_FLOAT64.
    report = compare_modules(t_model, p_model, inputs=x, dtype=dtype, num_classes=kwargs["num_classes"], seed=seed,
                             steps=steps if kind == "parity" else 0, name=name, dims=dims,
                             train=kind not in EVAL_ONLY, hot=kind == "hot",
                             stochastic=kind == "stochastic", exact_float64=True, calibration=info.calibration)
    report.case = _label(kind, options)
    if kind == "parity" and not options:
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
             progress=None, coverage: bool = False) -> list[Report]:
    """Every case of each name (see ``cases``); ONNX (always float32) runs once per model and dims,
    with the parity case."""
    dtypes = list(dtypes)
    reports = []
    for name in names:
        for case in cases(name, dims, dtypes, coverage=coverage):
            if size is not None and case.kind == "parity":
                case = replace(case, size=size)
            with_onnx = onnx and (case.dtype == "float32" or "float32" not in dtypes)
            r = case.run(onnx=with_onnx, batch=batch)
            reports.append(r)
            if progress is not None:
                progress(r)
    return reports


def run_cases(name: str, dims: int, dtype: str, *, torch_builder: Callable | None = None,
              paddle_builder: Callable | None = None, onnx: bool = False, steps: int = 3,
              coverage: bool = True, only: Sequence[str] | None = None) -> list[Report]:
    """Every case of ``name`` at ``dims`` in ``dtype`` (see ``cases``), or those whose key is in
    ``only``, each a Report whose ``case`` is that key, built with the given builders."""
    return [c.run(onnx=onnx, steps=steps, torch_builder=torch_builder, paddle_builder=paddle_builder)
            for c in cases(name, (dims,), (dtype,), coverage=coverage) if only is None or c.key in only]
