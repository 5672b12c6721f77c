"""Checkpoint conversion: the CLI and library both ways, wrappers, errors, atomic writes,
torchvision checkpoints, and the README's porting walkthrough."""
import os

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity import convert_state_dict, load_checkpoint
from parity.cli_convert import convert_file, main as convert_main
from parity.weights import CheckpointError, WeightMismatchError
from tests._torchvision import import_torchvision
from tests.twins import INPUT_SHAPE, TorchTwin, paddle_twin_renamed


@pytest.mark.parametrize("wrap", ["raw", "state_dict", "model", "ddp"])
def test_torch_to_paddle_to_torch_files(tmp_path, wrap):
    t = torch_impl.build("lenet_bn", input_size=32)
    sd = t.state_dict()
    obj = {"raw": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd},
           "ddp": {"module." + k: v for k, v in sd.items()}}[wrap]
    torch.save(obj, tmp_path / "in.pt")
    convert_file("lenet_bn", str(tmp_path / "in.pt"), "torch", str(tmp_path / "out.pdparams"), "paddle", input_size=32)
    p = paddle_impl.build("lenet_bn", input_size=32)
    p.set_state_dict(paddle.load(str(tmp_path / "out.pdparams")))
    x = np.random.RandomState(0).standard_normal((2, 1, 32, 32)).astype("float32")
    t.eval(), p.eval()
    np.testing.assert_allclose(p(paddle.to_tensor(x)).numpy(), t(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    convert_file("lenet_bn", str(tmp_path / "out.pdparams"), "paddle", str(tmp_path / "back.pt"), "torch",
                 input_size=32)
    back = torch.load(tmp_path / "back.pt")
    assert all(torch.equal(back[k], v) for k, v in sd.items())


def test_wrong_model_lists_keys_and_writes_nothing(tmp_path, capsys):
    torch.save(torch_impl.build("lenet5").state_dict(), tmp_path / "in.pt")
    code = convert_main(["--model", "lenet5_original", "--from", "torch", str(tmp_path / "in.pt"),
                         "--to", "paddle", str(tmp_path / "out.pdparams")])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing keys (4): features.s2.bias, features.s2.weight, features.s4.bias, features.s4.weight" in err
    assert not any(f.name.startswith((".out", "out")) for f in tmp_path.iterdir())


def test_corrupt_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"\x80\x04 not a checkpoint")
    code = convert_main(["--model", "lenet5", "--from", "torch", str(tmp_path / "bad.pt"), "--to", "paddle",
                         str(tmp_path / "out.pdparams")])
    assert code == 2
    assert "cannot be read as a torch checkpoint" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(str(tmp_path / "missing.pdparams"), "paddle")
    (tmp_path / "cut.pdparams").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="paddle checkpoint"):
        load_checkpoint(str(tmp_path / "cut.pdparams"), "paddle")


def test_convert_state_dict_falls_back_to_construction_order(capsys):
    t, p = TorchTwin(), paddle_twin_renamed()
    result = convert_state_dict(t, p, verbose=True)
    assert result.by_order
    out = capsys.readouterr().out
    assert "by construction order" in out and "fc1.weight -> 6.weight  (transposed)" in out
    assert "bn.running_var -> 1._variance" in out
    back = convert_state_dict(p, TorchTwin())
    assert back.by_order and set(back.state) == set(t.state_dict())
    with pytest.raises(WeightMismatchError, match="construction order"):
        convert_state_dict(torch_impl.build("lenet5"), paddle_impl.build("lenet5_original"))


# Two torchvision-named models, one per layout style; checked by exact name, not prefix.
TORCHVISION_CHECKPOINT_MODELS = ("alexnet", "resnet18")


TORCHVISION_NAMES = [n for n in TORCHVISION_CHECKPOINT_MODELS if n in zoo.MODELS]


@pytest.mark.torchvision
@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_checkpoint_converts_to_paddle(tmp_path, name):
    """A .pth as torchvision publishes it (a raw state dict) converts through the CLI."""
    tv = import_torchvision()
    ref = getattr(tv.models, name)(weights=None).eval()
    torch.save(ref.state_dict(), tmp_path / f"{name}.pth")
    convert_file(name, str(tmp_path / f"{name}.pth"), "torch", str(tmp_path / "p.pdparams"), "paddle")
    p = paddle_impl.build(name)
    p.set_state_dict(paddle.load(str(tmp_path / "p.pdparams")))
    p.eval()
    info = zoo.get(name)
    size = max(info.min_size, 64)
    x = np.random.RandomState(0).standard_normal((1, 3, size, size)).astype("float32")
    want = ref(torch.from_numpy(x))
    want = (want[0] if isinstance(want, tuple) else want).detach().numpy()
    np.testing.assert_allclose(p(paddle.to_tensor(x)).numpy(), want, rtol=1e-3, atol=1e-4)


def test_walkthrough_points_at_each_mistake():
    from examples.porting_walkthrough import attempt

    first = attempt(exclusive=True, transpose_linear=False)
    assert not first.ok and first.check("eval_forward").detail.startswith("first divergent layer: pool ")
    assert "fc1.weight" in first.check("copy").detail
    second = attempt(exclusive=False, transpose_linear=False)
    assert second.check("eval_forward").detail.startswith("first divergent layer: fc1 ")
    assert attempt(exclusive=False, transpose_linear=True).ok
