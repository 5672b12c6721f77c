"""The float32 step checks judge paddle's own step-1 gradients (paddle then steps on torch's,
see parity.steps.SHARED_GRADIENTS): beyond the fixed bound, against 5x torch float32's own
distance from torch float64 on that batch at those weights. Only torch enters that
reference, so an ill-conditioned pair passes with both numbers stated, and a mistake in a
well-conditioned pair keeps its failure."""
from __future__ import annotations

import numpy as np
import paddle
import torch

from paddle_impl.layers import batch_norm
from parity.compare import compare_modules
from parity.steps import STEP_GRADIENT_FACTOR
from parity.judge import TOLERANCES

X = np.random.RandomState(0).standard_normal((4, 8)).astype(np.float32)
FIXED = STEP_GRADIENT_FACTOR * TOLERANCES["float32"]["train_param_grads"]


class TorchCancelling(torch.nn.Module):
    """With ``cancel``, h * 30 + 1e8 - 1e8: float32 keeps h * 30 only to 1e8's ulp of 8,
    float64 keeps it all. Without, plain h * 30 (well-conditioned)."""

    def __init__(self, cancel: bool = True) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 6)
        self.fc2 = torch.nn.Linear(6, 2)
        self.cancel = cancel

    def forward(self, x):
        h = self.fc1(x) * 30.0
        return self.fc2(h + 1e8 - 1e8 if self.cancel else h)


class PaddleCancelling(paddle.nn.Layer):
    """The same sum, rounded in another order (float32 rounds it differently from torch's)."""

    def __init__(self, cancel: bool = True, mistake: float = 1.0) -> None:
        super().__init__()
        self.fc1 = paddle.nn.Linear(8, 6)
        self.fc2 = paddle.nn.Linear(6, 2)
        self.cancel = cancel
        self.mistake = mistake

    def forward(self, x):
        h = self.fc1(x) * 30.0
        return self.fc2(self.mistake * ((h + 5e7) + 5e7 - 1e8 if self.cancel else h))


def test_ill_conditioned_step_gradients_are_judged_against_torchs_own_float32_error():
    report = compare_modules(TorchCancelling(), PaddleCancelling(), inputs=X, dtype="float32", steps=1,
                             num_classes=2)
    for name in ("sgd_steps", "adam_steps"):
        check = report.check(name)
        assert check.passed, str(report)
        detail = check.detail
        assert f"beyond the fixed {FIXED:.0e}" in detail and "torch float32 against torch float64 on that batch" \
            in detail, detail
        paddles = float(detail.split("paddle's own step-1 gradients differ from torch's by norm_rel ")[1].split(",")[0])
        assert paddles > FIXED, detail  # the rule was needed, not idle


def test_a_mistake_in_a_well_conditioned_pair_keeps_its_step_failure():
    report = compare_modules(TorchCancelling(cancel=False), PaddleCancelling(cancel=False, mistake=1.5), inputs=X,
                             dtype="float32", steps=1, num_classes=2)
    for name in ("sgd_steps", "adam_steps"):
        check = report.check(name)
        assert not check.passed, str(report)
        assert f"at step 1 (tolerance {FIXED:.0e})" in check.detail, check.detail
        assert "below the fixed bound, which stands" in check.detail, check.detail


