"""ZFNet variants, in the rows of zoo/specs/alexnet.py (Conv, MaxPool, LRN).

torch_impl/zfnet.py and paddle_impl/zfnet.py build them with the AlexNet classes.
"""
from __future__ import annotations

from zoo.models import ModelInfo
from zoo.specs.alexnet import LRN, Conv, MaxPool, Row, min_input_size

# Zeiler & Fergus 2013, Fig. 3: 96@7x7 stride 2, 3x3 max pool stride 2, contrast
# normalisation across feature maps; 256@5x5 stride 2, pool, normalisation; 384, 384,
# 256 @3x3; pool; 4096, 4096. The figure's map sizes (110, 55, 26, 13, 13, 13, 6 at
# 224x224) need conv1 padded by 1 and pools that round up (Caffe's rounding), as here.
# The paper gives no constants for the normalisation; AlexNet's LRN constants are used.
ZFNET_FEATURES: tuple[Row, ...] = (
    Conv(96, 7, 2, 1), MaxPool(3, 2, True), LRN(),
    Conv(256, 5, 2, 0), MaxPool(3, 2, True), LRN(),
    Conv(384, 3, 1, 1), Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), MaxPool(3, 2, True),
)

# Seed 000's ZFNet with BatchNorm: unpadded conv1, floor-rounded pools, no
# normalisation layer (224 gives 5x5 maps and a 6400-wide classifier input).
ZFNET_BN_FEATURES: tuple[Row, ...] = (
    Conv(96, 7, 2, 0), MaxPool(),
    Conv(256, 5, 2, 0), MaxPool(),
    Conv(384, 3, 1, 1), Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), MaxPool(),
)

# The same keys as ALEXNET_VARIANTS. Neither variant has an adaptive pool: the
# classifier is sized for the input, as in the paper and in seed 000.
ZFNET_VARIANTS: dict[str, dict] = {
    "zfnet": dict(features=ZFNET_FEATURES, batch_norm=False, adaptive=None, hidden=4096, dropout_first=True),
    "zfnet_bn": dict(features=ZFNET_BN_FEATURES, batch_norm=True, adaptive=None, hidden=1024, dropout_first=False),
}

MODELS = [
    ModelInfo(
        "zfnet", "zfnet", "Zeiler & Fergus 2013 (Fig. 3): 7x7/2 conv1, LRN, 4096-4096 classifier sized from the input",
        input_size=224, min_size=min_input_size(ZFNET_FEATURES), parity_size=min_input_size(ZFNET_FEATURES),
        sized_by_input=True, heavy=True,  # 4096-wide classifier: as alexnet_d2l
    ),
    ModelInfo(
        "zfnet_bn", "zfnet", "seed 000: ZFNet with BatchNorm after every conv, 1024-wide classifier sized from the input",
        input_size=224, min_size=min_input_size(ZFNET_BN_FEATURES), parity_size=min_input_size(ZFNET_BN_FEATURES),
        sized_by_input=True,
    ),
]
