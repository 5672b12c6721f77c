"""Small image folders made on the fly (ImageFolder layouts) for the folder-dataset tests."""
from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(root: Path, per_class: int, classes=("cat", "dog", "owl"), size=(12, 12), mode="RGB",
                split: bool = False, seed: int = 0, suffix: str = ".png") -> Path:
    """``root/CLASS/i.png`` (or ``root/{train,val}/CLASS/i.png`` with ``split``): noise whose mean
    brightness depends on the class, so a network can learn it."""
    rng = np.random.default_rng(seed)
    # Class means 60 apart, closer for more than 3 classes so that all stay under 255: at 60 apart,
    # classes 4 to 9 of ten would all clip to white and be one class to the network.
    step = min(60.0, 180.0 / max(1, len(classes) - 1))
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    for part, count in ((("train", per_class), ("val", max(1, per_class // 4))) if split else (("", per_class),)):
        for k, name in enumerate(classes):
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = np.clip(rng.normal(60 + step * k, 40, shape), 0, 255).astype(np.uint8)
                Image.fromarray(pixels, mode=mode).save(folder / f"{i:05d}{suffix}")
    return root
