"""Export both frameworks' models to ONNX and check them in onnxruntime.

torch: ``torch.onnx.export`` with the legacy (TorchScript) exporter, which is fast and
needs nothing extra, with the adaptive average pools it refuses written as MatMuls
(parity/onnx_adaptive_pools.py); where it cannot export an op, the dynamo exporter (onnxscript).
paddle: ``paddle.jit.save`` (each forward converted once, parity/dy2static_cache.py) then
``paddle2onnx.export`` with ``optimize_tool='None'``.
That skips the Polygraphy constant folding that ``paddle.onnx.export`` runs (and which
may try to pip-install onnx_graphsurgeon), so export never reaches for the network.
paddle2onnx calls ``sys.exit`` on a conversion error; that is caught and reported.
Every paddle export then goes through two repairs of paddle2onnx 2.1.0 bugs,
``repair_lrn_pad_constants`` and ``repair_upsampling_adaptive_pools`` (see each); what
they repair is named in the check's detail.

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
import onnx.helper
import onnx.numpy_helper
import onnxruntime as ort
import paddle
import torch

from parity import progress, quiet, weights as W
from parity.dy2static_cache import methods_converted_once
from parity.judge import TOLERANCES, Check, judge
from parity.modes import tensors
from parity.onnx_adaptive_pools import adaptive_bins, torch_pools_as_matmuls
from zoo import messages

quiet.onnxruntime_loaded(ort)

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


def export_torch(model: torch.nn.Module, x: np.ndarray, path: str | Path, opset: int = DEFAULT_OPSET,
                 input_name: str = "x", output_names: list[str] | None = None, dynamic_batch: bool = False) -> str:
    """Export ``model`` (float32, eval) for ``x``'s input shape (any batch size with ``dynamic_batch``);
    returns the exporter used."""
    model.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    names = dict(input_names=[input_name], output_names=output_names)
    axes = {n: {0: "batch"} for n in [input_name, *(output_names or [])]} if dynamic_batch else None
    try:
        # The adaptive pools it would refuse are written as MatMuls (parity/onnx_adaptive_pools.py).
        with _captured_fds(), torch_pools_as_matmuls(opset):
            torch.onnx.export(model, (xt,), str(path), dynamo=False, opset_version=opset, do_constant_folding=True,
                              dynamic_axes=axes, **names)
        return "torch.onnx (legacy)"
    except Exception as legacy_error:  # e.g. a non-divisible adaptive pool
        try:
            with _captured_fds():
                torch.onnx.export(model, (xt,), str(path), dynamo=True, opset_version=opset, external_data=False,
                                  dynamic_axes=axes, **names)
            return f"torch.onnx (dynamo; legacy failed: {messages.shorten(str(legacy_error).splitlines()[0], 120)})"
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


def _upsampling_adaptive_pools(layer: paddle.nn.Layer, x: np.ndarray) -> list[tuple[list[int], list[int]]]:
    """(input spatial shape, output spatial shape) of every adaptive average pool sublayer of
    ``layer`` that makes a map larger than its input on ``x``, in execution order."""
    kinds = (paddle.nn.AdaptiveAvgPool1D, paddle.nn.AdaptiveAvgPool2D)
    found: list[tuple[list[int], list[int]]] = []

    def hook(_layer, inputs, output):
        before, after = list(inputs[0].shape[2:]), list(output.shape[2:])
        if any(o > i for i, o in zip(before, after)):
            found.append((before, after))

    handles = [m.register_forward_post_hook(hook) for m in layer.sublayers() if isinstance(m, kinds)]
    if handles:
        try:
            with paddle.no_grad():
                layer(paddle.to_tensor(np.asarray(x, dtype=np.float32)))
        finally:
            for h in handles:
                h.remove()
    return found


def repair_upsampling_adaptive_pools(model: onnx.ModelProto, sizes: list[tuple[list[int], list[int]]]) -> int:
    """Rewrite the AveragePool nodes that paddle2onnx 2.1.0 emits with stride 0 as MatMuls; returns how many.

    paddle2onnx maps an adaptive average pool to AveragePool with stride ``in // out``,
    which is 0 when the output is larger than the input (VGG's 7x7 pool on the 1x1 maps
    of a 32x32 input). onnx shape inference then divides by zero: its own checker, and
    onnx.checker here, kill the process with SIGFPE. The export must therefore run with
    paddle2onnx's checker off; onnx.checker runs on the repaired file in ``run_onnx``.

    An adaptive average pool is linear and separable: along each spatial axis it is the
    matrix of ``adaptive_bins``. The node becomes ``A_h @ x @ A_w^T`` (an identity axis is
    skipped; parity/onnx_adaptive_pools.py). ``sizes`` are the pools' (input, output) spatial
    shapes recorded in eager mode, matched to the stride-0 nodes in graph order, which is
    execution order.
    """
    nodes = [(i, n) for i, n in enumerate(model.graph.node) if n.op_type == "AveragePool"
             and 0 in next((list(a.ints) for a in n.attribute if a.name == "strides"), [])]
    if nodes and len(nodes) != len(sizes):  # none at all: a paddle2onnx without the bug
        raise OnnxExportError(f"paddle2onnx wrote {len(nodes)} stride-0 AveragePool node(s) for {len(sizes)} "
                              "upsampling adaptive pool(s); cannot match them to repair them")
    for (index, node), (before, after) in reversed(list(zip(nodes, sizes))):
        kernel = next(list(a.ints) for a in node.attribute if a.name == "kernel_shape")
        strides = next(list(a.ints) for a in node.attribute if a.name == "strides")
        rank = len(kernel)
        before, after = [1] * (rank - len(before)) + before, [1] * (rank - len(after)) + after
        # paddle2onnx's kernel is in - (out - 1) * stride: the whole input on a stride-0 axis.
        if rank > 2 or any(s == 0 and k != i for s, k, i in zip(strides, kernel, before)):
            raise OnnxExportError(f"stride-0 AveragePool {node.name} (kernel {kernel}) does not fit an adaptive "
                                  f"pool from {before} to {after}")
        new_nodes, current = [], node.input[0]
        for axis, (n_in, n_out) in enumerate(zip(before, after)):
            if n_in == n_out:
                continue
            last = axis == rank - 1
            matrix = adaptive_bins(n_in, n_out)
            weight = onnx.numpy_helper.from_array(matrix.T if last else matrix, name=f"{node.name}_bins_{axis}")
            model.graph.initializer.append(weight)
            out = f"{node.name}_axis_{axis}"
            new_nodes.append(onnx.helper.make_node(
                "MatMul", [current, weight.name] if last else [weight.name, current], [out], name=out))
            current = out
        new_nodes[-1].output[0] = node.output[0]
        del model.graph.node[index]
        for offset, new in enumerate(new_nodes):
            model.graph.node.insert(index + offset, new)
    return len(nodes)


def export_paddle(layer: paddle.nn.Layer, x: np.ndarray, path: str | Path, opset: int = DEFAULT_OPSET,
                  input_name: str = "x", dynamic_batch: bool = False) -> str:
    """Export ``layer`` (float32, eval) for ``x``'s input shape (any batch size with ``dynamic_batch``)
    via jit.save and paddle2onnx."""
    import paddle2onnx

    layer.eval()
    upsampling = _upsampling_adaptive_pools(layer, x)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "model")
        spec = [paddle.static.InputSpec([None if dynamic_batch else x.shape[0], *x.shape[1:]], "float32", input_name)]
        try:
            with _captured_fds() as log, methods_converted_once():  # parity/dy2static_cache.py
                paddle.jit.save(layer, prefix, input_spec=spec)
        except Exception as exc:
            raise OnnxExportError(f"paddle.jit.save failed: {type(exc).__name__}: {exc}") from exc
        model_file = prefix + ".json" if os.path.exists(prefix + ".json") else prefix + ".pdmodel"
        log: list[str] = []
        try:
            with _captured_fds() as log:
                paddle2onnx.export(model_file, prefix + ".pdiparams", str(path), opset_version=opset,
                                   enable_onnx_checker=not upsampling, optimize_tool="None", verbose=False)
        except SystemExit as exc:  # paddle2onnx exits the process on a conversion error
            raise OnnxExportError(f"paddle2onnx exited ({exc.code}): {messages.tail(''.join(log), 800)}") from None
        except Exception as exc:
            raise OnnxExportError(f"paddle2onnx failed: {exc}: {messages.tail(''.join(log), 800)}") from exc
    if not os.path.exists(path):
        raise OnnxExportError(f"paddle2onnx wrote no file: {messages.tail(''.join(log), 800)}")
    model = onnx.load(str(path))
    repairs = []
    if (n := repair_lrn_pad_constants(model)):
        repairs.append(f"pad value of {n} LRN Pad node(s) set to 0")
    if upsampling and (n := repair_upsampling_adaptive_pools(model, upsampling)):
        repairs.append(f"{n} stride-0 AveragePool node(s) of upsampling adaptive pools rewritten as MatMul")
    if repairs:
        onnx.save(model, str(path))
        return f"paddle.jit.save + paddle2onnx (repaired: {'; '.join(repairs)})"
    return "paddle.jit.save + paddle2onnx"


def run_onnx(path: str | Path, x: np.ndarray) -> list[np.ndarray]:
    """Check the model with onnx.checker and run it in onnxruntime on ``x``."""
    # Given the path, the checker reads the file in C++: a loaded model would be parsed into
    # Python and serialized again for it (8 s of VGG-11's 530 MB file, measured 2026-12-04).
    onnx.checker.check_model(str(path), full_check=True)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # As many threads as the process was given (one per --jobs worker), not a fixed two.
    opts.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.asarray(x, dtype=np.float32)})


def check_onnx(torch_model: torch.nn.Module, paddle_model: paddle.nn.Layer, x: np.ndarray,
               opset: int = DEFAULT_OPSET, out_dir: str | Path | None = None) -> list[Check]:
    """Export both (float32, eval, same weights) and compare ORT against eager and each other.

    Returns three checks: onnx_torch (ORT vs torch eager), onnx_paddle (ORT vs paddle
    eager) and onnx_cross (the two ONNX files against each other). A failed export is a
    failed check whose detail carries the exporter's message.
    """
    progress.phase("onnx")
    torch_model.float().eval()
    paddle_model.to(dtype="float32")
    paddle_model.eval()
    x = np.asarray(x, dtype=np.float32)
    with torch.no_grad():
        t_eager = [W.to_numpy(t) for t in tensors(torch_model(torch.from_numpy(x)))]
    with paddle.no_grad():
        p_eager = [W.to_numpy(t) for t in tensors(paddle_model(paddle.to_tensor(x)))]
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
                                    detail=f"{type(exc).__name__}: {messages.shorten(str(exc), 600)}"))
                continue
            results[side] = got
            check = judge("onnx", "float32", [(f"output[{i}]", e, g) for i, (e, g) in enumerate(zip(eager, got))])
            check.name = f"onnx_{side}"
            if len(got) != len(eager):
                check.passed = False
                check.detail = f"ONNX returns {len(got)} outputs, eager {len(eager)}"
            check.detail = f"{how}, opset {opset}, onnx.checker ok" + (f"; {check.detail}" if check.detail else "")
            checks.append(check)
    if results.get("torch") is not None and results.get("paddle") is not None:
        cross = judge("onnx", "float32", [(f"output[{i}]", a, b) for i, (a, b)
                                           in enumerate(zip(results["torch"], results["paddle"]))])
        cross.name = "onnx_cross"
        cross.detail = "torch ONNX vs paddle ONNX in onnxruntime" + (f"; {cross.detail}" if cross.detail else "")
        checks.append(cross)
    else:
        checks.append(Check("onnx_cross", False, detail="needs both exports"))
    return checks
