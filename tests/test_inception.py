"""Inception-v3: counts on both sides, the aux head's outputs and size limit, the 1D rule for the
factorised convs, the padded branch pools, input checks, and torchvision as an independent reference.

The registry-wide parity (tests/test_parity.py) builds inception_v3 with its defaults, which leave
out the aux head: it only trains from 299x299, too costly for float64 parity in 2D. Its parity
(outputs, gradients, BN statistics) is checked here in 1D at 299, and against torchvision (and
our paddle model) in 2D at 299. paddle.vision's InceptionV3 has no aux head and other
names (PITFALLS.md), so it is not used as a reference.
"""
import copy

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity.compare import compare_modules
from parity.weights import to_numpy
from tests._inception_family import (assert_close, calibrate_bn, check_shape_errors, counts, run_paddle, run_torch,
                                     to_paddle)
from tests._torchvision import import_torchvision
from zoo.specs.inception import AUX_MIN_SIZE, MIN_SIZE

WITH_AUX, WITHOUT_AUX = 27_161_264, 23_834_568  # torchvision 0.28: published, and Inception3(aux_logits=False)


def test_registry_entry_and_defaults():
    """The aux head is off by default (it trains only from 299); the published count is with it."""
    info = zoo.get("inception_v3")
    assert zoo.names("inception") == ["inception_v3"]
    assert (info.input_size, info.min_size, info.heavy, info.parity_batch) == (299, 75, True, 4)
    assert info.published[0].count == WITH_AUX and info.published[0].kwargs == {"aux_logits": True}
    for build in (torch_impl.build, paddle_impl.build):
        model = build("inception_v3")
        assert model.AuxLogits is None and not model.aux_logits and not model.transform_input


def test_counts_on_both_sides():
    assert counts("inception_v3", aux_logits=True) == (WITH_AUX, WITH_AUX)
    assert counts("inception_v3", aux_logits=False) == (WITHOUT_AUX, WITHOUT_AUX)
    # the aux head: 1x1 conv 768->128 + BN, 5x5 conv 128->768 + BN, Linear(768, 1000)
    assert WITH_AUX - WITHOUT_AUX == 768 * 128 + 256 + 128 * 768 * 25 + 2 * 768 + 768 * 1000 + 1000
    t, p = counts("inception_v3", aux_logits=True, dims=1, in_channels=2, num_classes=5)
    assert t == p < WITHOUT_AUX


def test_factorised_convs_follow_the_1d_rule():
    """(h, w) -> w: 1x7 -> 7 (padding 3), 7x1 -> 1 (padding 0), 1x3 -> 3, 3x1 -> 1; 2D keeps both."""
    for build, kernel, padding in ((torch_impl.build, "kernel_size", "padding"),
                                   (paddle_impl.build, "_kernel_size", "_padding")):
        one, two = build("inception_v3", dims=1, aux_logits=False), build("inception_v3", dims=2, aux_logits=False)
        c1, c2, e1, e2 = one.Mixed_6b, two.Mixed_6b, one.Mixed_7b, two.Mixed_7b
        assert [list(getattr(c1.branch7x7_2.conv, kernel)), list(getattr(c1.branch7x7_3.conv, kernel))] == [[7], [1]]
        assert [list(getattr(c2.branch7x7_2.conv, kernel)), list(getattr(c2.branch7x7_3.conv, kernel))] == [[1, 7], [7, 1]]
        assert [list(getattr(e1.branch3x3_2a.conv, kernel)), list(getattr(e1.branch3x3_2b.conv, kernel))] == [[3], [1]]
        assert [list(getattr(e2.branch3x3_2a.conv, kernel)), list(getattr(e2.branch3x3_2b.conv, kernel))] == [[1, 3], [3, 1]]
        pad = getattr(c1.branch7x7_2.conv, padding), getattr(c1.branch7x7_3.conv, padding)
        assert [int(np.ravel(v)[0]) for v in pad] == [3, 0]


@pytest.mark.parametrize("dims", [1, 2])
def test_branch_pools_count_the_padding_on_both_sides(dims):
    """The 3x3/1 branch pools average over 9 (3 in 1D) including the zero padding, as torch's
    default does; paddle's default (exclusive=True) would not. On ones, a corner reads 4/9."""
    x = np.ones((1, 2) + (5,) * dims)
    t_pool = torch_impl.build("inception_v3", dims=dims, aux_logits=False).Mixed_5b.pool
    p_pool = paddle_impl.build("inception_v3", dims=dims, aux_logits=False).Mixed_5b.pool
    corner = (0, 0) + (0,) * dims
    want = (2 / 3) ** dims
    assert run_torch(t_pool, x).numpy()[corner] == pytest.approx(want)
    assert run_paddle(p_pool, x).numpy()[corner] == pytest.approx(want)
    assert_close(run_paddle(p_pool, x), run_torch(t_pool, x), 1e-15)


@pytest.mark.parametrize("dims", [1, 2])
def test_input_shape_errors(dims):
    check_shape_errors("inception_v3", dims, 3, MIN_SIZE - 1, MIN_SIZE)


