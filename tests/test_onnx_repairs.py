"""The two repairs parity/onnx_check.py applies to paddle2onnx 2.1.0 output.

1. ``repair_lrn_pad_constants``: the Pad inside an exported LocalResponseNorm gets an
   uninitialised pad value (paddle 3 names the attribute ``pad_value``, paddle2onnx reads
   ``value``). Whether a given export comes out wrong is chance, so the tests check the
   repaired files: every Pad of the LRN pattern pads with 0, other Pads are left alone, and
   onnxruntime matches eager.
2. ``repair_upsampling_adaptive_pools``: an adaptive average pool whose output is larger
   than its input becomes an AveragePool with stride 0, on which onnx shape inference dies
   with SIGFPE. The repaired file holds MatMuls with the adaptive bins.
"""
import os

import numpy as np
import onnx
import paddle
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import paddle_impl
import zoo
from parity.onnx_adaptive_pools import adaptive_bins
from parity.onnx_check import (OnnxExportError, export_paddle, repair_lrn_pad_constants, repair_upsampling_adaptive_pools,
                               run_onnx)
from tests._classic import assert_close, run_paddle


def _constant_values(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _pad_graph(lrn_pad_value: float, other_pad_value: float) -> onnx.ModelProto:
    """x -> Mul(x, x) -> Unsqueeze -> Pad -> AveragePool -> Squeeze (the LRN pattern), and an
    unrelated Pad of x."""
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
             numpy_helper.from_array(np.array([0, 0, 2, 0, 0, 0, 0, 2, 0, 0], dtype=np.int64), "lrn_pads"),
             numpy_helper.from_array(np.array(lrn_pad_value, dtype=np.float32), "lrn_value"),
             numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64), "other_pads"),
             numpy_helper.from_array(np.array(other_pad_value, dtype=np.float32), "other_value")]
    nodes = [
        helper.make_node("Mul", ["x", "x"], ["sq"]),
        helper.make_node("Unsqueeze", ["sq", "axes"], ["sq5"]),
        helper.make_node("Pad", ["sq5", "lrn_pads", "lrn_value"], ["padded"], mode="constant", name="lrn_pad"),
        helper.make_node("AveragePool", ["padded"], ["avg"], kernel_shape=[5, 1, 1]),
        helper.make_node("Squeeze", ["avg", "axes"], ["div"]),
        helper.make_node("Pad", ["x", "other_pads", "other_value"], ["other"], mode="constant", name="other_pad"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 3, 3])],
                              [helper.make_tensor_value_info("div", TensorProto.FLOAT, [1, 6, 3, 3]),
                               helper.make_tensor_value_info("other", TensorProto.FLOAT, [1, 6, 5, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _pad_value(model: onnx.ModelProto, pad_name: str) -> float:
    node = next(n for n in model.graph.node if n.name == pad_name)
    return float(_constant_values(model)[node.input[2]])


def test_lrn_pad_repair_touches_only_the_lrn_pattern():
    model = _pad_graph(lrn_pad_value=4.5e21, other_pad_value=1.5)
    assert repair_lrn_pad_constants(model) == 1
    assert _pad_value(model, "lrn_pad") == 0.0
    assert _pad_value(model, "other_pad") == 1.5
    onnx.checker.check_model(model, full_check=True)
    x = np.random.RandomState(0).standard_normal((1, 6, 3, 3)).astype(np.float32)
    import onnxruntime as ort

    div, _ = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    sq = np.pad(x ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    want = np.stack([sq[:, i:i + 5].mean(axis=1) for i in range(6)], axis=1)
    np.testing.assert_allclose(div, want, rtol=1e-6)


def _lrn_pads(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Pads whose output reaches an AveragePool through shape-only ops (the LRN pattern's pad)."""
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found = []
    for node in model.graph.node:
        if node.op_type != "Pad":
            continue
        nxt = consumers.get(node.output[0], [])
        while len(nxt) == 1 and nxt[0].op_type in ("Identity", "Squeeze", "Unsqueeze", "Reshape"):
            nxt = consumers.get(nxt[0].output[0], [])
        if [n.op_type for n in nxt] == ["AveragePool"]:
            found.append(node)
    return found


@pytest.mark.parametrize("name", ["alexnet_original", "zfnet"])
@pytest.mark.parametrize("dims", [1, 2])
def test_exported_lrn_pads_are_zero_and_onnxruntime_matches_eager(name, dims, tmp_path):
    info = zoo.get(name)
    size = info.check_size(dims)
    layer = paddle_impl.build(name, **info.build_kwargs(dims, size))
    layer.eval()
    x = np.random.RandomState(0).standard_normal(info.input_shape(dims, 2, size)).astype(np.float32)
    path = os.path.join(tmp_path, "model.onnx")
    how = export_paddle(layer, x, path)
    assert "pad value of 2 LRN Pad node(s) set to 0" in how
    model = onnx.load(path)
    pads = _lrn_pads(model)
    values = _constant_values(model)
    assert len(pads) == 2
    assert all(float(values[p.input[2]]) == 0.0 for p in pads)
    assert_close(run_onnx(path, x)[0], run_paddle(layer, x), 1e-4)


# --- upsampling adaptive pools -------------------------------------------------------------------------

@pytest.mark.parametrize("n_in,n_out", [(1, 7), (2, 7), (3, 6), (5, 7), (13, 6), (7, 7)])
def test_adaptive_bins_are_torchs(n_in, n_out):
    x = torch.from_numpy(np.random.RandomState(n_in).standard_normal((2, 3, n_in)))
    want = torch.nn.functional.adaptive_avg_pool1d(x, n_out).numpy()
    got = x.numpy() @ adaptive_bins(n_in, n_out).T.astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


class _Upsampler(paddle.nn.Layer):
    """A conv, an adaptive pool to 7 (larger than its input) and one to 3."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.conv = paddle.nn.Conv1D(3, 4, 1) if dims == 1 else paddle.nn.Conv2D(3, 4, 1)
        pool = paddle.nn.AdaptiveAvgPool1D if dims == 1 else paddle.nn.AdaptiveAvgPool2D
        self.up, self.down = pool(7), pool(3)

    def forward(self, x):
        return self.down(self.up(self.conv(x)))


@pytest.mark.parametrize("dims,side", [(2, 1), (2, 2), (2, 5), (1, 1), (1, 4)])
def test_upsampling_adaptive_pool_exports(dims, side, tmp_path):
    layer = _Upsampler(dims)
    layer.eval()
    x = np.random.RandomState(side).standard_normal((2, 3) + (side,) * dims).astype(np.float32)
    path = os.path.join(tmp_path, "model.onnx")
    how = export_paddle(layer, x, path)
    assert "1 stride-0 AveragePool node(s) of upsampling adaptive pools rewritten as MatMul" in how
    model = onnx.load(path)
    strides = [list(a.ints) for n in model.graph.node if n.op_type == "AveragePool"
               for a in n.attribute if a.name == "strides"]
    assert all(0 not in s for s in strides)
    assert_close(run_onnx(path, x)[0], run_paddle(layer, x), 1e-5)


def test_upsampling_repair_refuses_what_it_cannot_match():
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[1, 1], strides=[0, 0], name="p")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 7, 7])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(OnnxExportError, match="cannot match"):
        repair_upsampling_adaptive_pools(model, [])
    with pytest.raises(OnnxExportError, match="does not fit"):
        repair_upsampling_adaptive_pools(model, [([2, 2], [7, 7])])
    assert repair_upsampling_adaptive_pools(model, [([1, 1], [7, 7])]) == 1
    assert [n.op_type for n in model.graph.node] == ["MatMul", "MatMul"]
