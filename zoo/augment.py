"""``--augment none|light|standard``: training-batch augmentation in numpy, the same in both frameworks.

Every random choice comes from a generator seeded by (run seed, epoch, step), drawn for the
whole global batch before a process takes its shard. So both scripts, any number of
processes and a resumed run all see bit-identical batches.

- ``light``: random crop with padding (``pad_for(size)`` = size/8 on every side, filled with
  the standardised blank value; 4 pixels at 32x32), then a horizontal flip with probability 1/2;
- ``standard``: random resized crop (an area of 8% to 100% of the image, aspect ratio 3/4 to
  4/3, up to 10 tries then a centre crop, as torchvision's ``RandomResizedCrop``), resized back
  with the antialiased linear interpolation of ``zoo.data``, then the flip.

Flips are left out for digits (mnist5k, digits, mnist), whose mirror images are other glyphs,
and for 1D series (``light`` shifts them, ``standard`` crops and stretches a segment).
Normalisation, the per-channel standardisation with the training split's statistics, is
applied to every batch of every run by ``zoo.data``, before any of this.

Defaults: ``light`` (the usual CIFAR recipe) for cifar10, cifar100 and a folder of images
under 64 pixels; ``standard`` (the usual ImageNet recipe) for a folder of larger images;
``none`` for everything else, whose documented accuracies were measured without augmentation.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from zoo.data import interpolation_matrix

LEVELS = ("none", "light", "standard")
DEFAULT_LEVEL = {"cifar10": "light", "cifar100": "light"}
NO_FLIP = frozenset({"mnist5k", "digits", "mnist"})
LARGE_FOLDER = 64  # folders of images at least this large default to ``standard``
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
CROP_TRIES = 10
STREAM_TAG = 0xA06  # keeps these draws apart from any other use of (seed, epoch, step)


def default_level(dataset: str, size: Sequence[int]) -> str:
    """The ``--augment`` a dataset gets when the flag is not given (see the module docstring)."""
    if dataset == "folder":
        return "standard" if min(size) >= LARGE_FOLDER else "light"
    return DEFAULT_LEVEL.get(dataset, "none")


def pad_for(size: int) -> int:
    """The crop padding of ``light``: an eighth of the side, at least 1."""
    return max(1, round(size / 8))


@dataclass(frozen=True)
class Augment:
    """One run's augmentation: ``aug(x, key, positions, n)`` returns a new, augmented batch."""

    level: str
    flip: bool
    fill: tuple[float, ...]  # per channel: the standardised value of a blank pixel

    @classmethod
    def for_run(cls, level: str, dataset: str, dims: int, fill: Sequence[float]) -> "Augment | None":
        if level == "none":
            return None
        return cls(level, flip=dims == 2 and dataset not in NO_FLIP, fill=tuple(fill))

    def describe(self) -> str:
        what = "random crop with padding" if self.level == "light" else "random resized crop"
        return f"augment {self.level} ({what}{', flip' if self.flip else ''})"

    def __call__(self, x: np.ndarray, key: Sequence[int], positions: np.ndarray, n: int) -> np.ndarray:
        """Augment ``x`` (rows ``positions`` of a global batch of ``n``); ``key`` is (seed, epoch, step)."""
        rng = np.random.default_rng([*key, STREAM_TAG])
        size = x.shape[2:]
        if self.level == "light":
            offsets = rng.integers(0, 2 * np.array([pad_for(s) for s in size]) + 1, size=(n, len(size)))
            out = self._shift(x, offsets[positions])
        else:
            boxes = crop_boxes(rng, n, size)
            out = self._resized_crops(x, boxes[positions])
        flips = rng.random(n) < 0.5
        if self.flip:
            mask = flips[positions]
            out[mask] = out[mask][..., ::-1]
        return out

    def _shift(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        size = x.shape[2:]
        pads = [pad_for(s) for s in size]
        padded = np.empty(x.shape[:2] + tuple(s + 2 * p for s, p in zip(size, pads)), dtype=x.dtype)
        padded[...] = np.asarray(self.fill, dtype=x.dtype).reshape((1, -1) + (1,) * len(size))
        padded[(slice(None), slice(None), *(slice(p, p + s) for s, p in zip(size, pads)))] = x
        out = np.empty_like(x)
        for i, off in enumerate(offsets):
            out[i] = padded[(i, slice(None), *(slice(o, o + s) for o, s in zip(off, size)))]
        return out

    @staticmethod
    def _resized_crops(x: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        size = x.shape[2:]
        out = np.empty_like(x)
        for i, box in enumerate(boxes):
            crop = x[(i, slice(None), *(slice(int(s), int(s + e)) for s, e in zip(box[::2], box[1::2])))]
            if len(size) == 1:
                out[i] = crop @ _matrix(int(box[1]), size[0], x.dtype).T
            else:  # rows, then columns: [H, h] @ [C, h, w] @ [w, W]
                out[i] = _matrix(int(box[1]), size[0], x.dtype) @ crop @ _matrix(int(box[3]), size[1], x.dtype).T
        return out


@functools.lru_cache(maxsize=4096)
def _matrix(n_in: int, n_out: int, dtype: np.dtype) -> np.ndarray:
    m = interpolation_matrix(n_in, n_out).astype(dtype)
    m.flags.writeable = False  # shared by every call
    return m


def crop_boxes(rng: np.random.Generator, n: int, size: Sequence[int]) -> np.ndarray:
    """[n, 2 * dims] (start, extent) per spatial axis of ``standard``'s random resized crops.

    As torchvision's ``RandomResizedCrop.get_params``: up to ``CROP_TRIES`` draws of an area
    fraction and a log-uniform aspect ratio, the first that fits; else a centre crop with the
    ratio clamped. The same number of values is drawn for every image, so an image's box does
    not depend on which tries the others needed.
    """
    area = rng.uniform(*CROP_SCALE, size=(n, CROP_TRIES)) * math.prod(size)
    ratio = np.exp(rng.uniform(*np.log(CROP_RATIO), size=(n, CROP_TRIES)))
    where = rng.random((n, len(size)))
    boxes = np.zeros((n, 2 * len(size)), dtype=np.int64)
    for i in range(n):
        extents = _fitting_extents(area[i], ratio[i], size)
        for axis, (e, s) in enumerate(zip(extents, size)):
            boxes[i, 2 * axis] = int(where[i, axis] * (s - e + 1))
            boxes[i, 2 * axis + 1] = e
    return boxes


def _fitting_extents(area: np.ndarray, ratio: np.ndarray, size: Sequence[int]) -> tuple[int, ...]:
    if len(size) == 1:  # a series: the area fraction is a length fraction, there is no aspect ratio
        return (max(1, min(size[0], int(round(area[0])))),)
    h_full, w_full = size
    for a, r in zip(area, ratio):
        w, h = int(round(math.sqrt(a * r))), int(round(math.sqrt(a / r)))
        if 0 < w <= w_full and 0 < h <= h_full:
            return h, w
    in_ratio = w_full / h_full
    if in_ratio < CROP_RATIO[0]:
        return int(round(w_full / CROP_RATIO[0])), w_full
    if in_ratio > CROP_RATIO[1]:
        return h_full, int(round(h_full * CROP_RATIO[1]))
    return h_full, w_full
