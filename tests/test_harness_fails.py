"""A harness that cannot fail proves nothing: each deliberately broken paddle twin must be
caught by the right check, and the locator must name the broken layer."""
import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
from parity import compare_modules
from parity.compare import TOLERANCES
from parity.weights import load_paddle, torch_to_paddle
from tests.twins import BREAKS, INPUT_SHAPE, PaddleTwin, TorchTwin

FORWARD_CHECKS = {"eval_forward", "train_loss", "train_input_grad", "train_param_grads", "sgd_steps", "adam_steps"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_healthy_twin_passes(dtype):
    report = compare_modules(TorchTwin(), PaddleTwin(), input_shape=INPUT_SHAPE, dtype=dtype)
    assert report.ok, str(report)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("broken,failing,layer", [
    ("linear_untransposed", "eval_forward", "fc1"),
    ("avgpool_exclusive", "eval_forward", "pool"),
    ("sigmoid", "eval_forward", "act"),
    ("bn_momentum", "bn_stats", None),
])
def test_broken_twin_is_caught(dtype, broken, failing, layer):
    report = compare_modules(TorchTwin(), PaddleTwin(broken), input_shape=INPUT_SHAPE, dtype=dtype)
    assert not report.ok
    check = report.check(failing)
    assert not check.passed, str(report)
    if layer is not None:
        assert f"first divergent layer: {layer} " in check.detail, check.detail
    if failing == "bn_stats":
        # Eval output and the train-mode forward still agree: only the running statistics betray it.
        assert report.check("eval_forward").passed and report.check("train_loss").passed
        assert "running_" in check.detail


def test_biased_running_variance_is_caught_in_float64():
    """paddle's own BN update (momentum converted, biased variance) is off by m/(n-1) of the
    batch variance: with n = 512 values per channel that is below the float32 bound, but
    float64 is exact and catches it."""
    report = compare_modules(TorchTwin(), PaddleTwin("bn_biased_variance"), input_shape=INPUT_SHAPE, dtype="float64")
    check = report.check("bn_stats")
    assert not check.passed and "running_var" in check.detail, str(report)
    assert report.check("eval_forward").passed and report.check("train_loss").passed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_wrong_backward_is_located(dtype):
    """Forward identical, backward scaled in fc1_act: the gradient checks fail and the locator
    names fc1, whose output gradient is the first (in backward order) to differ."""
    report = compare_modules(TorchTwin(), PaddleTwin("bad_backward"), input_shape=INPUT_SHAPE, dtype=dtype)
    assert report.check("eval_forward").passed and report.check("train_loss").passed
    check = report.check("train_input_grad")
    assert not check.passed
    assert "first divergent gradient (backward order) at the output of fc1 " in check.detail, check.detail


def test_differently_named_port_is_paired_by_order():
    from tests.twins import paddle_twin_renamed

    report = compare_modules(TorchTwin(), paddle_twin_renamed(), input_shape=INPUT_SHAPE, dtype="float64")
    assert report.ok, str(report)
    assert "by construction order" in report.check("structure").detail


def test_all_breaks_are_tested():
    assert set(BREAKS) == {"linear_untransposed", "avgpool_exclusive", "sigmoid", "bn_momentum", "bn_biased_variance",
                           "bad_backward"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_weight_perturbed_by_1e_3_is_caught(dtype):
    t, p = torch_impl.build("lenet5"), paddle_impl.build("lenet5")
    state = torch_to_paddle(t, p)
    state["features.c3.weight"][3, 2, 1, 1] += 1e-3
    load_paddle(p, state)
    report = compare_modules(t, p, input_shape=(4, 1, 32, 32), dtype=dtype, copy_weights=False)
    assert not report.check("copy").passed and not report.ok
    assert "features.c3.weight" in report.check("copy").detail
    forward = report.check("eval_forward")
    if dtype == "float64":
        assert not forward.passed and "first divergent layer: features.c3 " in forward.detail, forward.detail
    else:
        # The output moves by ~2e-5 relative, inside the float32 bound (1e-4); the exact
        # weight comparison above is what catches it in float32.
        assert forward.max_rel > 1e-6


def test_structure_mismatch_lists_every_key():
    t, p = torch_impl.build("lenet5"), paddle_impl.build("lenet5_original")
    report = compare_modules(t, p, input_shape=(2, 1, 32, 32))
    structure = report.check("structure")
    assert not structure.passed and not report.ok
    for key in ("features.s2.weight", "features.s2.bias", "features.s4.weight", "features.s4.bias"):
        assert key in structure.detail
    assert "61,706 vs paddle 61,750" in structure.detail


def test_published_count_mismatch_fails():
    report = compare_modules(torch_impl.build("lenet5"), paddle_impl.build("lenet5"), input_shape=(2, 1, 32, 32),
                             expected_params=61_750, steps=0)
    assert not report.check("structure").passed
    assert "differ from the published 61,750" in report.check("structure").detail


def test_locator_falls_back_to_execution_order_when_names_differ():
    """A user's own port may name layers differently; the locator then pairs them by order."""
    import paddle

    class Renamed(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.inner = PaddleTwin("sigmoid")

        def forward(self, x):
            return self.inner(x)

    from parity.compare import locate_divergence
    from parity.weights import copy_torch_to_paddle

    t, p = TorchTwin(), PaddleTwin("sigmoid")
    copy_torch_to_paddle(t, p)
    wrapper = Renamed()
    wrapper.inner = p
    t.eval(), wrapper.eval()
    x = np.random.RandomState(0).standard_normal(INPUT_SHAPE).astype("float32")
    where = locate_divergence(t, wrapper, x, "float32", 1e-4)
    assert "act (torch) / inner.act (paddle)" in where, where


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_optimizer_mismatch_is_caught_by_the_step_checks(dtype, monkeypatch):
    """paddle's Momentum with a wrong coefficient (float64: a tenfold L2 coefficient, an
    effect of ~1e-4 that float32's step bound cannot see; float32: no momentum): forward
    and gradients agree, the SGD step check fails, and torch's own rounding sensitivity
    (tiny for this small net) does not excuse it."""
    import paddle

    from parity import steps

    real = steps.paddle_optimizer

    def wrong_decay(kind, paddle_module):
        p_opt = real(kind, paddle_module)
        if kind == "sgd":
            wrong = dict(momentum=steps.SGD["momentum"], weight_decay=10 * steps.SGD["weight_decay"]) \
                if dtype == "float64" else dict(momentum=0.0, weight_decay=steps.SGD["weight_decay"])
            p_opt = paddle.optimizer.Momentum(learning_rate=steps.SGD["lr"], parameters=p_opt._parameter_list,
                                              **wrong)
        return p_opt

    monkeypatch.setattr(steps, "paddle_optimizer", wrong_decay)
    report = compare_modules(TorchTwin(), PaddleTwin(), input_shape=INPUT_SHAPE, dtype=dtype)
    assert report.check("train_param_grads").passed and report.check("adam_steps").passed, str(report)
    assert not report.check("sgd_steps").passed, str(report)


def test_rejudge_raises_the_tolerance_only_to_a_multiple_of_torchs_own_error():
    from parity.judge import SENSITIVITY_FACTOR, Check, rejudge as _rejudge

    failed = Check("sgd_steps", False, 1.0, 0.5, 0.04, 1e-3, "norm_rel", "worst: step 3 w")
    ok = _rejudge(failed, own=0.01, dtype="float32")
    assert ok.passed and ok.tol == pytest.approx(SENSITIVITY_FACTOR * 0.01)
    assert "torch float32 against torch float64" in ok.detail and "norm_rel 1.00e-02" in ok.detail
    still = _rejudge(failed, own=0.001, dtype="float64")
    assert not still.passed and still.tol == pytest.approx(SENSITIVITY_FACTOR * 0.001) and "worst: step 3 w" in still.detail
    # paddle's own rounding (paddle float32 against paddle float64) counts when it is the larger
    both = _rejudge(failed, own=0.001, dtype="float32", paddle_own=0.01)
    assert both.passed and both.tol == pytest.approx(SENSITIVITY_FACTOR * 0.01)
    assert "norm_rel 1.00e-03; paddle against paddle likewise: 1.00e-02" in both.detail and "the larger" in both.detail


def test_a_paddle_bug_is_not_excused_by_paddles_own_rounding():
    """The reference run for paddle is paddle itself in float64, so a porting mistake is on
    both sides of that comparison and cancels: paddle's own error stays at rounding and the
    wrong backward still fails in float32 after the rejudge."""
    report = compare_modules(TorchTwin(), PaddleTwin("bad_backward"), input_shape=INPUT_SHAPE, dtype="float32")
    check = report.check("train_input_grad")
    assert not check.passed and "paddle against paddle likewise" in check.detail, check.detail


class _TorchWithAux(torch.nn.Module):
    """Logits alone in eval mode, (logits, aux) in train mode, as GoogLeNet and Inception-v3 do."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(6, 3)
        self.aux = torch.nn.Linear(6, 3)

    def forward(self, x):
        return (self.fc(x), self.aux(x)) if self.training else self.fc(x)


class _PaddleWithAux(paddle.nn.Layer):
    def __init__(self, aux_scale: float) -> None:
        super().__init__()
        self.fc = paddle.nn.Linear(6, 3)
        self.aux = paddle.nn.Linear(6, 3)
        self.aux_scale = aux_scale

    def forward(self, x):
        return (self.fc(x), self.aux(x) * self.aux_scale) if self.training else self.fc(x)


@pytest.mark.parametrize("aux_scale,ok", [(1.0, True), (2.0, False)])
def test_train_only_outputs_enter_the_loss(aux_scale, ok):
    """An output that exists only in train mode (an aux head) is part of the loss and of the
    gradients: a paddle aux head that computes something else fails, a faithful one passes with
    its parameters' gradients compared."""
    report = compare_modules(_TorchWithAux(), _PaddleWithAux(aux_scale), input_shape=(5, 6), dtype="float64")
    assert report.ok == ok, str(report)
    assert report.check("train_loss").passed == ok
    assert any("train mode the model returns 2 tensors" in n for n in report.notes), report.notes
    assert not any("no gradient" in n for n in report.notes), report.notes


class _TorchKinked(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 3)
        self.act = torch.nn.ReLU(inplace=True)
        self.fc2 = torch.nn.Linear(3, 2)
        with torch.no_grad():  # unit 0 of sample 0 (input [.5, .5, ...]) sits exactly on the kink
            self.fc1.weight[0] = torch.tensor([1.0, -1.0, 0.0, 0.0])
            self.fc1.bias[0] = 0.0

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _Shift(paddle.nn.Layer):
    """Stands for a rounding difference: moves every activation by ``shift`` times its scale."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = shift

    def forward(self, x):
        return x + self.shift * x.abs().max()


class _PaddleKinked(paddle.nn.Layer):
    def __init__(self, shift: float) -> None:
        super().__init__()
        self.fc1 = paddle.nn.Linear(4, 3)
        self.nudge = _Shift(shift)
        self.act = paddle.nn.ReLU()
        self.fc2 = paddle.nn.Linear(3, 2)

    def forward(self, x):
        return self.fc2(self.act(self.nudge(self.fc1(x))))


def test_relu_kink_flip_within_rounding_is_explained_not_hidden():
    """float32: an activation within rounding of a ReLU kink that lands on the other side in
    paddle moves the gradients by far more than the tolerance; the harness gives torch
    paddle's side at that element, passes the gradient checks and says so. A flip caused by
    more than rounding (the forward moved by 1e-3 of the scale) still fails."""
    x = np.array([[0.5, 0.5, 1.0, -1.0], [0.3, -0.2, 0.8, 0.1]], dtype=np.float32)
    report = compare_modules(_TorchKinked(), _PaddleKinked(1e-6), inputs=x, dtype="float32", steps=0, num_classes=2)
    assert report.ok, str(report)
    for name in ("train_input_grad", "train_param_grads"):
        detail = report.check(name).detail
        assert "1 activations lie within 1e-04" in detail and "(act: 1)" in detail, detail
        assert float(detail.split("(without: ")[1].rstrip(")")) > TOLERANCES["float32"][name]

    far = compare_modules(_TorchKinked(), _PaddleKinked(1e-3), inputs=x, dtype="float32", steps=0, num_classes=2)
    assert not far.ok
    assert not far.check("eval_forward").passed or not far.check("train_input_grad").passed


class _TorchPooled(torch.nn.Module):
    """Linear, then a max pool over pairs of its outputs, then Linear; for sample 0 the
    first window's two values are exactly equal, so which one the pool picks is a tie."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 4)
        self.pool = torch.nn.MaxPool1d(2)
        self.fc2 = torch.nn.Linear(2, 2)
        with torch.no_grad():  # units 0 and 1 of sample 0 (input [.5, .5, ...]) are equal
            self.fc1.weight[1] = self.fc1.weight[0].flip(0)
            self.fc1.bias[1] = self.fc1.bias[0]

    def forward(self, x):
        return self.fc2(self.pool(self.fc1(x).unsqueeze(1)).flatten(1))


class _Raise(paddle.nn.Layer):
    """Stands for a rounding difference at one element: raises unit 1 of sample 0 by
    ``shift`` times the activations' scale, so paddle's pool picks it where torch's picks
    the tie's first element, unit 0."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = shift

    def forward(self, x):
        bump = paddle.zeros_like(x)
        bump[0, 1] = self.shift * float(x.abs().max())
        return x + bump


class _PaddlePooled(paddle.nn.Layer):
    def __init__(self, shift: float) -> None:
        super().__init__()
        self.fc1 = paddle.nn.Linear(4, 4)
        self.nudge = _Raise(shift)
        self.pool = paddle.nn.MaxPool1D(2)
        self.fc2 = paddle.nn.Linear(2, 2)

    def forward(self, x):
        return self.fc2(self.pool(self.nudge(self.fc1(x)).unsqueeze(1)).flatten(1))


def test_max_pool_pick_within_rounding_is_explained_not_hidden():
    """float32: a max-pool window whose two largest values rounding puts in the other order
    in paddle sends that window's gradient to a different element; the harness gives torch
    paddle's pick there, passes the gradient checks and says so. A value moved by more than
    rounding (1e-3 of the scale) still fails."""
    x = np.array([[0.5, 0.5, 0.5, 0.5], [0.3, -0.2, 0.8, 0.1]], dtype=np.float32)
    t = _TorchPooled()
    out = t.fc1(torch.from_numpy(x))
    assert float(out[0, 0]) == float(out[0, 1])  # the tie the test is about
    report = compare_modules(t, _PaddlePooled(1e-6), inputs=x, dtype="float32", steps=0, num_classes=2)
    assert report.ok, str(report)
    for name in ("train_input_grad", "train_param_grads"):
        detail = report.check(name).detail
        assert "1 activations lie within 1e-04" in detail and "(pool: 1)" in detail, detail
        assert float(detail.split("(without: ")[1].rstrip(")")) > TOLERANCES["float32"][name]
    assert not hasattr(t.pool, "inplace")  # only activations are switched out of inplace, and back

    far = compare_modules(_TorchPooled(), _PaddlePooled(1e-3), inputs=x, dtype="float32", steps=0, num_classes=2)
    assert not far.ok
    assert not far.check("eval_forward").passed


def test_kink_alignment_leaves_the_batchnorm_statistics_as_the_train_check_left_them():
    """The alignment runs extra train-mode passes on both sides; the BN statistics that the
    later checks and rejudges read must be those of the one train step."""
    from parity import kinks, modes, weights

    t, p = TorchTwin(), PaddleTwin()
    x = np.random.RandomState(0).standard_normal(INPUT_SHAPE).astype("float32")
    load_paddle(p, torch_to_paddle(t, p))
    t.train()
    p.train()
    before_t = {n: b.clone() for n, b in t.named_buffers()}
    before_p = {k: v.numpy().copy() for k, v in p.state_dict().items() if k.endswith(("_mean", "_variance"))}
    kinks.rejudge_with_aligned_kinks(t, p, weights.key_map(t, p), x, None, modes.Projections(0), "float32",
                                        [], None)
    assert all(torch.equal(before_t[n], b) for n, b in t.named_buffers())
    assert all(np.array_equal(before_p[k], p.state_dict()[k].numpy()) for k in before_p)
