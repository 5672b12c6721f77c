"""--dataset folder (zoo/folder.py) and cifar100 (zoo/cifar100.py): layouts, class order, channels, sizes, errors."""
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from zoo import data
from zoo.data import DatasetError

from _folders import make_folder


def test_one_folder_per_class_is_split_stratified_in_sorted_class_order(tmp_path):
    make_folder(tmp_path, 10, classes=("zebra", "ant", "mole"))
    ds = data.load("folder", tmp_path)
    assert ds.classes == ("ant", "mole", "zebra")
    assert ds.x_train.shape == (24, 3, 12, 12) and ds.x_test.shape == (6, 3, 12, 12)
    assert np.bincount(ds.y_test).tolist() == [2, 2, 2]
    assert ds.x_train.dtype == np.float32 and abs(float(ds.x_train.mean())) < 1e-5
    # make_folder's k-th class is the k-th brightest, so the labels follow the sorted names
    means = [ds.x_train[ds.y_train == k].mean() for k in range(3)]
    assert means[2] < means[0] < means[1]  # zebra (made 1st), ant (2nd), mole (3rd)


def test_train_val_layout_grayscale_and_mixed_sizes(tmp_path):
    make_folder(tmp_path, 8, mode="L", split=True)
    Image.fromarray(np.zeros((20, 16), np.uint8)).save(tmp_path / "train" / "cat" / "big.jpg")  # another size, JPEG
    ds = data.load("folder", tmp_path)
    assert ds.channels == 1 and ds.size == (12, 12)  # the most common size; the odd one resized to it
    assert len(ds.y_train) == 3 * 8 + 1 and len(ds.y_test) == 3 * 2
    assert "train/ and val/" in ds.source


def test_rgb_wins_over_grayscale(tmp_path):
    make_folder(tmp_path, 3, mode="L")
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "cat" / "colour.png")
    assert data.load("folder", tmp_path).channels == 3


def test_streamed_folder_reads_the_same_arrays(tmp_path):
    make_folder(tmp_path, 6)
    memory = data.load("folder", tmp_path, stream=False)
    disk = data.load("folder", tmp_path, stream=True)
    assert disk.streamed and not memory.streamed
    assert disk.mean == memory.mean and disk.std == memory.std  # under STAT_SAMPLE images: exact statistics
    rows = np.array([3, 0, 7])
    np.testing.assert_array_equal(disk.x_train[rows], memory.x_train[rows])
    limited = disk.limit(4)
    assert limited.streamed and limited.x_train.shape[0] == 4


@pytest.mark.parametrize("case,pattern", [
    ("empty", "no class folders with images"),
    ("corrupt", "dog/bad.png: Pillow cannot read it"),
    ("unknown_val_class", r"classes \['eel'\] have no images"),
    ("no_dir", "needs --data-dir"),
])
def test_folder_errors_name_the_problem(tmp_path, case, pattern):
    if case == "corrupt":
        make_folder(tmp_path, 2)
        (tmp_path / "dog" / "bad.png").write_bytes(b"not a png")
    elif case == "unknown_val_class":
        make_folder(tmp_path, 2, split=True)
        make_folder(tmp_path / "val", 1, classes=("eel",))
    with pytest.raises(DatasetError, match=pattern):
        data.load("folder", None if case == "no_dir" else tmp_path)


def cifar100_files(n):
    rng = np.random.default_rng(0)
    split = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"fine_labels": list(rng.integers(0, 100, n)), b"coarse_labels": [0] * n}
    meta = {b"fine_label_names": [f"c{i}".encode() for i in range(100)]}
    return {"train": pickle.dumps(split), "test": pickle.dumps(split), "meta": pickle.dumps(meta)}


def test_cifar100_torchvision_folder_and_paddle_archive(tmp_path):
    folder = tmp_path / "tv" / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, blob in cifar100_files(6).items():
        (folder / name).write_bytes(blob)
    ds = data.load("cifar100", tmp_path / "tv")
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.num_classes == 100 and ds.classes[7] == "c7"
    archive = tmp_path / "pd" / "cifar-100-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-100-python")
    np.testing.assert_array_equal(data.load("cifar-100", archive.parent).x_train, ds.x_train)
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"a"]}))
    with pytest.raises(DatasetError, match="meta: expected 100 fine_label_names"):
        data.load("cifar100", tmp_path / "tv")
    with pytest.raises(DatasetError, match="Nothing is downloaded"):
        data.load("cifar100", tmp_path / "pd" / "..")
