"""The float32 step checks of one comparison run step 1's forward and backward once
(parity.steps.check_steps, ``first_step``): the SGD check keeps torch's step-1 gradients and
the buffers its forward left, and the Adam check replays them, with paddle running its
train-mode forward alone there. Step 1 starts from the same weights on the same batch
whatever the optimizer, so the replayed check must be the check it replaces, number for
number, and a mistake that only an optimizer step shows must still fail it."""
from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import parity.compare
import torch_impl
import zoo
from parity.compare import compare_modules
from parity.modes import built_in
from parity.noinit import paddle_init_skipped
from tests.twins import INPUT_SHAPE, PaddleTwin, TorchTwin

STEPS = 2


def _no_replay(monkeypatch) -> None:
    """check_steps as it ran before the replay: without the shared first-step trail."""
    original = parity.compare.check_steps

    def without(*args, **kwargs):
        kwargs.pop("first_step", None)
        return original(*args[:11], **kwargs)  # the 12th positional argument is first_step

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


def _registered(name: str, dims: int):
    info = zoo.get(name)
    kwargs = info.build_kwargs(dims, info.check_size(dims))
    torch.manual_seed(0)
    with built_in("float32"):
        t_model = torch_impl.build(name, **kwargs)
        with paddle_init_skipped():
            p_model = paddle_impl.build(name, **kwargs)
    x = np.random.RandomState(0).standard_normal(info.input_shape(dims, 4, info.check_size(dims)))
    return t_model, p_model, x.astype(np.float32), kwargs["num_classes"]


def _steps(name: str, dims: int) -> tuple[dict, _Calls]:
    t_model, p_model, x, num_classes = _registered(name, dims)
    calls = _Calls(t_model, p_model)
    report = compare_modules(t_model, p_model, inputs=x, dtype="float32", num_classes=num_classes, steps=STEPS)
    assert report.ok, str(report)
    return {c.name: (c.passed, c.max_abs, c.max_rel, c.norm_rel, c.detail)
            for c in report.checks if c.name in ("sgd_steps", "adam_steps")}, calls


@pytest.mark.parametrize("name,dims", [("lenet_bn", 2), ("resnet18", 1)])
def test_replayed_first_step_gives_the_same_step_checks(monkeypatch, name, dims):
    replayed, with_replay = _steps(name, dims)
    with monkeypatch.context() as m:
        _no_replay(m)
        recomputed, without_replay = _steps(name, dims)
    assert replayed == recomputed
    # the Adam check's step 1: no torch forward, and paddle's forward without its backward
    assert with_replay.torch_forward == without_replay.torch_forward - 1
    assert with_replay.paddle_forward == without_replay.paddle_forward
    assert with_replay.paddle_backward == without_replay.paddle_backward - 1


class _PaddleTwinBiasLr(PaddleTwin):
    """The twin with its first Linear's bias at Caffe's lr_mult 2: the same forward and
    gradients, a different update, which only the step checks can see."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = paddle.nn.Linear(64, 64, bias_attr=paddle.ParamAttr(learning_rate=2.0))


@pytest.mark.parametrize("paddle_model,failing", [
    (lambda: _PaddleTwinBiasLr(), {"sgd_steps", "adam_steps"}),
    (lambda: PaddleTwin("bn_momentum"), {"sgd_steps", "adam_steps", "bn_stats"}),
])
def test_a_replayed_adam_check_still_fails_a_step_mistake(paddle_model, failing):
    """The lr_mult mistake is in paddle's update, the momentum one in the BatchNorm statistics that
    paddle's step-1 forward moves: the replayed Adam check runs both on paddle's side."""
    torch.manual_seed(0)
    paddle.seed(0)
    x = np.random.RandomState(0).standard_normal(INPUT_SHAPE).astype(np.float32)
    report = compare_modules(TorchTwin(), paddle_model(), inputs=x, dtype="float32", num_classes=5, steps=STEPS)
    assert failing <= {c.name for c in report.failed()}, str(report)
