"""DenseNet family: parameter counts on both sides, variant behaviour, input errors, and the
torchvision and paddle.vision reference tests.

paddle.vision's DenseNet names its layers differently from torchvision (and so from us);
``paddle_vision_key`` maps each of our names to its name there:

    features.conv0 / features.norm0           conv1_func._conv / conv1_func._batch_norm
    features.denseblockB.denselayerL.norm1    db_conv_{B+1}.conv{B+1}_L.bn_ac_func1._batch_norm
    features.denseblockB.denselayerL.conv1    db_conv_{B+1}.conv{B+1}_L.bn_ac_func1._conv
    ... norm2 / conv2                         ... bn_ac_func2._batch_norm / bn_ac_func2._conv
    features.transitionT.norm / .conv         tr_conv{T+1}_blk.conv_ac_func._batch_norm / ._conv
    features.norm5                            batch_norm
    classifier                                out

(the BN buffers ``_mean``/``_variance`` and the [in, out] Linear layout are the same,
since both are paddle). The test asserts the map is a bijection onto its state dict.
"""
import re

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from _reference import (assert_input_errors, assert_trainable_both, check_torchvision_chain, max_rel, paddle_eval,
                        randomize_bn_)
from _torchvision import import_torchvision
from parity import weights as W
from zoo.specs.densenet import DENSENET_CONFIGS, MIN_SIZE, PUBLISHED_PARAMS

NAMES = zoo.names("densenet")
TORCHVISION_NAMES = [n for n in NAMES if n in DENSENET_CONFIGS]


def _param(name, *marks):
    return pytest.param(name, marks=[*marks, *([pytest.mark.heavy] if zoo.get(name).heavy else [])])


