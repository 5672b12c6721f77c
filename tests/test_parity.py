"""Every registered model through the parity checks, parametrized over the registry, so a
model is covered the moment it is registered.

- ``test_parity``: every model, 1D and 2D, float64 and float32, every check; ONNX (float32
  only: onnxruntime has no float64 Conv) runs with the float32 case. The cases of models
  marked ``heavy`` in the registry carry the ``heavy`` mark, which the default run
  (``python -m pytest``, what CI runs) deselects; ``python -m pytest -m heavy`` runs them.
- ``test_parity_light``: the heavy models in the default run, so that every model is
  parity-checked in CI: float64 in 2D at the parity size, the structure, the weight copy,
  the eval output, the train-mode loss, input and parameter gradients and the BatchNorm
  statistics. The optimizer steps and ONNX are what it leaves to the heavy run: for
  VGG-16 they are most of the cost (138M parameters compared after every step), and the
  optimizers and exporters they exercise are the same for every model of a family.

The step checks run 2 optimizer steps here (the CLI runs 3): the second step is the first
that uses SGD's momentum buffer and Adam's running moments, which is what they check.
"""
import pytest

import zoo
from parity.harness import run_model
from parity.report import format_report

CI_STEPS = 2
TRAIN_CHECKS = {"structure", "copy", "eval_forward", "train_loss", "train_input_grad", "train_param_grads", "bn_stats"}

CASES = [
    pytest.param(name, dims, dtype, id=f"{name}-{dims}d-{dtype}",
                 marks=[pytest.mark.heavy] if zoo.get(name).heavy else [])
    for name in zoo.names() for dims in (1, 2) for dtype in ("float64", "float32")
]
HEAVY = [name for name in zoo.names() if zoo.get(name).heavy]


@pytest.mark.parametrize("name,dims,dtype", CASES)
def test_parity(name, dims, dtype):
    report = run_model(name, dims, dtype, onnx=dtype == "float32", steps=CI_STEPS)
    assert report.ok, "\n" + format_report(report)
    expected = TRAIN_CHECKS | {"sgd_steps", "adam_steps"}
    if dtype == "float32":
        expected |= {"onnx_torch", "onnx_paddle", "onnx_cross"}
    assert expected <= {c.name for c in report.checks}


@pytest.mark.parametrize("name", HEAVY)
def test_parity_light(name):
    report = run_model(name, 2, "float64", onnx=False, steps=0)
    assert report.ok, "\n" + format_report(report)
    assert TRAIN_CHECKS <= {c.name for c in report.checks}


def test_every_model_is_checked_in_the_default_run():
    """Each registered model has at least one parity case without the heavy mark."""
    light = {p.values[0] for p in CASES if not p.marks} | set(HEAVY)
    assert light == set(zoo.names())
