"""Export both frameworks' models to ONNX and check them in onnxruntime.

torch: ``torch.onnx.export`` with the legacy (TorchScript) exporter, which is fast and
needs nothing extra; where it cannot export an op, the dynamo exporter (onnxscript).
paddle: ``paddle.jit.save`` then ``paddle2onnx.export`` with ``optimize_tool='None'``.
That skips the Polygraphy constant folding that ``paddle.onnx.export`` runs (and which
may try to pip-install onnx_graphsurgeon), so export never reaches for the network.
paddle2onnx calls ``sys.exit`` on a conversion error; that is caught and reported.
Every paddle export then goes through ``repair_lrn_pad_constants`` (a paddle2onnx 2.1.0
bug, see there); what it repairs is named in the check's detail.

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
import onnx.numpy_helper
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
    captured: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = [os.dup(1), os.dup(2)]
        try:
            for fd in (1, 2):
                os.dup2(tmp.fileno(), fd)
            yield captured
        finally:
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


# Ops that only move or relabel data: the LRN pattern is traced through them.
_SHAPE_OPS = frozenset({"Identity", "Reshape", "Squeeze", "Unsqueeze"})


def repair_lrn_pad_constants(model: onnx.ModelProto) -> int:
    """Set to 0 the pad value of every Pad that paddle's LocalResponseNorm exported; returns how many.

    paddle2onnx 2.1.0 never reads the pad value of paddle's ``pad3d`` op: paddle 3's
    program calls the attribute ``pad_value``, the converter asks for ``value`` and
    leaves its float uninitialised. The Pad node's ``constant_value`` input is then
    whatever was in memory (seen: 4.5e21, 1.7e19, NaN, 1e-43, 0), and onnxruntime's
    output changes from one export to the next.

    paddle's LocalResponseNorm squares its input (``Mul(a, a)``), pads the channel axis
    with 0 and averages over ``size`` channels. A constant-mode Pad whose data comes
    from such a Mul, and whose output reaches an AveragePool, through ``_SHAPE_OPS``
    only, is that pattern, and its pad value is known to be 0. Any other constant Pad
    keeps its value, which this cannot know: the comparison with eager output shows it.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def squares_a_tensor(name: str) -> bool:
        node = producer.get(name)
        while node is not None and node.op_type in _SHAPE_OPS:
            node = producer.get(node.input[0])
        return node is not None and node.op_type == "Mul" and node.input[0] == node.input[1]

    def feeds_average_pool(name: str) -> bool:
        nodes = consumers.get(name, [])
        while len(nodes) == 1 and nodes[0].op_type in _SHAPE_OPS:
            nodes = consumers.get(nodes[0].output[0], [])
        return len(nodes) == 1 and nodes[0].op_type == "AveragePool"

    repaired = 0
    for i, node in enumerate(model.graph.node):
        mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
        if node.op_type != "Pad" or mode != "constant":
            continue
        if not (squares_a_tensor(node.input[0]) and feeds_average_pool(node.output[0])):
            continue
        value_attr = next((a for a in node.attribute if a.name == "value"), None)
        if value_attr is not None:  # opset < 11 carries the value as an attribute
            value_attr.f = 0.0
        else:
            zero = onnx.numpy_helper.from_array(np.zeros((), dtype=np.float32), name=f"lrn_pad_zero_{i}")
            model.graph.initializer.append(zero)
            if len(node.input) > 2:
                node.input[2] = zero.name
            else:
                node.input.append(zero.name)
        repaired += 1
    return repaired


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
    model = onnx.load(str(path))
    repaired = repair_lrn_pad_constants(model)
    if repaired:
        onnx.save(model, str(path))
        return f"paddle.jit.save + paddle2onnx (pad value of {repaired} LRN Pad node(s) set to 0)"
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