def d2l_densenet_count(in_channels: int = 1, num_classes: int = 10) -> int:
    """Seed 001's DenseNet counted layer by layer, independently of the implementation."""
    total = in_channels * 64 * 49 + 64 + 2 * 64  # biased stem conv and its BN
    channels = 64
    for i in range(4):
        for _ in range(4):  # BN, ReLU, biased 3x3 conv to 32 channels
            total += 2 * channels + channels * 32 * 9 + 32
            channels += 32
        if i < 3:  # BN, ReLU, biased 1x1 conv halving the channels, average pool
            total += 2 * channels + channels * (channels // 2) + channels // 2
            channels //= 2
    return total + 2 * channels + channels * num_classes + num_classes


_SUBS = [
    (r"^features\.conv0\.", "conv1_func._conv."),
    (r"^features\.norm0\.", "conv1_func._batch_norm."),
    (r"^features\.norm5\.", "batch_norm."),
    (r"^classifier\.", "out."),
]


def paddle_vision_key(key: str) -> str:
    """The paddle.vision DenseNet name of one of our paddle state-dict keys."""
    m = re.match(r"^features\.denseblock(\d+)\.denselayer(\d+)\.(norm|conv)([12])\.(.+)$", key)
    if m:
        block, layer, kind, which, leaf = m.groups()
        sub = "_batch_norm" if kind == "norm" else "_conv"
        return f"db_conv_{int(block) + 1}.conv{int(block) + 1}_{layer}.bn_ac_func{which}.{sub}.{leaf}"
    m = re.match(r"^features\.transition(\d+)\.(norm|conv)\.(.+)$", key)
    if m:
        t, kind, leaf = m.groups()
        return f"tr_conv{int(t) + 1}_blk.conv_ac_func.{'_batch_norm' if kind == 'norm' else '_conv'}.{leaf}"
    for pattern, repl in _SUBS:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    raise KeyError(f"no paddle.vision name for {key!r}")


@pytest.mark.parametrize("name", [_param(n) for n in TORCHVISION_NAMES])
def test_published_parameter_count_both_sides(name):
    assert_trainable_both(name, PUBLISHED_PARAMS[name])


def test_the_issue_count():
    assert PUBLISHED_PARAMS["densenet121"] == 7_978_856


def test_d2l_densenet_count_both_sides():
    expected = d2l_densenet_count()
    assert expected == 758_226
    assert_trainable_both("densenet_d2l", expected)
    assert_trainable_both("densenet_d2l", d2l_densenet_count(3, 100), in_channels=3, num_classes=100)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_d2l_layout_and_global_pool(framework):
    impl = torch_impl if framework == "torch" else paddle_impl
    model = impl.build("densenet_d2l")
    names = [n for n, _ in model.features.named_children()]
    assert names == ["conv0", "norm0", "relu0", "pool0", "denseblock1", "transition1", "denseblock2", "transition2",
                     "denseblock3", "transition3", "denseblock4", "norm5"]
    assert len(model.features.denseblock3) == 4
    assert list(model.features.transition1.conv.weight.shape)[:2] == [96, 192]
    assert model.features.transition1.conv.bias is not None
    max_pool_type = torch.nn.AdaptiveMaxPool2d if framework == "torch" else paddle.nn.AdaptiveMaxPool2D
    assert isinstance(model.pool, max_pool_type)
    avg = impl.build("densenet_d2l", global_pool="avg")
    avg_type = torch.nn.AdaptiveAvgPool2d if framework == "torch" else paddle.nn.AdaptiveAvgPool2D
    assert isinstance(avg.pool, avg_type)
    with pytest.raises(ValueError, match="global_pool"):
        impl.build("densenet_d2l", global_pool="sum")


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_transition_pool_and_dense_concatenation(framework):
    impl = torch_impl if framework == "torch" else paddle_impl
    model = impl.build("densenet121")
    block = model.features.denseblock1
    # Each layer sees 64 + 32 * (i - 1) channels; the block adds 6 * 32.
    assert [list(layer.conv1.weight.shape)[1] for layer in block.values()] == [64, 96, 128, 160, 192, 224]
    # 2x2 average, stride 2, no padding: a 5x5 map becomes 2x2 and the odd row/column is dropped.
    x = np.arange(25, dtype="float32").reshape(1, 1, 5, 5)
    pool = model.features.transition1.pool
    out = pool(torch.from_numpy(x)).numpy() if framework == "torch" else pool(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(out[0, 0], [[3.0, 5.0], [13.0, 15.0]])


def test_init_matches_torchvision_scheme():
    t = torch_impl.build("densenet121")
    p = paddle_impl.build("densenet121")
    fan_in = 128 * 9  # every dense layer's 3x3 conv reads the 4 * 32 bottleneck channels
    for w in (t.features.denseblock3.denselayer5.conv2.weight.detach().numpy(),
              p.features.denseblock3.denselayer5.conv2.weight.numpy()):
        assert abs(w.std() / np.sqrt(2 / fan_in) - 1) < 0.02
    bound = 1 / np.sqrt(1024)
    for w in (t.classifier.weight.detach().numpy(), p.classifier.weight.numpy()):
        assert bound * 0.9 < np.abs(w).max() <= bound
    assert float(abs(t.classifier.bias).max()) == 0.0 and float(abs(p.classifier.bias).max()) == 0.0


@pytest.mark.parametrize("name", ["densenet121", "densenet_d2l"])
@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_one_dimensional(name, framework):
    impl = torch_impl if framework == "torch" else paddle_impl
    info = zoo.get(name)
    model = impl.build(name, dims=1, num_classes=7)
    model.eval()
    x = np.random.RandomState(0).standard_normal((2, info.in_channels, MIN_SIZE)).astype("float32")
    out = model(torch.from_numpy(x) if framework == "torch" else paddle.to_tensor(x))
    assert list(out.shape) == [2, 7]
    conv_type = torch.nn.Conv1d if framework == "torch" else paddle.nn.Conv1D
    assert isinstance(model.features.conv0, conv_type)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("name", ["densenet121", "densenet_d2l"])
def test_input_shape_errors(framework, name):
    assert_input_errors(framework, name, MIN_SIZE)


@pytest.mark.parametrize("name", [_param(n, pytest.mark.torchvision) for n in TORCHVISION_NAMES])
def test_torchvision_reference(name):
    """torchvision's weights load strictly, give our torch output, and convert to paddle."""
    tv = import_torchvision()
    x = np.random.RandomState(1).standard_normal((2, 3, 32, 32))
    check_torchvision_chain(torch_impl.build(name), getattr(tv.models, name)(), paddle_impl.build(name), x)


@pytest.mark.parametrize("name", [_param(n) for n in TORCHVISION_NAMES])
def test_paddle_vision_reference(name):
    """paddle.vision's DenseNet with our paddle weights (renamed) gives our paddle output."""
    import paddle.vision.models as pvm

    ours = paddle_impl.build(name)
    W.copy_torch_to_paddle(randomize_bn_(torch_impl.build(name)), ours)
    reference = getattr(pvm, name)()
    state = {paddle_vision_key(k): v.numpy() for k, v in ours.state_dict().items()}
    assert len(state) == len(ours.state_dict()) and set(state) == set(reference.state_dict())
    W.load_paddle(reference, state)
    ours.to(dtype="float64")
    reference.to(dtype="float64")
    x = np.random.RandomState(2).standard_normal((2, 3, 32, 32))
    assert max_rel(paddle_eval(ours, x), paddle_eval(reference, x)) < 1e-10
