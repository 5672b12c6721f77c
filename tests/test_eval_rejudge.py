"""The float32 eval rejudge (parity.references.rejudge_eval_float32): a failed float32 eval
check passes only within 5x torch float32's own error against torch float64 on the same
module and input; a well-conditioned module keeps its failure."""
from __future__ import annotations

import numpy as np
import torch

from parity.judge import Check
from parity.references import rejudge_eval_float32


class Cancelling(torch.nn.Module):
    """x * 1e4 + 1e8 - 1e8: float32 rounds to 1e8's ulp of 8, float64 keeps x * 1e4."""

    def forward(self, x):
        return x * 1e4 + 1e8 - 1e8


def _failed(max_rel: float) -> Check:
    return Check("eval_forward", False, max_rel, max_rel, max_rel, 1e-4, "max_rel")


def test_an_ill_conditioned_module_is_judged_against_its_own_float32_error():
    x = np.random.RandomState(0).standard_normal((2, 8)).astype(np.float32)
    out = [Cancelling()(torch.from_numpy(x))]
    check = rejudge_eval_float32(_failed(5e-4), Cancelling(), x, out)  # own error 1.6e-4
    assert check.passed and "torch float32 against torch float64" in check.detail, check.detail


def test_a_well_conditioned_module_keeps_its_failure():
    x = np.random.RandomState(0).standard_normal((2, 8)).astype(np.float32)
    layer = torch.nn.Linear(8, 3)
    out = [layer(torch.from_numpy(x))]
    check = rejudge_eval_float32(_failed(5e-4), layer, x, out)
    assert not check.passed and check.tol == 1e-4, check
