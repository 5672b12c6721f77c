"""parity.steps.zero_noise: the float64 step checks zero a gradient element only where it is
within the noise floor on both sides, in each side's own layout (a Linear weight is transposed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from parity import steps
from parity.steps import zero_noise


def test_zero_noise_masks_both_layouts_only_where_both_sides_are_noise():
    t = torch.tensor([[0.0, 1e-12, 2.0], [3.0, -1e-12, 4e-13], [0.0, 1.0, 1.0]], dtype=torch.float64)
    # paddle's layout of the same Linear weight (the transpose): [0][1] is noise on torch's side
    # only; [2][0] is noise on paddle's side against torch's exact 0
    p = torch.tensor([[0.0, 5.0, 3e-14], [1e-13, -1e-13, 1.0], [1.0, 7.0, 1.0]], dtype=torch.float64)
    assert zero_noise(t, p, True, 1e-10) == 3  # both zeros at [0][0] change nothing and are not counted
    assert t.tolist() == [[0.0, 0.0, 2.0], [3.0, 0.0, 4e-13], [0.0, 1.0, 1.0]]
    assert p.tolist() == [[0.0, 5.0, 0.0], [0.0, 0.0, 1.0], [1.0, 7.0, 1.0]]


def test_zero_noise_leaves_a_gradient_with_no_noise_alone():
    t, p = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    assert zero_noise(t, p, False, 1e-10) == 0
    assert t.tolist() == [1.0, 1.0, 1.0]


def test_zero_noise_follows_a_gradient_with_a_parameters_strides():
    t = torch.tensor([[1e-12, 2.0], [0.0, 3.0]], dtype=torch.float64).t()  # not contiguous
    p = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    assert zero_noise(t, p, False, 1e-10) == 1
    assert t.tolist() == [[0.0, 0.0], [2.0, 3.0]] and p.tolist() == [[0.0, 1.0], [2.0, 3.0]]


@pytest.mark.parametrize("chunk", [1, 2, 4, 5, 1 << 18])
def test_zero_noise_scans_in_chunks_and_finds_what_a_whole_tensor_scan_finds(monkeypatch, chunk):
    # The first test's pair, scanned a few elements at a time: chunk edges fall before, on
    # and after the noise elements, and the indices found in later chunks are offset right.
    monkeypatch.setattr(steps, "NOISE_CHUNK", chunk)
    t = torch.tensor([[0.0, 1e-12, 2.0], [3.0, -1e-12, 4e-13], [0.0, 1.0, 1.0]], dtype=torch.float64)
    p = torch.tensor([[0.0, 5.0, 3e-14], [1e-13, -1e-13, 1.0], [1.0, 7.0, 1.0]], dtype=torch.float64)
    assert steps._tiny(t, 1e-10).tolist() == [1, 4, 5] and steps._tiny(p, 1e-10).tolist() == [2, 3, 4]
    assert zero_noise(t, p, True, 1e-10) == 3
    assert t.tolist() == [[0.0, 0.0, 2.0], [3.0, 0.0, 4e-13], [0.0, 1.0, 1.0]]
    assert p.tolist() == [[0.0, 5.0, 0.0], [0.0, 0.0, 1.0], [1.0, 7.0, 1.0]]
    assert steps._tiny(torch.ones(3, dtype=torch.float64), 1e-10).tolist() == []


# --- the step checks' rule (noise_mask on torch's side, apply_noise_mask on paddle's) ----------

def _pair():
    # torch's [out, in] Linear weight gradient and paddle's [in, out] one of the same layer
    t = torch.tensor([[0.0, 1e-12, 2.0], [3.0, -1e-12, 4e-13], [0.0, 1.0, 1.0]], dtype=torch.float64)
    p = torch.tensor([[0.0, 5.0, 3e-14], [1e-13, -1e-13, 1.0], [1.0, 7.0, 1.0]], dtype=torch.float64)
    return t, p


@pytest.mark.parametrize("chunk", [1, 2, 4, 5, 1 << 18])
def test_torch_decides_the_noise_and_paddle_follows_within_the_slack(monkeypatch, chunk):
    monkeypatch.setattr(steps, "NOISE_CHUNK", chunk)
    t, p = _pair()
    bits, zeroed = steps.noise_mask(t, 1e-10, transpose=True)
    assert zeroed == 3  # 1e-12, -1e-12 and 4e-13; the exact zeros are in the mask but not counted
    assert t.tolist() == [[0.0, 0.0, 2.0], [3.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    # the mask comes in paddle's layout: torch's [1][2] (4e-13) is paddle's [2][1]
    assert np.unpackbits(bits, count=9).reshape(3, 3).tolist() == [[1, 0, 1], [1, 1, 0], [0, 1, 0]]
    kept = steps.apply_noise_mask(p, bits, 1e-10)
    # paddle's noise where torch has an exact 0 ([0][2]) goes; paddle's 7 where torch had 4e-13
    # is a real difference and stays, for the step to show
    assert kept == 1
    assert p.tolist() == [[0.0, 5.0, 0.0], [0.0, 0.0, 1.0], [1.0, 7.0, 1.0]]


def test_paddle_follows_torch_only_within_the_slack():
    floor = 1e-10
    t = torch.tensor([5e-11, 5e-11, 1.0], dtype=torch.float64)
    bits, zeroed = steps.noise_mask(t, floor, transpose=False)
    assert zeroed == 2
    # just above the floor on paddle's side (rounding at the boundary) is zeroed with torch's;
    # beyond NOISE_SLACK times the floor it is not
    p = torch.tensor([0.9 * steps.NOISE_SLACK * floor, 1.1 * steps.NOISE_SLACK * floor, 1.0], dtype=torch.float64)
    assert steps.apply_noise_mask(p, bits, floor) == 1
    assert p[0] == 0 and p[1] == 1.1 * steps.NOISE_SLACK * floor and p[2] == 1.0


def test_noise_mask_without_noise_leaves_the_gradient_alone():
    t = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    assert steps.noise_mask(t, 1e-10, transpose=False) == (None, 0)
    assert t.tolist() == [1.0, -2.0, 3.0]


def test_noise_mask_follows_a_gradient_with_a_parameters_strides():
    t = torch.tensor([[1e-12, 2.0], [0.0, 3.0]], dtype=torch.float64).t()  # not contiguous: [[1e-12, 0], [2, 3]]
    bits, zeroed = steps.noise_mask(t, 1e-10, transpose=False)
    assert zeroed == 1 and t.tolist() == [[0.0, 0.0], [2.0, 3.0]]
    assert np.unpackbits(bits, count=4).tolist() == [1, 1, 0, 0]  # in t's logical order
