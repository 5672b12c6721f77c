"""parity/dy2static_cache.py: paddle.jit.save converts each forward once, and saves the same program."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

import paddle_impl
import zoo
from parity.dy2static_cache import _function_cache, methods_converted_once

ROOT = Path(__file__).resolve().parents[1]


def _layers_with_own_forward(layer: paddle.nn.Layer) -> int:
    """Layer instances whose forward is not paddle's own (those dy2static converts)."""
    return sum(1 for sub in layer.sublayers(include_self=True)
               if not type(sub).forward.__module__.startswith("paddle."))


def _save(layer: paddle.nn.Layer, shape: list[int], prefix: Path) -> None:
    paddle.jit.save(layer, str(prefix), input_spec=[paddle.static.InputSpec(shape, "float32", "x")])


# One save in a fresh process, with or without the block, printing the program file's digest:
# within one process paddle numbers each save's name scopes on from the save before ("/Conv1D/",
# then "/Conv1D_1/"), so two saves there never match byte for byte, with the block or without.
_SAVE_ONE = """
import contextlib, hashlib, sys, tempfile
from pathlib import Path
import paddle, paddle_impl, zoo
from parity.dy2static_cache import methods_converted_once
name, dims, once = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
paddle.seed(0)
info = zoo.get(name)
size = info.check_size(dims)
model = paddle_impl.build(name, **info.build_kwargs(dims, size))
model.eval()
spec = [paddle.static.InputSpec(list(info.input_shape(dims, 1, size)), "float32", "x")]
prefix = Path(tempfile.mkdtemp()) / "model"
with methods_converted_once() if once else contextlib.nullcontext([0]) as conversions:
    paddle.jit.save(model, str(prefix), input_spec=spec)
program = next(p for p in (prefix.with_suffix(".json"), prefix.with_suffix(".pdmodel")) if p.exists())
print("digest", hashlib.sha256(program.read_bytes()).hexdigest(),
      hashlib.sha256(prefix.with_suffix(".pdiparams").read_bytes()).hexdigest(), conversions[0])
"""


def test_saved_program_is_byte_identical_from_one_conversion_per_forward():
    """ResNet-18 1D saved in two fresh processes, with and without the block: the same program
    and parameter files, from fewer conversions than layer instances with a forward of their own."""
    runs = []
    for once in ("0", "1"):
        proc = subprocess.run([sys.executable, "-c", _SAVE_ONE, "resnet18", "1", once], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("digest ")), None)
        assert proc.returncode == 0 and line, proc.stderr[-2000:]
        runs.append(line.split()[1:])
    (plain_program, plain_params, _), (program, params, conversions) = runs
    assert (program, params) == (plain_program, plain_params)
    info = zoo.get("resnet18")
    model = paddle_impl.build("resnet18", **info.build_kwargs(1, info.check_size(1)))
    assert 0 < int(conversions) < _layers_with_own_forward(model), conversions


def test_saved_model_computes_what_the_eager_one_does(tmp_path):
    """MobileNetV3-small 2D (hard-swish, squeeze-excitation, one block class in many
    configurations) saved inside the block runs as the eager model does."""
    info = zoo.get("mobilenet_v3_small")
    size = info.check_size(2)
    paddle.seed(0)
    model = paddle_impl.build("mobilenet_v3_small", **info.build_kwargs(2, size))
    model.eval()
    shape = list(info.input_shape(2, 2, size))
    with methods_converted_once() as conversions:
        _save(model, shape, tmp_path / "model")
    assert 0 < conversions[0] < _layers_with_own_forward(model)
    x = paddle.to_tensor(np.random.RandomState(0).standard_normal(shape).astype("float32"))
    np.testing.assert_allclose(paddle.jit.load(str(tmp_path / "model"))(x).numpy(), model(x).numpy(),
                               rtol=1e-5, atol=1e-6)


class _Branch(paddle.nn.Layer):
    """One class, two behaviours chosen by an instance attribute: the converted forward is shared,
    so the branch must still be taken per instance when the graph is traced."""

    def __init__(self, double: bool) -> None:
        super().__init__()
        self.double = double
        self.fc = paddle.nn.Linear(3, 3)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.double:
            return self.fc(x) * 2.0
        return paddle.nn.functional.relu(self.fc(x)) - 1.0


class _Two(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = _Branch(True), _Branch(False)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.b(self.a(x))


def test_instances_of_one_class_keep_their_own_branches(tmp_path):
    """The saved model computes what the eager one does: each _Branch took its own path."""
    paddle.seed(3)
    model = _Two()
    model.eval()
    x = np.random.RandomState(0).standard_normal((2, 3)).astype("float32")
    with methods_converted_once() as conversions:
        _save(model, [2, 3], tmp_path / "model")
    assert conversions[0] == 2  # _Two.forward and _Branch.forward, once each
    loaded = paddle.jit.load(str(tmp_path / "model"))
    got = loaded(paddle.to_tensor(x)).numpy()
    want = model(paddle.to_tensor(x)).numpy()
    np.testing.assert_array_equal(got, want)
    # and the two instances did differ: the other branch order gives another result
    swapped = model.a(model.b(paddle.to_tensor(x))).numpy()
    assert not np.allclose(swapped, want)


def test_paddles_method_is_back_after_the_block_however_it_ends():
    cache = _function_cache()
    assert cache is not None, "paddle's dy2static cache moved: parity/dy2static_cache.py no longer applies"
    assert "convert_with_cache" not in vars(cache)
    with pytest.raises(RuntimeError):
        with methods_converted_once():
            assert "convert_with_cache" in vars(cache)
            raise RuntimeError("an export failed")
    assert "convert_with_cache" not in vars(cache)
    with methods_converted_once():
        outer = vars(cache)["convert_with_cache"]
        with methods_converted_once():  # a block opened inside another
            assert vars(cache)["convert_with_cache"] is not outer
        assert vars(cache)["convert_with_cache"] is outer
    assert "convert_with_cache" not in vars(cache)
