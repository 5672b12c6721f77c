"""Deployable exports of one model with given weights: two ONNX files and a paddle inference model,
each verified against eager output before it is kept.

- ``torch.onnx`` from the torch model and ``paddle.onnx`` from the paddle model (both through
  ``parity.onnx_check``'s exporters and its paddle2onnx repairs), and ``paddle_inference/``
  (``paddle.jit.save``: ``model.json`` or ``model.pdmodel``, and ``model.pdiparams``).
- The batch axis is dynamic unless ``static``; the input is named ``input`` and the output
  ``logits`` (``features`` for a model without a classifier, ``features_<i>`` for a list).
  A paddle inference model keeps paddle's own output name: read its outputs by position.
- Every file is run on batches of 1 and 7 (static: the fixed batch) in onnxruntime or
  ``paddle.inference`` and compared with eager float32 output at the ONNX tolerance.
  Files are written in a temporary folder (``.export-tmp-*``, removed on the next run if
  an interrupted run left one) and moved into place only when they pass; a failed file is
  deleted, or kept as ``*.failed`` with ``keep_failed``.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
import paddle
import torch

from parity import weights as W
from parity.dy2static_cache import methods_converted_once
from parity.judge import judge
from parity.modes import tensors
from parity.onnx_check import _captured_fds, export_paddle, export_torch, run_onnx

TMP_PREFIX = ".export-tmp-"
CHECK_BATCHES = (1, 7)


@dataclass
class Artifact:
    """One exported file (or folder), whether it passed verification, and the errors per batch."""

    name: str
    path: str
    passed: bool = False
    detail: str = ""
    errors: dict[int, float] = field(default_factory=dict)  # batch -> max_rel against eager


def output_names(outputs: list[np.ndarray], num_classes: int | None) -> list[str]:
    """``logits``; ``features`` when the model has no classifier; ``features_<i>`` for several maps."""
    if len(outputs) > 1:
        return [f"features_{i}" for i in range(len(outputs))]
    return ["features" if num_classes == 0 else "logits"]


def rename_outputs(model: onnx.ModelProto, names: list[str]) -> None:
    """Give the graph's outputs ``names`` (paddle2onnx calls them after its fetch variables)."""
    mapping = {o.name: n for o, n in zip(model.graph.output, names)}
    for node in model.graph.node:
        node.input[:] = [mapping.get(i, i) for i in node.input]
        node.output[:] = [mapping.get(o, o) for o in node.output]
    for value in [*model.graph.output, *model.graph.value_info]:
        value.name = mapping.get(value.name, value.name)


def _paddle_inference(prefix: str) -> Callable[[np.ndarray], list[np.ndarray]]:
    from paddle import inference

    model_file = prefix + ".json" if os.path.exists(prefix + ".json") else prefix + ".pdmodel"
    config = inference.Config(model_file, prefix + ".pdiparams")
    config.disable_gpu()
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(1)
    with _captured_fds():
        predictor = inference.create_predictor(config)

    def run(x: np.ndarray) -> list[np.ndarray]:
        handle = predictor.get_input_handle(predictor.get_input_names()[0])
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(np.ascontiguousarray(x, dtype=np.float32))
        with _captured_fds():
            predictor.run()
        return [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]

    return run


def _verify(artifact: Artifact, run: Callable[[np.ndarray], list[np.ndarray]],
            cases: list[tuple[np.ndarray, list[np.ndarray]]]) -> None:
    for x, eager in cases:
        got = run(x)
        if len(got) != len(eager):
            artifact.detail = f"batch {x.shape[0]}: {len(got)} outputs, eager {len(eager)}"
            return
        check = judge("onnx", "float32", [(f"output[{i}]", e, g) for i, (e, g) in enumerate(zip(eager, got))])
        artifact.errors[x.shape[0]] = check.max_rel
        if not check.passed:
            artifact.detail = f"batch {x.shape[0]}: {check.detail} (max_rel {check.max_rel:.1e}, tol {check.tol:.0e})"
            return
    artifact.passed = True
    artifact.detail = ", ".join(f"batch {b}: max_rel {e:.1e}" for b, e in artifact.errors.items())


def _keep(artifact: Artifact, made: str, out_dir: str, keep_failed: bool) -> None:
    """Move a verified file into place (atomically); drop or park a failed one."""
    final = os.path.join(out_dir, artifact.name)
    if not artifact.passed:
        final += ".failed"
        if not keep_failed:
            shutil.rmtree(made, ignore_errors=True) if os.path.isdir(made) else os.path.exists(made) and os.unlink(made)
            artifact.path = ""
            return
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.replace(made, final)
    artifact.path = final


def export_deployables(t_model: torch.nn.Module, p_model: paddle.nn.Layer, sample_shape: tuple[int, ...],
                       out_dir: str, *, opset: int, dynamic: bool = True, batch: int = 1,
                       num_classes: int | None = None, keep_failed: bool = False) -> list[Artifact]:
    """Export, verify and keep (see the module docstring); ``sample_shape`` is one input without its batch."""
    os.makedirs(out_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(out_dir, TMP_PREFIX + "*")):
        shutil.rmtree(stale, ignore_errors=True)
    t_model.float().eval()
    p_model.to(dtype="float32")
    p_model.eval()
    W.copy_torch_to_paddle(t_model, p_model)
    rng = np.random.RandomState(0)
    inputs = [rng.standard_normal((b, *sample_shape)).astype(np.float32) for b in (CHECK_BATCHES if dynamic else (batch,))]
    with torch.no_grad():
        t_eager = [[W.to_numpy(t) for t in tensors(t_model(torch.from_numpy(x)))] for x in inputs]
    with paddle.no_grad():
        p_eager = [[W.to_numpy(t) for t in tensors(p_model(paddle.to_tensor(x)))] for x in inputs]
    names = output_names(t_eager[0], num_classes)
    tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out_dir)
    artifacts = []
    try:
        for name, exporter in (("torch.onnx", "torch"), ("paddle.onnx", "paddle"), ("paddle_inference", "jit")):
            artifact, made = Artifact(name, ""), os.path.join(tmp, name)
            artifacts.append(artifact)
            try:
                if exporter == "torch":
                    export_torch(t_model, inputs[0], made, opset, "input", names, dynamic)
                    _verify(artifact, lambda x: run_onnx(made, x), list(zip(inputs, t_eager)))
                elif exporter == "paddle":
                    export_paddle(p_model, inputs[0], made, opset, "input", dynamic)
                    model = onnx.load(made)
                    rename_outputs(model, names)
                    onnx.save(model, made)
                    _verify(artifact, lambda x: run_onnx(made, x), list(zip(inputs, p_eager)))
                else:
                    spec = [paddle.static.InputSpec([None if dynamic else batch, *sample_shape], "float32", "input")]
                    with _captured_fds(), methods_converted_once():
                        paddle.jit.save(p_model, os.path.join(made, "model"), input_spec=spec)
                    _verify(artifact, _paddle_inference(os.path.join(made, "model")), list(zip(inputs, p_eager)))
            except Exception as exc:  # an exporter's or runtime's failure is this file's failure
                artifact.detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:400] if str(exc) else ''}"
            if os.path.exists(made):
                _keep(artifact, made, out_dir, keep_failed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return artifacts
