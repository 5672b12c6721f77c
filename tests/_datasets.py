"""Where the tests find datasets that only some machines have installed."""
from pathlib import Path

import pytest

FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
needs_fashion = pytest.mark.skipif(
    not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST is not installed (Debian: apt-get install dataset-fashion-mnist; CI installs it)")
