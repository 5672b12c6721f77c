"""``--dataset folder``: the user's own images in an ImageFolder layout, read with Pillow.

Layouts (``--data-dir ROOT``):
- ``ROOT/CLASS/*.png`` (any format Pillow reads): one folder per class; the test split is a
  fixed, seeded, stratified ``TEST_FRACTION`` of each class (as for mnist5k);
- ``ROOT/train/CLASS/*`` and ``ROOT/val/CLASS/*`` (or ``ROOT/test/CLASS/*``): the user's split.

Class order: the class folders' names, sorted (torchvision's ``ImageFolder`` order), so
class ``k`` is the k-th name in ``sorted(os.listdir(...))``; with a split layout, the union of
the train and val names. Hidden files and files Pillow does not list as images are skipped.

Channels: 1 when every image is grayscale (Pillow modes 1, L, LA, I, I;16, F), else 3 (every
image converted to RGB; alpha dropped). Size: the most common image size; images of another
size are resized to it with Pillow's bilinear filter as they are read.

The images are decoded into memory when they fit in ``IN_MEMORY_BYTES`` as float32 (or when
asked to); otherwise ``FolderImages`` reads them from disk batch by batch, and the
standardisation statistics come from a fixed seeded sample of ``STAT_SAMPLE`` training images.
"""
from __future__ import annotations

import collections
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from zoo.data import (SPLIT_SEED, TEST_FRACTION, Dataset, DatasetError, channel_stats, lookup_tables, standardise,
                      stratified_split)

SPLIT_NAMES = (("train", "val"), ("train", "test"))
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
IN_MEMORY_BYTES = 1 << 30
STAT_SAMPLE = 2000
READ_THREADS = 8  # Pillow releases the GIL while it decodes


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError("--dataset folder reads images with Pillow: pip install pillow") from None
    return Image


def image_suffixes() -> set[str]:
    """File suffixes Pillow can open (lower case, with the dot)."""
    image = _pillow()
    image.init()
    return {s.lower() for s, fmt in image.registered_extensions().items() if fmt in image.OPEN}


def scan_classes(root: Path) -> dict[str, list[Path]]:
    """{class name: its image files, sorted} for one ``root/CLASS/*`` level."""
    suffixes = image_suffixes()
    classes = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in suffixes
                       and not f.name.startswith("."))
        if files:
            classes[d.name] = files
    return classes


def find_layout(root: Path) -> tuple[dict[str, list[Path]], dict[str, list[Path]] | None, str]:
    """(train classes, held-out classes or None, a description of the layout found)."""
    for train_name, test_name in SPLIT_NAMES:
        if (root / train_name).is_dir() and (root / test_name).is_dir():
            train, test = scan_classes(root / train_name), scan_classes(root / test_name)
            if not train:
                raise DatasetError(f"{root / train_name}: no class folders with images in them")
            unknown = sorted(set(test) - set(train))
            if unknown:
                raise DatasetError(f"{root / test_name}: classes {unknown} have no images in {root / train_name}")
            return train, test, f"{root} ({train_name}/ and {test_name}/)"
    classes = scan_classes(root)
    if not classes:
        raise DatasetError(f"{root}: no class folders with images in them; expected ROOT/CLASS/*.png (any format "
                           f"Pillow reads: {', '.join(sorted(image_suffixes())[:8])}, ...) or ROOT/train/CLASS/* "
                           "with ROOT/val/CLASS/*")
    return classes, None, f"{root} (seeded stratified split)"


def _header(path: Path) -> tuple[tuple[int, int], str]:
    image = _pillow()
    try:
        with image.open(path) as im:
            return im.size, im.mode
    except Exception as e:  # Pillow raises many types for a damaged or foreign file
        raise DatasetError(f"{path}: Pillow cannot read it as an image: {type(e).__name__}: {e}") from None


