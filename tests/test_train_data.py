"""Training on the user's own data and hardware: image folders (in memory and streamed), augmentation,
devices under launchers, threads per process, mixed precision."""
import csv
import time

import numpy as np
import pytest

import paddle_impl.train as paddle_train
import torch_impl.train as torch_train
from zoo import devices, training

from _folders import make_folder

SCRIPTS = {"torch": torch_train, "paddle": paddle_train}
FRAMEWORKS = list(SCRIPTS)


# The CI budget (20 minutes on 2 cores): trains models end to end; run with -m heavy.
pytestmark = pytest.mark.heavy


def train(fw, *argv):
    return SCRIPTS[fw].train(training.parse_args(fw, [*argv, "--threads", "1"]))


def cli(fw, capsys, *argv):
    rc = SCRIPTS[fw].main([*argv, "--threads", "1"])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("folder"), 8, size=(16, 16))


@pytest.mark.heavy  # 16-66 s a framework on the loaded 2-core machine (first imports included)
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_resnet18_trains_on_a_folder_with_standard_augmentation(fw, small_folder, tmp_path, capsys):
    rc, out, err = cli(fw, capsys, "resnet18", "--dataset", "folder", "--data-dir", str(small_folder), "--augment",
                       "standard", "--epochs", "2", "--batch-size", "8", "--out", str(tmp_path))
    assert rc == 0, err
    assert ("folder: 18 train / 6 test, input 3x16x16 (as is), augment standard (random resized crop, flip) | "
            in out.splitlines()[0])
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and all(np.isfinite(float(r["train_loss"])) for r in rows)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_a_thousand_image_folder_streams_from_disk(fw, tmp_path_factory, tmp_path):
    root = tmp_path_factory.getbasetemp() / "folder1000"
    if not root.exists():
        make_folder(root, 334, classes=("a", "b", "c"), size=(8, 8), mode="L")
    result = train(fw, "lenet5", "--dataset", "folder", "--data-dir", str(root), "--loader", "stream", "--epochs", "1",
                   "--out", str(tmp_path))
    assert len(result.log.steps) == 7  # 801 training images, batch 128
    assert result.test_acc > 0.6  # the classes differ in brightness: one epoch learns it


@pytest.mark.heavy
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_a_twenty_thousand_image_folder_trains_end_to_end(fw, tmp_path_factory, tmp_path):
    root = tmp_path_factory.getbasetemp() / "folder20k"
    if not root.exists():
        make_folder(root, 2000, classes=tuple("abcdefghij"), size=(16, 16), mode="RGB")
    t0 = time.perf_counter()
    result = train(fw, "lenet5", "--dataset", "folder", "--data-dir", str(root), "--loader", "stream", "--epochs", "2",
                   "--augment", "light", "--out", str(tmp_path))
    print(f"{fw}: 20,000 images, 2 epochs streamed: {time.perf_counter() - t0:.1f} s, test acc {result.test_acc:.2%}")
    assert len(result.log.steps) == 2 * 125 and result.test_acc > 0.5


def test_device_choice_under_launchers(monkeypatch):
    for var in ("LOCAL_RANK", "LOCAL_WORLD_SIZE", "WORLD_SIZE", "PADDLE_LOCAL_RANK", "PADDLE_LOCAL_SIZE",
                "PADDLE_TRAINERS_NUM", "FLAGS_selected_gpus"):
        monkeypatch.delenv(var, raising=False)
    assert devices.choose_device("auto", "torch", 0) == "cpu"
    assert devices.choose_device("auto", "paddle", 2) == "gpu:0"
    assert devices.choose_device("gpu:1", "torch", 2) == "cuda:1"
    assert devices.choose_device("cuda:1", "paddle", 2) == "gpu:1"
    with pytest.raises(devices.DeviceError, match="sees 2 GPU"):
        devices.choose_device("cuda:2", "torch", 2)
    with pytest.raises(devices.DeviceError, match="expected auto, cpu"):
        devices.choose_device("tpu", "torch", 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert devices.choose_device("cuda", "torch", 2) == devices.choose_device("auto", "torch", 2) == "cuda:1"
    with pytest.raises(devices.DeviceError, match="GPU of its local rank"):
        devices.choose_device("cuda:0", "torch", 2)
    monkeypatch.setenv("FLAGS_selected_gpus", "3")  # paddle's launcher names the GPU itself
    assert devices.choose_device("gpu", "paddle", 4) == "gpu:3"
    monkeypatch.setattr(training, "available_cores", lambda: 16)
    monkeypatch.setattr(training.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert training.auto_threads("torch", 10**7) == 8  # 16 cores, 2 processes on this machine


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_gpu_and_amp_requests_that_cannot_run_here_say_why(fw, capsys, tmp_path):
    if str(SCRIPTS[fw].resolve_device("auto")) != "cpu":
        pytest.skip(f"{fw} sees a GPU here, so gpu:0 and --amp are valid (test_cuda_run_with_amp runs them)")
    rc, _, err = cli(fw, capsys, "lenet5", "--device", "gpu:0", "--out", str(tmp_path))
    assert rc == 2 and f"--device gpu:0: {fw} sees no GPU here" in err and "use --device cpu" in err
    rc, _, err = cli(fw, capsys, "lenet5", "--amp", "fp16", "--out", str(tmp_path))
    assert rc == 2 and "--amp fp16 needs a GPU" in err
    if fw == "paddle":
        rc, _, err = cli(fw, capsys, "lenet5", "--amp", "bf16", "--out", str(tmp_path))
        assert rc == 2 and "auto_cast has no effect on the CPU" in err and "conv2d has no bfloat16 kernel" in err


@pytest.mark.heavy  # 15 s on the loaded 2-core machine: bfloat16 convolutions are slow on this CPU
def test_torch_bf16_on_the_cpu_trains_and_resumes_bit_identically(tmp_path):
    argv = ["lenet_bn", "--limit", "100", "--batch-size", "50", "--amp", "bf16", "--epochs", "2"]
    whole = train("torch", *argv, "--out", str(tmp_path / "a"))
    train("torch", *argv, "--out", str(tmp_path / "b"), "--stop-after", "1")
    resumed = train("torch", *argv, "--out", str(tmp_path / "b"), "--resume")
    for key, value in whole.state.items():
        np.testing.assert_array_equal(resumed.state[key], value, err_msg=key)
    assert np.isfinite(whole.log.steps).all() and whole.log.steps[-1] < whole.log.steps[0]


@pytest.mark.heavy
def test_bf16_mnist5k_accuracy_within_half_a_point_of_float32(tmp_path):
    fp32 = train("torch", "lenet5_original", "--epochs", "10", "--out", str(tmp_path / "fp32"))
    bf16 = train("torch", "lenet5_original", "--epochs", "10", "--amp", "bf16", "--out", str(tmp_path / "bf16"))
    print(f"mnist5k, 10 epochs: float32 {fp32.test_acc:.2%}, bf16 autocast {bf16.test_acc:.2%}")
    assert abs(bf16.test_acc - fp32.test_acc) <= 0.005


def _gpus():
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.skipif(_gpus() == 0, reason="no CUDA GPU on this machine: the CUDA run (docs/TRAINING.md) is tested "
                                         "only where torch sees one")
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_cuda_run_with_amp(amp, tmp_path):
    result = train("torch", "lenet_bn", "--limit", "500", "--epochs", "2", "--device", "cuda", "--amp", amp,
                   "--out", str(tmp_path))
    assert np.isfinite(result.log.steps).all() and result.test_acc > 0.5
