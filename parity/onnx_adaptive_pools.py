"""Adaptive average pools as MatMuls in ONNX, where neither exporter writes them directly.

ONNX has no adaptive pool. An exporter writes one as an AveragePool whose kernel and stride
come from the input and output sizes, which is exact only where the output size divides
the input size. Elsewhere:

- torch's TorchScript exporter (``torch.onnx.export(dynamo=False)``) refuses ("output size
  that are not factor of input size"), and ``parity.onnx_check.export_torch`` fell back to
  the slower dynamo exporter in 22 float32 parity cases of ``python -m parity all`` (VGG's
  7x7 pool sees 1x1 maps at the parity size; AlexNet's 6x6 pool likewise). One ONNX check,
  fresh process each, on 2026-12-08: VGG-16 2D 25.1 and 24.5 s with the fallback, 22.8 and
  22.7 s with the MatMuls; VGG-11 1D 8.9 -> 5.9 s; AlexNet 2D 10.4 -> 9.5 s.
- paddle2onnx 2.1.0 writes an AveragePool with stride 0, which onnx's shape inference cannot
  read (``parity.onnx_check.repair_upsampling_adaptive_pools`` rewrites it).

An adaptive average pool is linear and separable: along each spatial axis it multiplies by
the [out, in] matrix of ``adaptive_bins``, whose row i averages the input positions
``floor(i*in/out)`` to ``ceil((i+1)*in/out)``, torch's and paddle's bins alike. Both fixes
write it as ``A_h @ x @ A_w^T`` (an axis whose size does not change is skipped).

``torch_pools_as_matmuls()`` lets the TorchScript exporter do that for the pools it
refuses, and leaves the ones it exports to its own symbolic. The onnx_torch check compares
the file's output with torch's eager output, so the lowering is checked wherever it runs.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
import torch.onnx.symbolic_helper as sym_help
import torch.onnx.symbolic_opset9 as opset9


def adaptive_bins(n_in: int, n_out: int) -> np.ndarray:
    """The [n_out, n_in] float32 matrix of an adaptive average pool along one axis."""
    bins = np.zeros((n_out, n_in), dtype=np.float32)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        bins[i, start:end] = 1.0 / (end - start)
    return bins


def _lowered(builtin, rank: int):
    """A TorchScript symbolic for an adaptive average pool of ``rank`` spatial axes: MatMuls
    where the sizes are known and some output size does not divide its input size, else
    torch's own ``builtin``."""

    def symbolic(g, x, output_size):
        sizes = sym_help._get_tensor_sizes(x)
        wanted = sym_help._maybe_get_const(output_size, "is")
        if (sizes is None or len(sizes) != rank + 2 or not isinstance(wanted, (list, tuple))
                or len(wanted) != rank):
            return builtin(g, x, output_size)
        spatial = sizes[2:]
        if any(not isinstance(n, int) for n in spatial) or all(n % o == 0 for n, o in zip(spatial, wanted)):
            return builtin(g, x, output_size)
        dtype = {"Double": np.float64, "Half": np.float16}.get(x.type().scalarType(), np.float32)
        current = x
        for axis, (n_in, n_out) in enumerate(zip(spatial, wanted)):
            if n_in == n_out:
                continue
            matrix = adaptive_bins(n_in, n_out).astype(dtype)
            if axis == rank - 1:  # the last axis: x @ A^T
                weight = g.op("Constant", value_t=torch.from_numpy(np.ascontiguousarray(matrix.T)))
                current = g.op("MatMul", current, weight)
            else:  # an earlier axis (2D height): A @ x, broadcast over batch and channels
                weight = g.op("Constant", value_t=torch.from_numpy(matrix))
                current = g.op("MatMul", weight, current)
        return current

    return symbolic


_POOLS = {"aten::adaptive_avg_pool1d": (opset9.adaptive_avg_pool1d, 1),
          "aten::adaptive_avg_pool2d": (opset9.adaptive_avg_pool2d, 2)}


@contextlib.contextmanager
def torch_pools_as_matmuls(opset: int) -> Iterator[None]:
    """Inside, the TorchScript exporter at ``opset`` writes the adaptive average pools it
    would refuse as MatMuls (see the module docstring); its own symbolics are back after."""
    for name, (builtin, rank) in _POOLS.items():
        torch.onnx.register_custom_op_symbolic(name, _lowered(builtin, rank), opset)
    try:
        yield
    finally:
        for name in _POOLS:
            torch.onnx.unregister_custom_op_symbolic(name, opset)
