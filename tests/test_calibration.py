"""The harness's BatchNorm calibration pass: how many samples it takes, and that it keeps a
randomised deep net's eval forward well-conditioned, so that a float32 eval check can only
fail on a real difference (EfficientNet-B6 1D failed its float32 eval on rounding alone with
the default 64 positions: torch float32 against torch float64 differed by 0.64)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import torch_impl
import zoo
from parity.compare import CALIBRATION_BATCH, CALIBRATION_POSITIONS, calibration_samples
from parity.randomize import calibrate_batchnorm, randomize_degenerate


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
