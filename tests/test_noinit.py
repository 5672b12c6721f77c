"""parity/noinit.py: the harness's paddle builds skip paddle's random initialisers, and only inside."""
from __future__ import annotations

import numpy as np

import parity  # noqa: F401  (quiet paddle import)
import paddle
import paddle_impl
import torch_impl
from parity.noinit import paddle_init_skipped


def _values(layer: paddle.nn.Layer) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in layer.state_dict().items()}


def test_random_initialisers_fill_zeros_inside_and_draw_outside():
    with paddle_init_skipped():
        skipped = paddle_impl.build("resnet18", num_classes=10, dims=2)
        drawn_inside = paddle.uniform([3], min=1.0, max=2.0).numpy()
    normal = paddle_impl.build("resnet18", num_classes=10, dims=2)
    a, b = _values(skipped), _values(normal)
    assert list(a) == list(b) and all(a[k].shape == b[k].shape and a[k].dtype == b[k].dtype for k in a)
    assert not np.any(a["conv1.weight"]) and not np.any(a["fc.weight"]) and not np.any(drawn_inside)
    assert np.std(b["conv1.weight"]) > 0 and np.std(b["fc.weight"]) > 0
    # Constant initialisers are not random: BatchNorm's gamma is 1 either way.
    np.testing.assert_array_equal(a["bn1.weight"], b["bn1.weight"])
    assert float(paddle.normal(shape=[2]).abs().sum()) > 0  # restored


def test_harness_copies_over_the_unwritten_weights():
    # The harness's checks run on torch's weights: a case passes with paddle's built unwritten,
    # and every paddle tensor holds torch's value after the copy, whatever the memory held.
    from parity import weights as W
    from parity.harness import run_model

    report = run_model("lenet5", 2, "float64", onnx=False, steps=1)
    assert report.ok, str(report)
    torch_model = torch_impl.build("lenet_bn", num_classes=10, dims=2, input_size=32).double()
    with paddle_init_skipped(fill=False):
        paddle_model = paddle_impl.build("lenet_bn", num_classes=10, dims=2, input_size=32)
    paddle_model.to(dtype="float64")
    W.copy_torch_to_paddle(torch_model, paddle_model)
    expected = W.torch_to_paddle(torch_model, paddle_model)
    got = _values(paddle_model)
    assert set(got) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_unfilled_builds_keep_the_shapes_dtypes_and_constant_initialisers():
    with paddle_init_skipped(fill=False):
        unfilled = paddle_impl.build("resnet18", num_classes=10, dims=2)
    normal = paddle_impl.build("resnet18", num_classes=10, dims=2)
    a, b = _values(unfilled), _values(normal)
    assert list(a) == list(b) and all(a[k].shape == b[k].shape and a[k].dtype == b[k].dtype for k in a)
    np.testing.assert_array_equal(a["bn1.weight"], b["bn1.weight"])  # constant initialisers still write
    assert float(paddle.normal(shape=[2]).abs().sum()) > 0  # restored
