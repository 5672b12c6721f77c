"""A float32 step check that fails at step 1 keeps torch's files until its verdict, and its
rejudge replays torch's run from them instead of running it again
(parity.steps.torch_shared_twin_replayed). torch's run is the same computation from the same
weights, so the rejudge must give the same numbers either way, with fewer torch passes."""
from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

from parity import steps
from parity.compare import compare_modules
from parity.modes import built_in
from tests.twins import INPUT_SHAPE, PaddleTwin, PaddleTwinBiasLr, TorchTwin


def _report(paddle_model):
    torch.manual_seed(0)
    paddle.seed(0)
    x = np.random.RandomState(0).standard_normal(INPUT_SHAPE).astype("float32")
    with built_in("float32"):
        t_model, p_model = TorchTwin(), paddle_model()
    forwards = []
    t_model.register_forward_pre_hook(lambda *_: forwards.append(1))
    report = compare_modules(t_model, p_model, inputs=x, dtype="float32", num_classes=5, steps=2)
    return {c.name: c for c in report.checks}, len(forwards)


@pytest.mark.parametrize("paddle_model", [lambda: PaddleTwin("bn_momentum"), PaddleTwinBiasLr],
                         ids=["bn_momentum", "bias_lr_mult"])
def test_the_replayed_rejudge_gives_the_rerun_numbers(monkeypatch, paddle_model):
    replayed, calls = [], []
    original = steps.torch_shared_twin_replayed
    monkeypatch.setattr(steps, "torch_shared_twin_replayed",
                        lambda *a, **k: replayed.append(original(*a, **k)) or replayed[-1])
    with_replay, replay_forwards = _report(paddle_model)
    assert len(replayed) == 2  # SGD's and Adam's rejudges
    monkeypatch.setattr(steps, "KEEP_FOR_REJUDGE_MAX_BYTES", 0)
    rerun = steps.torch_shared_twin_steps
    monkeypatch.setattr(steps, "torch_shared_twin_steps", lambda *a, **k: calls.append(rerun(*a, **k)) or calls[-1])
    without, rerun_forwards = _report(paddle_model)
    assert len(calls) == 2 and len(replayed) == 2
    assert replay_forwards == rerun_forwards - 2 * 2  # no torch float32 forward in either rejudge's 2 steps
    assert replayed == calls  # torch's own error, as the rerun measures it
    for name in ("sgd_steps", "adam_steps"):
        a, b = with_replay[name], without[name]
        assert not a.passed and "stepping on the same gradients" in a.detail
        assert (a.passed, a.max_abs, a.max_rel, a.norm_rel, a.tol, a.detail) == \
            (b.passed, b.max_abs, b.max_rel, b.norm_rel, b.tol, b.detail)


def test_a_passing_check_keeps_no_files_for_a_rejudge(monkeypatch):
    monkeypatch.setattr(steps, "torch_shared_twin_replayed", lambda *a, **k: pytest.fail("no rejudge to replay"))
    checks, _ = _report(PaddleTwin)
    assert checks["sgd_steps"].passed and checks["adam_steps"].passed
