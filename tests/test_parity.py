"""Every registered model, 1D and 2D, float64 and float32, through every parity check.

Parametrized over the registry, so a model is covered the moment it is registered.
ONNX (float32 only: onnxruntime has no float64 Conv) runs with the float32 case.
"""
import pytest

import zoo
from parity.harness import run_model
from parity.report import format_report

CASES = [
    pytest.param(name, dims, dtype, id=f"{name}-{dims}d-{dtype}",
                 marks=[pytest.mark.heavy] if zoo.get(name).heavy else [])
    for name in zoo.names() for dims in (1, 2) for dtype in ("float64", "float32")
]


@pytest.mark.parametrize("name,dims,dtype", CASES)
def test_parity(name, dims, dtype):
    info = zoo.get(name)
    report = run_model(name, dims, dtype, onnx=dtype == "float32", batch=info.parity_batch)
    assert report.ok, "\n" + format_report(report)
    expected = {"structure", "copy", "eval_forward", "train_loss", "train_input_grad", "train_param_grads",
                "bn_stats", "sgd_steps", "adam_steps"}
    if dtype == "float32":
        expected |= {"onnx_torch", "onnx_paddle", "onnx_cross"}
    assert expected <= {c.name for c in report.checks}