def read_image(path: Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 [C, H, W]: converted to L or RGB, resized bilinearly to ``size`` (W, H) if needed."""
    image = _pillow()
    try:
        with image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != size:
                im = im.resize(size, image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except Exception as e:  # Pillow raises many types for a damaged or foreign file
        raise DatasetError(f"{path}: Pillow cannot read it as an image: {type(e).__name__}: {e}") from None
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


def read_images(paths: Sequence[Path], channels: int, size: tuple[int, int]) -> np.ndarray:
    """uint8 [N, C, H, W], decoded on a small thread pool."""
    out = np.empty((len(paths), channels, size[1], size[0]), dtype=np.uint8)

    def fill(i: int) -> None:
        out[i] = read_image(paths[i], channels, size)

    if len(paths) < 64:
        for i in range(len(paths)):
            fill(i)
    else:
        with ThreadPoolExecutor(min(READ_THREADS, os.cpu_count() or 1)) as pool:
            list(pool.map(fill, range(len(paths)), chunksize=64))
    return out


class FolderImages:
    """Images of a folder dataset read from disk when indexed: float32 [N, C, H, W], standardised.

    ``x[rows]`` decodes those rows; ``take(idx)`` is a lazy subset (``Dataset.limit``).
    """

    def __init__(self, paths: Sequence[Path], channels: int, size: tuple[int, int], mean: Sequence[float],
                 std: Sequence[float]) -> None:
        self.paths = list(paths)
        self.channels, self.image_size = channels, size
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), self.channels, self.image_size[1], self.image_size[0])

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, idx: np.ndarray) -> "FolderImages":
        return FolderImages([self.paths[i] for i in idx], self.channels, self.image_size, self.mean, self.std)

    def __getitem__(self, rows: np.ndarray | slice) -> np.ndarray:
        chosen = self.paths[rows] if isinstance(rows, slice) else [self.paths[i] for i in np.asarray(rows)]
        raw = read_images(chosen, self.channels, self.image_size)
        luts = lookup_tables(self.mean, self.std, 1 / 255, 255)  # as standardise() maps an in-memory folder
        return np.stack([luts[c][raw[:, c]] for c in range(self.channels)], axis=1)


def load_folder(data_dir: Path | None, stream: bool | None = None) -> Dataset:
    """An ImageFolder layout as a Dataset; ``stream``: True reads from disk per batch, False decodes
    everything now, None decides by ``IN_MEMORY_BYTES``."""
    if data_dir is None:
        raise DatasetError("--dataset folder needs --data-dir ROOT, with ROOT/CLASS/*.png or ROOT/train/CLASS/* "
                           "and ROOT/val/CLASS/*")
    train, test, layout = find_layout(data_dir)
    classes = tuple(sorted(set(train) | set(test or {})))
    files = [(f, classes.index(c)) for c, fs in train.items() for f in fs]
    held = [(f, classes.index(c)) for c, fs in (test or {}).items() for f in fs]
    headers = [_header(f) for f, _ in files + held]
    size = collections.Counter(s for s, _ in headers).most_common(1)[0][0]
    channels = 1 if all(m in GRAY_MODES for _, m in headers) else 3
    paths = np.array([str(f) for f, _ in files + held], dtype=object)
    labels = np.array([y for _, y in files + held], dtype=np.int64)
    if test is None:
        tr, te = stratified_split(labels)
    else:
        tr, te = np.arange(len(files)), np.arange(len(files), len(files) + len(held))
    if len(te) == 0 or len(tr) == 0:
        raise DatasetError(f"{layout}: {len(tr)} training and {len(te)} test images; both splits need images "
                           f"(with one folder per class, each class is split "
                           f"{1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%})")
    source = f"{layout}, {len(classes)} classes in sorted folder order, {size[0]}x{size[1]}x{channels}"
    nbytes = len(labels) * channels * math.prod(size) * 4
    if stream is None:
        stream = nbytes > IN_MEMORY_BYTES
    if not stream:
        x = read_images([Path(p) for p in paths], channels, size)
        return standardise("folder", x[tr], labels[tr], x[te], labels[te], classes, source=source, scale=1 / 255)
    sample = np.sort(np.random.default_rng(SPLIT_SEED).permutation(tr)[:STAT_SAMPLE])
    mean, std = channel_stats(read_images([Path(p) for p in paths[sample]], channels, size), 1 / 255)
    images = [FolderImages([Path(p) for p in paths[idx]], channels, size, mean, std) for idx in (tr, te)]
    ys = [labels[tr], labels[te]]
    for y in ys:
        y.flags.writeable = False
    note = f"; streamed from disk, statistics of {len(sample):,} training images"
    return Dataset("folder", images[0], ys[0], images[1], ys[1], classes, source + note,  # type: ignore[arg-type]
                   tuple(map(float, mean)), tuple(map(float, std)))
