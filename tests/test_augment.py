"""--augment (zoo/augment.py) and the background batches (zoo/stream.py): seeded, shard-independent,
and bit-identical in the two frameworks."""
import threading
import time

import numpy as np
import pytest
import torch

import paddle_impl.train as paddle_train
import torch_impl.train as torch_train
from zoo import augment, data, stream, training

from _folders import make_folder
from _torchvision import import_torchvision

SCRIPTS = {"torch": torch_train, "paddle": paddle_train}
DEVICE = {"torch": torch.device("cpu"), "paddle": "cpu"}


def batch(n=16, size=(20, 20), channels=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, channels, *size)).astype(np.float32)


@pytest.mark.parametrize("level", ["light", "standard"])
@pytest.mark.parametrize("dims", [1, 2])
def test_a_shard_gets_its_part_of_the_global_batch(level, dims):
    aug = augment.Augment.for_run(level, "folder", dims, (-0.5,) * 3)
    x = batch(size=(20, 20) if dims == 2 else (40,))
    whole = aug(x, (3, 2, 5), np.arange(16), 16)
    parts = [aug(x[p], (3, 2, 5), p, 16) for p in np.array_split(np.arange(16), 3)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert whole.shape == x.shape and whole.dtype == x.dtype and not np.array_equal(whole, x)
    np.testing.assert_array_equal(aug(x, (3, 2, 5), np.arange(16), 16), whole)  # seeded
    assert not np.array_equal(aug(x, (3, 2, 6), np.arange(16), 16), whole)  # another step, other draws


def test_light_shifts_within_the_padding_and_fills_the_blank():
    aug = augment.Augment("light", flip=False, fill=(-7.0,))
    x = np.arange(32 * 32, dtype=np.float32).reshape(1, 1, 32, 32) + 1
    out = aug(np.repeat(x, 8, 0), (0, 1, 0), np.arange(8), 8)
    for img in out[:, 0]:
        inside = img[img != -7.0]
        dy, dx = np.argwhere(img == x[0, 0, 0, 0])[0] if (img == 1).any() else (0, 0)
        assert augment.pad_for(32) == 4 and abs(int(dy)) <= 4 and abs(int(dx)) <= 4
        assert len(inside) >= 28 * 28  # at most 4 rows and 4 columns shifted out


@pytest.mark.torchvision
def test_standard_crops_like_torchvision():
    """The boxes' area and aspect-ratio distributions match RandomResizedCrop.get_params'."""
    tv = import_torchvision()
    boxes = augment.crop_boxes(np.random.default_rng(0), 2000, (32, 48))
    h, w = boxes[:, 1], boxes[:, 3]
    assert (boxes[:, 0] + h <= 32).all() and (boxes[:, 2] + w <= 48).all() and (h >= 1).all() and (w >= 1).all()
    torch.manual_seed(0)
    image = torch.zeros(1, 32, 48)
    ref = np.array([tv.transforms.RandomResizedCrop.get_params(image, list(augment.CROP_SCALE),
                                                               list(augment.CROP_RATIO)) for _ in range(2000)])
    for ours, theirs in ((h * w, ref[:, 2] * ref[:, 3]), (w / h, ref[:, 3] / ref[:, 2])):
        for q in (0.1, 0.5, 0.9):
            assert abs(np.quantile(ours, q) / np.quantile(theirs, q) - 1) < 0.1, q


def test_defaults_and_flips_per_dataset():
    assert augment.default_level("mnist5k", (28, 28)) == "none"
    assert augment.default_level("cifar10", (32, 32)) == "light"
    assert augment.default_level("folder", (32, 32)) == "light"
    assert augment.default_level("folder", (96, 128)) == "standard"
    assert not augment.Augment.for_run("light", "mnist5k", 2, (0.0,)).flip  # a mirrored digit is another glyph
    assert augment.Augment.for_run("light", "fashion-mnist", 2, (0.0,)).flip
    assert not augment.Augment.for_run("light", "gunpoint", 1, (0.0,)).flip
    assert augment.Augment.for_run("none", "cifar10", 2, (0.0,)) is None


def test_prefetch_keeps_order_runs_ahead_and_raises_at_the_item():
    started = []

    def make(i):
        started.append(i)
        if i == 5:
            raise ValueError("bad item 5")
        time.sleep(0.001 * (i % 3))
        return i, threading.current_thread().name

    it = stream.prefetch(make, 8, workers=2, ahead=1)
    got = [next(it) for _ in range(5)]
    assert [i for i, _ in got] == [0, 1, 2, 3, 4]
    assert all(name.startswith("zoo-stream") for _, name in got)  # made on the background threads
    with pytest.raises(ValueError, match="bad item 5"):
        next(it)
    early = stream.prefetch(lambda i: i, 1000, workers=2, ahead=2)
    assert next(early) == 0
    early.close()  # leaving early cancels the rest


def first_epoch(fw, argv):
    """Each script's own tensors of epoch 1 (its Arrays over its Loader), back as numpy."""
    script = SCRIPTS[fw]
    plan = training.make_plan(training.parse_args(fw, argv))
    arrays = script.Arrays(plan, DEVICE[fw])
    batches = training.usable_batches(len(arrays.y_train), plan.args.batch_size, plan.args.seed, 1)
    return [(x.numpy(), y.numpy()) for x, y in arrays.train_batches(batches, 1, script.Dist())]


@pytest.mark.parametrize("level", ["light", "standard"])
def test_both_frameworks_see_bit_identical_augmented_batches(tmp_path, level):
    make_folder(tmp_path, 8, size=(16, 16))
    argv = ["resnet18", "--dataset", "folder", "--data-dir", str(tmp_path), "--augment", level, "--batch-size", "8"]
    got = {fw: first_epoch(fw, argv) for fw in SCRIPTS}
    assert len(got["torch"]) == 3
    for (xt, yt), (xp, yp) in zip(got["torch"], got["paddle"]):
        assert xt.dtype == xp.dtype == np.float32 and xt.shape == xp.shape == (len(yt), 3, 16, 16)
        assert xt.tobytes() == xp.tobytes() and np.array_equal(yt, yp)
    plain = first_epoch("torch", [*argv[:-4], "--augment", "none", "--batch-size", "8"])
    assert all(not np.array_equal(a[0], b[0]) for a, b in zip(plain, got["torch"]))


def test_streamed_batches_equal_the_in_memory_ones():
    argv = ["lenet5", "--limit", "300", "--batch-size", "64"]
    memory, streamed = first_epoch("torch", argv), first_epoch("torch", [*argv, "--loader", "stream"])
    for (xm, ym), (xs, ys) in zip(memory, streamed):
        assert xm.tobytes() == xs.tobytes() and np.array_equal(ym, ys)
    ds = data.load("mnist5k")
    assert stream.Loader(ds.x_train, ds.y_train, ds.x_test, ds.y_test, None, None, 0, False).in_memory
