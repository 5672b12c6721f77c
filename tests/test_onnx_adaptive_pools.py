"""parity/onnx_adaptive_pools.py: the TorchScript exporter writes the adaptive average pools it
refuses as MatMuls, exactly; the pools it exports itself stay its own; and the ONNX check
would see a wrong lowering."""
import numpy as np
import onnx
import pytest
import torch

from parity import onnx_adaptive_pools as pools
from parity.judge import judge
from parity.onnx_check import export_torch, run_onnx
from tests._classic import assert_close


class _Pooled(torch.nn.Module):
    """A conv, then an adaptive average pool to ``out`` (1D or 2D), then a Linear."""

    def __init__(self, dims: int, out) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(3, 4, 1) if dims == 1 else torch.nn.Conv2d(3, 4, 1)
        self.pool = torch.nn.AdaptiveAvgPool1d(out) if dims == 1 else torch.nn.AdaptiveAvgPool2d(out)
        size = out if dims == 1 else int(np.prod(out))
        self.fc = torch.nn.Linear(4 * size, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.conv(x)), 1))


def _ops(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


@pytest.mark.parametrize("dims,shape,out", [
    (2, (2, 3, 1, 1), (7, 7)),   # VGG's pool at the parity size: 1x1 maps to 7x7
    (2, (2, 3, 3, 5), (7, 6)),   # larger and smaller, each axis its own
    (2, (2, 3, 13, 7), (6, 7)),  # AlexNet-like: 13 -> 6 down, 7 -> 7 unchanged
    (1, (2, 3, 1), 7),
    (1, (2, 3, 13), 6),
])
def test_refused_pools_export_as_matmuls_and_match_eager(tmp_path, dims, shape, out):
    torch.manual_seed(0)
    model = _Pooled(dims, out).eval()
    x = np.random.RandomState(0).standard_normal(shape).astype(np.float32)
    how = export_torch(model, x, tmp_path / "m.onnx")
    assert how == "torch.onnx (legacy)"
    ops = _ops(tmp_path / "m.onnx")
    assert "MatMul" in ops and "AveragePool" not in ops and "GlobalAveragePool" not in ops
    with torch.no_grad():
        eager = model(torch.from_numpy(x)).numpy()
    assert_close(run_onnx(tmp_path / "m.onnx", x)[0], eager, 1e-5)


def test_divisible_pools_stay_the_exporters_own(tmp_path):
    model = _Pooled(2, (2, 2)).eval()
    x = np.random.RandomState(1).standard_normal((2, 3, 4, 6)).astype(np.float32)
    assert export_torch(model, x, tmp_path / "m.onnx") == "torch.onnx (legacy)"
    assert "AveragePool" in _ops(tmp_path / "m.onnx")


def test_the_exporters_own_symbolic_is_back_after_the_block(tmp_path):
    model = _Pooled(2, (7, 7)).eval()
    x = torch.zeros(2, 3, 1, 1)
    with pools.torch_pools_as_matmuls(17):
        pass
    with pytest.raises(Exception, match="not factor of input size"):
        torch.onnx.export(model, (x,), str(tmp_path / "m.onnx"), dynamo=False, opset_version=17)


def test_a_wrong_lowering_fails_the_onnx_check(tmp_path, monkeypatch):
    # Bins that average one position too few (floor at both ends): the file runs, and only the
    # comparison with torch's eager output, as check_onnx judges it, can tell.
    def floor_bins(n_in, n_out):
        bins = np.zeros((n_out, n_in), dtype=np.float32)
        for i in range(n_out):
            start = (i * n_in) // n_out
            end = max(start + 1, ((i + 1) * n_in) // n_out)
            bins[i, start:end] = 1.0 / (end - start)
        return bins

    torch.manual_seed(0)
    model = _Pooled(2, (6, 6)).eval()
    x = np.random.RandomState(2).standard_normal((2, 3, 13, 13)).astype(np.float32)
    assert not np.allclose(floor_bins(13, 6), pools.adaptive_bins(13, 6))
    monkeypatch.setattr(pools, "adaptive_bins", floor_bins)
    assert export_torch(model, x, tmp_path / "m.onnx") == "torch.onnx (legacy)"
    with torch.no_grad():
        eager = model(torch.from_numpy(x)).numpy()
    check = judge("onnx", "float32", [("output[0]", eager, run_onnx(tmp_path / "m.onnx", x)[0])])
    assert not check.passed and check.max_rel > 100 * check.tol