def _counted(monkeypatch, name: str) -> list:
    """Wrap ``parity.steps.<name>`` so that each call's result is recorded in the returned list."""
    import parity.steps as steps

    calls = []
    wrapped = getattr(steps, name)

    def counted(*args, **kwargs):
        calls.append(wrapped(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(steps, name, counted)
    return calls


def test_torchs_own_step_one_error_is_measured_once_per_comparison(monkeypatch):
    # Step 1's gradients are taken at the initial weights on the first batch whatever the
    # optimizer, so the Adam check reuses what the SGD check measured: the same number in both
    # details, one measurement.
    calls = _counted(monkeypatch, "torch_own_gradient_error")
    report = compare_modules(TorchCancelling(), PaddleCancelling(), inputs=X, dtype="float32", steps=2,
                             num_classes=2)
    assert len(calls) == 1 and calls[0] > 0
    owns = {name: report.check(name).detail.split("torch float32 against torch float64 on that batch: ")[1]
            .split(",")[0] for name in ("sgd_steps", "adam_steps")}
    assert owns["sgd_steps"] == owns["adam_steps"] == f"{calls[0]:.1e}", owns


def test_paddles_step_one_gradients_are_judged_once_per_comparison(monkeypatch):
    # For the same reason paddle's own step-1 gradients, judged against torch's, are measured
    # by the SGD check and the number reused by the Adam check (in float32; in float64 each
    # side steps on its own gradients, and the steps themselves show them). A mistake still
    # fails both checks (test_a_mistake_in_a_well_conditioned_pair_keeps_its_step_failure).
    calls = _counted(monkeypatch, "errors")  # parity.steps measures only these gradients itself
    report = compare_modules(TorchNormed(), PaddleNormed(), inputs=X, dtype="float32", steps=2, num_classes=2)
    assert len(calls) == 1, calls
    agreed = {name: report.check(name).detail.split("agreed with them to norm_rel ")[1].split(";")[0]
              for name in ("sgd_steps", "adam_steps")}
    worst = max(e.norm_rel for _, e in calls[0])
    assert agreed["sgd_steps"] == agreed["adam_steps"] == f"{worst:.1e}", agreed


class TorchNormed(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 6)
        self.bn = torch.nn.BatchNorm1d(6)
        self.fc2 = torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


class PaddleNormed(paddle.nn.Layer):
    # paddle_impl's BatchNorm keeps torch's unbiased running variance; paddle's own keeps the
    # biased one (PITFALLS.md), which the step checks would rightly fail.
    def __init__(self, momentum: float = 0.1) -> None:
        super().__init__()
        self.fc1 = paddle.nn.Linear(8, 6)
        self.bn = batch_norm(1, 6, momentum=momentum)
        self.fc2 = paddle.nn.Linear(6, 2)

    def forward(self, x):
        return self.fc2(paddle.nn.functional.relu(self.bn(self.fc1(x))))


def test_float32_steps_take_paddles_own_gradients_at_step_one_only(monkeypatch):
    # paddle steps on torch's gradients in float32, so its own are needed only where they are
    # judged (step 1, in the first step check); otherwise it runs the train-mode forward
    # alone. Its BatchNorm statistics must still follow torch's through steps 2 and 3, and a momentum mistake,
    # which only the running statistics show, must still fail the step checks.
    calls = _counted(monkeypatch, "paddle_loss")  # one loss per paddle backward
    report = compare_modules(TorchNormed(), PaddleNormed(), inputs=X, dtype="float32", steps=3, num_classes=2)
    assert report.check("sgd_steps").passed and report.check("adam_steps").passed, str(report)
    # one backward, the SGD check's at step 1: the Adam check replays that step (test_first_step_replay.py)
    assert len(calls) == 1, calls
    assert "its own, at step 1, agreed with them to norm_rel" in report.check("sgd_steps").detail

    calls.clear()
    report = compare_modules(TorchNormed(), PaddleNormed(), inputs=X, dtype="float64", steps=3, num_classes=2)
    assert report.check("sgd_steps").passed and report.check("adam_steps").passed, str(report)
    # float64 steps each side on its own gradients, 3 backwards in the SGD check and 2 in
    # Adam's, which replays step 1 (parity/first_step.py)
    assert len(calls) == 5, calls

    report = compare_modules(TorchNormed(), PaddleNormed(momentum=0.2), inputs=X, dtype="float32", steps=3,
                             num_classes=2)
    for name in ("bn_stats", "sgd_steps", "adam_steps"):
        assert not report.check(name).passed, str(report)
