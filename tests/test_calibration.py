"""The harness's BatchNorm calibration pass: how many samples it takes, and that it keeps a
randomised deep net's eval forward well-conditioned, so that a float32 eval check can only
fail on a real difference (EfficientNet-B6 1D failed its float32 eval on rounding alone with
the default 64 positions: torch float32 against torch float64 differed by 0.64); and how a
float64 model's pass runs in float32 without touching its weights or hiding a float32 copy."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import torch_impl
import zoo
from parity.compare import CALIBRATION_BATCH, CALIBRATION_POSITIONS, calibration_samples
from parity.randomize import BATCH_NORMS, calibrate_batchnorm, randomize_degenerate


def test_calibration_samples_give_the_deepest_map_its_positions_within_the_cap():
    assert calibration_samples((4, 3, 32, 32)) == CALIBRATION_BATCH  # 1 position a sample, capped at 16
    assert calibration_samples((1, 3, 224, 224)) == 2  # 7x7 = 49 a sample: 2 give 64
    assert calibration_samples((2, 3, 128), 256, 256) == 64  # 4 a sample
    assert calibration_samples((8, 3, 32, 32), 256, 256) == 256
    assert calibration_samples((32, 3, 224, 224)) == 32  # never fewer than the batch
    assert CALIBRATION_POSITIONS == 64


@pytest.mark.parametrize("name", [n for n in zoo.names() if zoo.get(n).family == "efficientnet"])
def test_efficientnet_asks_for_more_calibration(name):
    assert zoo.get(name).calibration == (256, 256)


def _f32_against_f64(name: str, dims: int, calibration: tuple[int, int]) -> float:
    info = zoo.get(name)
    size = info.check_size(dims)
    torch.manual_seed(0)
    model = torch_impl.build(name, **info.build_kwargs(dims, size)).float()
    x = np.random.RandomState(0).standard_normal(info.input_shape(dims, info.parity_batch, size))
    randomize_degenerate(model, 0)
    n = calibration_samples(x.shape, *calibration)
    calibrate_batchnorm(model, np.random.RandomState([0, 8191]).standard_normal((n,) + x.shape[1:]).astype("float32"))
    wide = copy.deepcopy(model).double()
    model.eval()
    wide.eval()
    with torch.no_grad():
        a, b = model(torch.from_numpy(x.astype("float32"))).double(), wide(torch.from_numpy(x))
    return float((a - b).abs().max() / b.abs().max())


def test_calibrated_efficientnet_eval_is_well_conditioned_in_float32():
    # Measured 2026-12-03: 4.1e-5 with the default (64, 16), 7.0e-6 with EfficientNet's (256, 256).
    assert _f32_against_f64("efficientnet_b0", 2, zoo.get("efficientnet_b0").calibration) < 2e-5
    assert _f32_against_f64("efficientnet_b0", 2, (CALIBRATION_POSITIONS, CALIBRATION_BATCH)) > 2e-5


def _float64_model(name: str, dims: int = 1) -> tuple[torch.nn.Module, np.ndarray]:
    info = zoo.get(name)
    size = info.check_size(dims)
    torch.manual_seed(0)
    model = torch_impl.build(name, **info.build_kwargs(dims, size)).double()
    randomize_degenerate(model, 0)
    x = np.random.RandomState([0, 8191]).standard_normal((16,) + info.input_shape(dims, 1, size)[1:])
    return model, x


def _statistics(model: torch.nn.Module) -> list[torch.Tensor]:
    """Every BatchNorm's running mean and variance, in module order."""
    return [s for m in model.modules() if isinstance(m, BATCH_NORMS) for s in (m.running_mean, m.running_var)]


def _float64_pass(model: torch.nn.Module, x: np.ndarray) -> list[torch.Tensor]:
    """The statistics a plain float64 train-mode pass sets (momentum 1), on a copy of ``model``."""
    wide = copy.deepcopy(model)
    for m in wide.modules():
        if isinstance(m, BATCH_NORMS):
            m.momentum = 1.0
    wide.train()
    with torch.no_grad():
        wide(torch.from_numpy(x))
    return _statistics(wide)


@pytest.mark.parametrize("name", ["resnet18", "vgg11_bn"])
def test_a_float64_model_is_calibrated_in_float32_with_its_weights_untouched(name):
    """The float64 calibration pass runs in float32: the statistics match a float64 pass's to
    float32 rounding, are float64 with full mantissas, and nothing else changes, dtype
    included. The classifier, after the last BatchNorm, never runs (VGG-11-BN's Linear
    weights, most of its weights, are never copied)."""
    model, x = _float64_model(name)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running_" not in k}
    want = _float64_pass(model, x)
    ran = []
    head = model.classifier if name.startswith("vgg") else model.fc
    head.register_forward_hook(lambda *_: ran.append(True))
    assert calibrate_batchnorm(model, x) == len(want) // 2
    after = model.state_dict()
    for key, value in before.items():
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key
    for g, w in zip(_statistics(model), want):
        assert g.dtype == torch.float64
        assert float((g - w).abs().max() / w.abs().max()) < 1e-4
        # a float32 round trip of these values (a converter's) changes them: the copy check sees it
        assert not torch.equal(g, g.float().double())
    assert not ran
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_a_copy_that_rounds_batchnorm_statistics_through_float32_fails_the_copy_check(monkeypatch):
    """The statistics of a float32 calibration pass, cast to float64 alone, would come back
    from a float32 round trip bit for bit; with _full_mantissas the copy check sees it."""
    import paddle_impl
    from parity import bridge
    from parity.compare import compare_modules

    load = bridge.load_from_torch

    def rounding_statistics(paddle_module, state, triples):
        state = {k: v.float().double() if "running_" in k else v for k, v in state.items()}
        return load(paddle_module, state, triples)

    monkeypatch.setattr(bridge, "load_from_torch", rounding_statistics)
    info = zoo.get("lenet_bn")
    kwargs = info.build_kwargs(1, info.check_size(1))
    report = compare_modules(torch_impl.build("lenet_bn", **kwargs), paddle_impl.build("lenet_bn", **kwargs),
                             input_shape=info.input_shape(1, 4, info.check_size(1)), dtype="float64", steps=0,
                             train=False)
    copy_check = next(c for c in report.checks if c.name == "copy")
    assert not copy_check.passed and "running_var" in copy_check.detail


class _Float64Only(torch.nn.Module):
    """A user's model that makes a float64 tensor of its own: it cannot run in float32."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(3, 4, 3)
        self.bn = torch.nn.BatchNorm1d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x) + torch.ones(1, dtype=torch.float64))


def test_a_model_that_cannot_run_in_float32_is_calibrated_in_float64():
    torch.manual_seed(0)
    model = _Float64Only().double()
    x = np.random.RandomState(0).standard_normal((8, 3, 16))
    want = _float64_pass(model, x)
    assert calibrate_batchnorm(model, x) == 1
    assert all(p.dtype == torch.float64 for p in model.state_dict().values() if p.is_floating_point())
    assert torch.equal(model.bn.running_mean, want[0]) and torch.equal(model.bn.running_var, want[1])
