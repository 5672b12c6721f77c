"""parity/pairing.py: records pair by name, else by structural signature with order as the
tie-breaker, so a module-level ReLU on one side and a functional relu on the other align;
and torchvision's mobilenet_v3_large against paddle.vision's is localised at the first
hardsigmoid."""
import numpy as np
import paddle
import paddle.nn.functional as PF
import pytest
import torch

from parity.locate import locate_divergence
from parity.pairing import family, first_divergence, pair_records
from parity.records import record_paddle, record_torch


class TorchNet(torch.nn.Module):
    """torchvision style: activations are modules."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 8, 3), torch.nn.ReLU(inplace=True))
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


class PaddleNet(paddle.nn.Layer):
    """paddle.vision style: other names, activations called functionally."""

    def __init__(self):
        super().__init__()
        self._conv1 = paddle.nn.Conv2D(3, 8, 3)
        self._pool = paddle.nn.MaxPool2D(2)
        self._conv2 = paddle.nn.Conv2D(8, 8, 3)
        self._out = paddle.nn.Linear(8, 4)

    def forward(self, x):
        x = self._pool(PF.relu(self._conv1(x)))
        x = PF.relu(self._conv2(x))
        return self._out(paddle.flatten(PF.adaptive_avg_pool2d(x, 1), 1))


def _pair():
    paddle.set_default_dtype("float64")
    try:
        t, p = TorchNet().double().eval(), PaddleNet()
    finally:
        paddle.set_default_dtype("float32")
    p.eval()
    for tl, pl in ((t.features[0], p._conv1), (t.features[3], p._conv2)):
        pl.weight.set_value(tl.weight.detach().numpy())
        pl.bias.set_value(tl.bias.detach().numpy())
    p._out.weight.set_value(t.fc.weight.detach().numpy().T.copy())
    p._out.bias.set_value(t.fc.bias.detach().numpy())
    return t, p


def test_families():
    assert family("Conv2d") == family("Conv2D") == family("conv2d") == "conv"
    assert family("BatchNorm2d") == family("BatchNorm2D") == family("batch_norm") == "bn"
    assert family("MaxPool2d") == family("MaxPool2D") == family("max_pool2d") == "maxpool"
    assert family("ReLU") == family("relu") and family("Hardsigmoid") == family("hardsigmoid")
    assert family("cat") == family("concat")


def test_module_relu_pairs_with_functional_relu():
    t, p = _pair()
    x = np.random.RandomState(0).standard_normal((2, 3, 12, 12))
    pairs = pair_records(record_torch(t, x), record_paddle(p, x))
    by_torch = {q.torch.name: q.paddle.name for q in pairs if q.torch and q.paddle}
    assert by_torch["features.1"] == "<model>/relu#0" and by_torch["features.2"] == "_pool"
    assert by_torch["features.4"] == "<model>/relu#1" and by_torch["fc"] == "_out"
    assert first_divergence(pairs, "float64", 1e-10) is None
    assert "first divergent" not in locate_divergence(t, p, x, "float64", 1e-10)


def test_an_extra_record_does_not_shift_later_pairs():
    t, p = _pair()
    x = np.random.RandomState(0).standard_normal((2, 3, 12, 12))
    p_rec = record_paddle(p, x)
    extra = p_rec[0].__class__("<model>/mul#0", "op", "mul", "x.py:1", (), p_rec[0].output * 1.0)
    pairs = pair_records(record_torch(t, x), [p_rec[0], extra] + p_rec[1:])
    assert first_divergence(pairs, "float64", 1e-10) is None
    assert {q.paddle.name for q in pairs if q.torch is None} >= {"<model>/mul#0"}


def test_a_changed_pool_is_named():
    t, p = _pair()
    p._pool = paddle.nn.AvgPool2D(2)
    x = np.random.RandomState(0).standard_normal((2, 3, 12, 12))
    msg = locate_divergence(t, p, x, "float64", 1e-10)
    assert msg.startswith("first divergent layer: features.2 (torch) / _pool (paddle)"), msg


@pytest.mark.heavy
def test_torchvision_mobilenet_v3_large_is_localised_at_the_first_hardsigmoid():
    from _torchvision import import_torchvision
    from paddle.vision.models import mobilenet_v3_large

    from parity.compare import compare_modules

    tv = import_torchvision()
    t, p = tv.models.mobilenet_v3_large(num_classes=10), mobilenet_v3_large(num_classes=10)
    # With random BatchNorm statistics, paddle's batch_norm kernel rounding a float64 epsilon to
    # float32 crosses the tolerance first; the locator aligns that rounding (parity/epsilon.py).
    report = compare_modules(t, p, input_shape=(2, 3, 64, 64), train=False)
    check = report.check("eval_forward")
    assert not check.passed
    assert check.detail.startswith("first divergent layer: features.4.block.2.scale_activation (torch) / "
                                   "blocks.3.mid_se.scale_activation (paddle) [torch Hardsigmoid"), check.detail
    assert "epsilon rounded to float32 in 46 BatchNorm layers" in check.detail, check.detail


def _named_torch(aux: bool):
    layers = [("stem", torch.nn.Conv2d(3, 8, 3)), ("body", torch.nn.Conv2d(8, 8, 3))]
    if aux:  # an extra run in the middle, as torchvision's inception_v3 AuxLogits
        layers.append(("aux", torch.nn.Sequential(torch.nn.Conv2d(8, 5, 1), torch.nn.Conv2d(5, 5, 1))))
    layers.append(("head", torch.nn.Conv2d(8, 8, 1)))
    return torch.nn.Sequential(__import__("collections").OrderedDict(layers))


def _named_paddle():
    return paddle.nn.Sequential(("_a", paddle.nn.Conv2D(3, 8, 3)), ("_b", paddle.nn.Conv2D(8, 8, 3)),
                                ("_c", paddle.nn.Conv2D(8, 8, 1)))


def test_by_order_conversion_blames_the_extra_run_not_the_tail():
    from parity import weights as W

    with pytest.raises(W.WeightMismatchError) as info:
        W.convert_state_dict(_named_torch(aux=True), _named_paddle())
    text = str(info.value)
    assert "4 source and 0 target tensors have no counterpart" in text, text
    assert "aux.0.weight" in text and "head.weight" not in text, text


def test_by_order_success_says_what_it_does_not_prove():
    from parity import weights as W
    from parity.checks import check_structure

    t, p = _named_torch(aux=False), _named_paddle()
    assert "python -m parity compare" in W.convert_state_dict(t, p).describe()
    kmap = W.key_map(t, p)
    assert kmap.by_order and "proves only that the shapes fit" in check_structure(t, p, kmap, None).detail


def test_structure_refusal_puts_the_summary_first():
    from parity import weights as W
    from parity.checks import check_structure

    t, p = _named_torch(aux=True), _named_paddle()
    detail = check_structure(t, p, W.key_map(t, p), None).detail
    assert detail.startswith("trainable parameters differ: torch "), detail
    assert "by name, 10 torch and 6 paddle keys have no twin" in detail, detail
    assert detail.index("aux.0.weight") < detail.index("torch keys with no paddle twin"), detail
