"""Write Fashion-MNIST out as an image-folder dataset, to try the scripts' user-data path.

    python -m examples.fashion_mnist_png OUT [--data-dir /usr/share/datasets/fashion-mnist]
    python -m torch_impl.train lenet5 --dataset folder --data-dir OUT --augment none --epochs 10

Layout: ``OUT/train/LABEL_CLASS/NNNNN.png`` (60,000) and ``OUT/val/LABEL_CLASS/NNNNN.png``
(10,000), from the IDX files that ``--dataset fashion-mnist`` reads. The class folders carry
their label as a prefix, so their sorted order (the folder reader's class order) is the
labels' order. docs/TRAINING.md gives the accuracy of this run against the IDX path.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo import data, files


def write_folders(root: Path, data_dir: Path) -> int:
    """Write every image of both splits under ``root``; returns how many were written."""
    from PIL import Image

    idx = data.find_idx("fashion-mnist", [data_dir])
    written = 0
    for part, (images, labels) in (("train", ("train_images", "train_labels")),
                                   ("val", ("test_images", "test_labels"))):
        x, y = data.read_idx_pair(idx[images], idx[labels])
        for i, (img, label) in enumerate(zip(x[:, 0], y)):
            folder = root / part / f"{label}_{data.FASHION_CLASSES[label].replace('/', '-')}"
            folder.mkdir(parents=True, exist_ok=True)
            # Atomic: a run stopped part-way leaves whole images only, never a torn PNG.
            files.atomic_write(folder / f"{i:05d}.png", lambda tmp, img=img: Image.fromarray(img).save(tmp, format="PNG"))
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m examples.fashion_mnist_png", description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="the folder to write (created)")
    p.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"),
                   help="where the Fashion-MNIST IDX files are (default: Debian's dataset-fashion-mnist)")
    args = p.parse_args(argv)
    try:
        n = write_folders(args.out, args.data_dir)
    except (data.DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {n:,} PNG files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