def test_training_with_the_aux_head_needs_299_and_says_so():
    """The aux head's unpadded 5/3 pool and 5x5 conv need a 17-wide Mixed_6e; below 299 training
    with it is refused with a clear error (torchvision fails inside avg_pool2d instead). Eval mode,
    or aux_logits=False, runs from 75."""
    x = np.random.RandomState(0).standard_normal((2, 3, AUX_MIN_SIZE - 1)).astype(np.float32)
    for build, run in ((torch_impl.build, run_torch), (paddle_impl.build, run_paddle)):
        model = build("inception_v3", dims=1, aux_logits=True)
        model.train()
        with pytest.raises(ValueError, match="aux head.*at least 299"):
            run(model, x)
        model.eval()
        assert tuple(run(model, x).shape) == (2, 1000)
        plain = build("inception_v3", dims=1)  # the default: no aux head
        plain.train()
        assert tuple(run(plain, x[..., :MIN_SIZE]).shape) == (2, 1000)


def test_train_mode_returns_logits_and_aux_logits():
    """InceptionOutputs(logits, aux_logits), torchvision's namedtuple, in train mode with the aux head."""
    x = np.random.RandomState(1).standard_normal((2, 3, AUX_MIN_SIZE)).astype(np.float32)
    for build, run in ((torch_impl.build, run_torch), (paddle_impl.build, run_paddle)):
        model = build("inception_v3", dims=1, num_classes=9, aux_logits=True)
        model.train()
        out = run(model, x)
        assert type(out).__name__ == "InceptionOutputs" and out._fields == ("logits", "aux_logits")
        assert [tuple(t.shape) for t in out] == [(2, 9), (2, 9)]


@pytest.mark.heavy
def test_aux_head_parity_in_1d_at_299():
    """The registry parity runs without the aux head (it cannot train below 299); here the full
    network with it, in float64: eval output, train-mode loss over both outputs, input and parameter
    gradients and BN statistics. (Optimizer steps: see tests/test_parity.py and the report.)"""
    torch.manual_seed(0)
    paddle.seed(0)
    t = torch_impl.build("inception_v3", dims=1, aux_logits=True)
    p = paddle_impl.build("inception_v3", dims=1, aux_logits=True)
    x = np.random.RandomState(2).standard_normal((4, 3, AUX_MIN_SIZE))
    report = compare_modules(t, p, inputs=x, dtype="float64", steps=0, num_classes=1000, name="inception_v3", dims=1)
    assert report.ok, "\n" + str(report)
    assert {c.name for c in report.checks} >= {"eval_forward", "train_loss", "train_param_grads", "bn_stats"}
    assert any("train mode the model returns 2 tensors" in n for n in report.notes), report.notes
    assert not any("no gradient" in n for n in report.notes), report.notes  # the aux head is trained too


@pytest.mark.torchvision
@pytest.mark.heavy
def test_torchvision_reference():
    """torchvision's Inception3 state dict (with the aux head) loads into ours with strict=True and
    in the same key order. With calibrated BN statistics: eval outputs at 75x75 are equal, and so
    are train-mode (logits, aux_logits) at 299x299; converted to paddle, eval at 75 agrees in
    float64 and so do the train-mode outputs at 299 (float64: 1e-10). Without the aux head the
    state dict equals torchvision's inception_v3(aux_logits=False)'s."""
    tv = import_torchvision()
    assert list(torch_impl.build("inception_v3").state_dict()) == \
        list(tv.models.inception_v3(aux_logits=False, init_weights=False).state_dict())
    torch.manual_seed(0)
    ref = tv.models.inception_v3(init_weights=False)
    big = np.random.RandomState(3).standard_normal((2, 3, AUX_MIN_SIZE, AUX_MIN_SIZE)).astype(np.float32)
    calibrate_bn(ref, big)  # at 299: training with the aux head needs it
    ours = torch_impl.build("inception_v3", aux_logits=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    for m in (ref, ours):
        m.train()
        m.dropout.eval()
    with torch.no_grad():
        ref_out, ours_out = ref(torch.from_numpy(big)), ours(torch.from_numpy(big))
    assert ours_out._fields == ref_out._fields == ("logits", "aux_logits")
    assert all(torch.equal(a, b) for a, b in zip(ours_out, ref_out))
    # Against paddle in float64: in float32, train-mode BatchNorm over a batch of 2 left the aux
    # logits 1.26e-4 apart (rounding, not a difference), over the 1e-4 this once asked.
    wide = copy.deepcopy(ours).double()  # train mode, dropout off, as above
    wide_out = run_torch(wide, big.astype(np.float64))
    layer = to_paddle(wide, "inception_v3", aux_logits=True)
    layer.train()
    layer.dropout.eval()
    p_out = run_paddle(layer, big.astype(np.float64))
    assert_close(p_out.aux_logits, wide_out.aux_logits, 1e-10)
    assert_close(p_out.logits, wide_out.logits, 1e-10)
    small = np.random.RandomState(4).standard_normal((2, 3, MIN_SIZE, MIN_SIZE))
    ref.double().eval()
    ours.double().eval()
    want = run_torch(ref, small)
    assert torch.equal(run_torch(ours, small), want)
    assert np.abs(to_numpy(want)).max() < 1e3  # calibrated: no exploding eval logits
    assert_close(run_paddle(to_paddle(ours, "inception_v3", aux_logits=True), small), want, 1e-12)
