"""Export both frameworks' models to ONNX and check them in onnxruntime.

torch: ``torch.onnx.export`` with the legacy (TorchScript) exporter, which is fast and
needs nothing extra; where it cannot export an op, the dynamo exporter (onnxscript).
paddle: ``paddle.jit.save`` then ``paddle2onnx.export`` with ``optimize_tool='None'``.
That skips the Polygraphy constant folding that ``paddle.onnx.export`` runs (and which
may try to pip-install onnx_graphsurgeon), so export never reaches for the network.
paddle2onnx calls ``sys.exit`` on a conversion error; that is caught and reported.

onnxruntime has no float64 Conv kernel, so ONNX checks always run in float32.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx
import onnxruntime as ort
import paddle
import torch

from parity import weights as W
from parity.compare import TOLERANCES, Check, _judge, _tensors

DEFAULT_OPSET = 17


class OnnxExportError(RuntimeError):
    """An exporter failed; the message carries the exporter's own output."""


@contextlib.contextmanager
def _captured_fds() -> Iterator[list[str]]:
    """Capture what C++ code writes to fds 1 and 2 (paddle2onnx logs there), for error messages."""
    import sys

    captured: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            for fd in (1, 2):
                os.dup2(tmp.fileno(), fd)
            yield captured
        finally:
            sys.stdout.flush()  # Python-level prints reach the fds only when flushed
            sys.stderr.flush()
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            tmp.seek(0)
            captured.append(tmp.read().decode(errors="replace"))


def export_torch(model: torch.nn.Module, x: np.ndarray, path: str | Path, opset: int = DEFAULT_OPSET) -> str:
    """Export ``model`` (float32, eval) for a fixed input shape; returns the exporter used."""
    model.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    try:
        with _captured_fds():
            torch.onnx.export(model, (xt,), str(path), dynamo=False, opset_version=opset,
                              input_names=["x"], do_constant_folding=True)
        return "torch.onnx (legacy)"
    except Exception as legacy_error:  # e.g. a non-divisible adaptive pool
        try:
            with _captured_fds():
                torch.onnx.export(model, (xt,), str(path), dynamo=True, opset_version=opset, input_names=["x"],
                                  external_data=False)
            return f"torch.onnx (dynamo; legacy failed: {str(legacy_error).splitlines()[0][:120]})"
        except Exception as exc:
            raise OnnxExportError(f"torch.onnx.export failed with both exporters: legacy: {legacy_error}; "
                                  f"dynamo: {exc}") from exc


def export_paddle(layer: paddle.nn.Layer, x: np.ndarray, path: str | Path, opset: int = DEFAULT_OPSET) -> str:
    """Export ``layer`` (float32, eval) for a fixed input shape via jit.save and paddle2onnx."""
    import paddle2onnx

    layer.eval()
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "model")
        spec = [paddle.static.InputSpec(list(x.shape), "float32", "x")]
        try:
            with _captured_fds() as log:
                paddle.jit.save(layer, prefix, input_spec=spec)
        except Exception as exc:
            raise OnnxExportError(f"paddle.jit.save failed: {type(exc).__name__}: {exc}") from exc
        model_file = prefix + ".json" if os.path.exists(prefix + ".json") else prefix + ".pdmodel"
        log: list[str] = []
        try:
            with _captured_fds() as log:
                paddle2onnx.export(model_file, prefix + ".pdiparams", str(path), opset_version=opset,
                                   enable_onnx_checker=True, optimize_tool="None", verbose=False)
        except SystemExit as exc:  # paddle2onnx exits the process on a conversion error
            raise OnnxExportError(f"paddle2onnx exited ({exc.code}): {''.join(log)[-800:]}") from None
        except Exception as exc:
            raise OnnxExportError(f"paddle2onnx failed: {exc}: {''.join(log)[-800:]}") from exc
    if not os.path.exists(path):
        raise OnnxExportError(f"paddle2onnx wrote no file: {''.join(log)[-800:]}")
    return "paddle.jit.save + paddle2onnx"


def run_onnx(path: str | Path, x: np.ndarray) -> list[np.ndarray]:
    """Check the model with onnx.checker and run it in onnxruntime on ``x``."""
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.asarray(x, dtype=np.float32)})


def check_onnx(torch_model: torch.nn.Module, paddle_model: paddle.nn.Layer, x: np.ndarray,
               opset: int = DEFAULT_OPSET, out_dir: str | Path | None = None) -> list[Check]:
    """Export both (float32, eval, same weights) and compare ORT against eager and each other.

    Returns three checks: onnx_torch (ORT vs torch eager), onnx_paddle (ORT vs paddle
    eager) and onnx_cross (the two ONNX files against each other). A failed export is a
    failed check whose detail carries the exporter's message.
    """
    torch_model.float().eval()
    paddle_model.to(dtype="float32")
    paddle_model.eval()
    x = np.asarray(x, dtype=np.float32)
    with torch.no_grad():
        t_eager = [W.to_numpy(t) for t in _tensors(torch_model(torch.from_numpy(x)))]
    with paddle.no_grad():
        p_eager = [W.to_numpy(t) for t in _tensors(paddle_model(paddle.to_tensor(x)))]
    ctx = tempfile.TemporaryDirectory() if out_dir is None else contextlib.nullcontext(str(out_dir))
    checks: list[Check] = []
    results: dict[str, list[np.ndarray] | None] = {}
    with ctx as folder:
        os.makedirs(folder, exist_ok=True)
        for side, export, model, eager in (("torch", export_torch, torch_model, t_eager),
                                           ("paddle", export_paddle, paddle_model, p_eager)):
            path = os.path.join(folder, f"{side}.onnx")
            try:
                how = export(model, x, path, opset)
                got = run_onnx(path, x)
            except Exception as exc:
                results[side] = None
                checks.append(Check(f"onnx_{side}", False, metric="max_rel", tol=TOLERANCES["float32"]["onnx"],
                                    detail=f"{type(exc).__name__}: {str(exc)[:600]}"))
                continue
            results[side] = got
            check = _judge("onnx", "float32", [(f"output[{i}]", e, g) for i, (e, g) in enumerate(zip(eager, got))])
            check.name = f"onnx_{side}"
            if len(got) != len(eager):
                check.passed = False
                check.detail = f"ONNX returns {len(got)} outputs, eager {len(eager)}"
            check.detail = f"{how}, opset {opset}, onnx.checker ok" + (f"; {check.detail}" if check.detail else "")
            checks.append(check)
    if results.get("torch") is not None and results.get("paddle") is not None:
        cross = _judge("onnx", "float32", [(f"output[{i}]", a, b) for i, (a, b)
                                           in enumerate(zip(results["torch"], results["paddle"]))])
        cross.name = "onnx_cross"
        cross.detail = "torch ONNX vs paddle ONNX in onnxruntime" + (f"; {cross.detail}" if cross.detail else "")
        checks.append(cross)
    else:
        checks.append(Check("onnx_cross", False, detail="needs both exports"))
    return checks
