"""parity.steps.zero_noise: the float64 step checks zero a gradient element only where it is
within the noise floor on both sides, in each side's own layout (a Linear weight is transposed)."""
from __future__ import annotations

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
