"""The step checks of one comparison run step 1's forward and backward once
(parity/first_step.py): the SGD check keeps each side's state right after step 1's backward,
and the Adam check replays it (in float32 paddle runs its train-mode forward there, since it
steps on torch's gradients). Step 1 starts from the same weights on the same batch whatever
the optimizer, so the replayed check must be the check it replaces, number for number, and a
mistake that only an optimizer step shows must still fail it."""
from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import parity.compare
import torch_impl
import zoo
from parity import first_step
from parity.compare import compare_modules
from parity.modes import built_in
from parity.noinit import paddle_init_skipped
from tests.twins import INPUT_SHAPE, PaddleTwin, PaddleTwinBiasLr, TorchTwin

STEPS = 2


def _no_replay(monkeypatch) -> None:
    """check_steps as it ran before the replay: without the shared first-step trail."""
    original = parity.compare.check_steps

    def without(*args, **kwargs):
        kwargs.pop("first", None)
        return original(*args[:11], **kwargs)  # the 12th positional argument is the first-step trail

    monkeypatch.setattr(parity.compare, "check_steps", without)


class _Calls:
    """Counts torch forwards, paddle forwards and paddle backwards through one parameter."""

    def __init__(self, t_model: torch.nn.Module, p_model: paddle.nn.Layer) -> None:
        self.torch_forward = self.paddle_forward = self.paddle_backward = 0
        t_model.register_forward_pre_hook(lambda *_: self._add("torch_forward"))
        p_model.register_forward_pre_hook(lambda *_: self._add("paddle_forward"))
        next(iter(p_model.parameters())).register_hook(lambda g: self._add("paddle_backward"))

    def _add(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)


def _registered(name: str, dims: int, dtype: str):
    info = zoo.get(name)
    kwargs = info.build_kwargs(dims, info.check_size(dims))
    torch.manual_seed(0)
    with built_in(dtype):
        t_model = torch_impl.build(name, **kwargs)
        with paddle_init_skipped():
            p_model = paddle_impl.build(name, **kwargs)
    x = np.random.RandomState(0).standard_normal(info.input_shape(dims, 4, info.check_size(dims)))
    return t_model, p_model, x.astype(dtype), kwargs["num_classes"]


def _steps(name: str, dims: int, dtype: str) -> tuple[dict, _Calls]:
    t_model, p_model, x, num_classes = _registered(name, dims, dtype)
    calls = _Calls(t_model, p_model)
    report = compare_modules(t_model, p_model, inputs=x, dtype=dtype, num_classes=num_classes, steps=STEPS)
    assert report.ok, str(report)
    return {c.name: (c.passed, c.max_abs, c.max_rel, c.norm_rel, c.detail)
            for c in report.checks if c.name in ("sgd_steps", "adam_steps")}, calls


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,dims", [("lenet_bn", 2), ("resnet18", 1)])
def test_replayed_first_step_gives_the_same_step_checks(monkeypatch, name, dims, dtype):
    monkeypatch.setattr(first_step, "KEEP_ABOVE_S_PER_GB", 0.0)  # float64 keeps step 1 however fast it was
    replayed, with_replay = _steps(name, dims, dtype)
    with monkeypatch.context() as m:
        _no_replay(m)
        recomputed, without_replay = _steps(name, dims, dtype)
    # the same numbers, the noise-level zeroing's counts in the details included
    assert replayed == recomputed
    # the Adam check's step 1: no torch forward or backward, nor paddle's backward; paddle's
    # forward only in float32, where it steps on torch's gradients
    assert with_replay.torch_forward == without_replay.torch_forward - 1
    assert with_replay.paddle_forward == without_replay.paddle_forward - (dtype == "float64")
    assert with_replay.paddle_backward == without_replay.paddle_backward - 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float64_recomputes_a_step_1_cheaper_than_its_writes(monkeypatch, dtype):
    """Where a side's forward and backward cost less than writing its gradients would
    (first_step.worth_keeping), float64 runs step 1 again; float32 replays torch's, which it
    writes for paddle anyway."""
    monkeypatch.setattr(first_step, "KEEP_ABOVE_S_PER_GB", float("inf"))
    replayed, with_rule = _steps("resnet18", 1, dtype)
    with monkeypatch.context() as m:
        _no_replay(m)
        recomputed, without_replay = _steps("resnet18", 1, dtype)
    assert replayed == recomputed
    assert with_rule.torch_forward == without_replay.torch_forward - (dtype == "float32")
    assert with_rule.paddle_backward == without_replay.paddle_backward - (dtype == "float32")
    assert with_rule.paddle_forward == without_replay.paddle_forward


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("paddle_model,failing", [
    (lambda: PaddleTwinBiasLr(), {"sgd_steps", "adam_steps"}),
    (lambda: PaddleTwin("bn_momentum"), {"sgd_steps", "adam_steps", "bn_stats"}),
])
def test_a_replayed_adam_check_still_fails_a_step_mistake(monkeypatch, paddle_model, failing, dtype):
    """The lr_mult mistake is in paddle's update, the momentum one in the BatchNorm statistics
    that paddle's step-1 forward moves (in float64 the replay puts back the statistics that the
    SGD check's step-1 forward left): the replayed Adam check still sees both."""
    monkeypatch.setattr(first_step, "KEEP_ABOVE_S_PER_GB", 0.0)
    torch.manual_seed(0)
    paddle.seed(0)
    x = np.random.RandomState(0).standard_normal(INPUT_SHAPE).astype(dtype)
    with built_in(dtype):
        t_model, p_model = TorchTwin(), paddle_model()
    report = compare_modules(t_model, p_model, inputs=x, dtype=dtype, num_classes=5, steps=STEPS)
    assert failing <= {c.name for c in report.failed()}, str(report)
