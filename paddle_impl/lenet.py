"""LeNet family in PaddlePaddle: LeNet-5 (classic, d2l, trainable subsampling, sparse C3) and seed 000's BN LeNet.

Mirrors torch_impl/lenet.py name for name; the variant tables are in zoo/specs/lenet.py.
"""
from __future__ import annotations

import math
from typing import Sequence

import paddle
import paddle.nn.functional as F
from paddle import nn

from paddle_impl._registry import register_model
from paddle_impl.features import Backbone
from paddle_impl.layers import (DownSample, avg_pool, batch_norm, check_dims, check_input, conv, init_default_,
                                linear_head, max_pool)
from zoo.specs.lenet import C3_CONNECTIONS, LENET5_VARIANTS, LENET_BN, lenet5_body, lenet_bn_body, lenet_bn_features

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class ConnectionTableConv(nn.Layer):
    """A convolution in which output map ``o`` sees only the input maps ``table[o]``.

    LeCun et al. 1998 (Table I) wire C3 this way to break symmetry and save parameters.
    Only the connected kernels are parameters (``weight`` is [connections, k, k]); a
    fixed 0/1 matrix scatters them into a dense kernel for one ordinary convolution, so
    the layer exports to ONNX as a MatMul and a Conv.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: int,
                 table: Sequence[Sequence[int]]) -> None:
        super().__init__()
        if len(table) != out_channels:
            raise ValueError(f"connection table has {len(table)} rows for {out_channels} output maps")
        self.dims = check_dims(dims)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.table = tuple(tuple(row) for row in table)
        pairs = [(o, i) for o, row in enumerate(self.table) for i in row]
        self.weight = self.create_parameter([len(pairs)] + [kernel_size] * dims)
        self.bias = self.create_parameter([out_channels], is_bias=True)
        self.dense_shape = [out_channels, in_channels] + [kernel_size] * dims
        scatter = paddle.zeros([out_channels * in_channels, len(pairs)])
        for j, (o, i) in enumerate(pairs):
            scatter[o * in_channels + i, j] = 1.0
        self.register_buffer("scatter", scatter, persistable=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Uniform(+-1/sqrt(fan_in)) where fan_in is what each output map actually sees.
        weight, bias = [], []
        for row in self.table:
            bound = 1.0 / math.sqrt(len(row) * self.kernel_size ** self.dims)
            weight.append(paddle.uniform([len(row)] + self.weight.shape[1:], dtype=self.weight.dtype,
                                         min=-bound, max=bound))
            bias.append(paddle.uniform([1], dtype=self.bias.dtype, min=-bound, max=bound))
        self.weight.set_value(paddle.concat(weight))
        self.bias.set_value(paddle.concat(bias))

    def dense_weight(self) -> paddle.Tensor:
        """The equivalent [out, in, k, ...] kernel, zero where the table has no connection."""
        dense = paddle.matmul(self.scatter, self.weight.flatten(1))
        return dense.reshape(self.dense_shape)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if self.dims == 1:
            return F.conv1d(x, self.dense_weight(), self.bias)
        return F.conv2d(x, self.dense_weight(), self.bias)


class LeNet5(Backbone, nn.Layer):
    """LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), in the variants of zoo/specs/lenet.py.

    C1 6@5x5, S2 2x2, C3 16@5x5, S4 2x2, C5 120, F6 84, output. Differences from the
    paper, all deliberate: the output layer is a Linear instead of Euclidean RBF units
    (so cross-entropy applies), the activation is plain relu/sigmoid/tanh rather than
    1.7159 tanh(2x/3), and subsampling is a plain average pool except in the
    ``*_original`` variants, which keep the paper's trainable coefficient and bias. Only
    ``lenet5_original_sparse`` keeps the paper's sparse C3 connection table. The input
    size is fixed (32, or 28 for the d2l variant with padded C1) because C5 must reduce
    the maps to 1x1. The body (``forward_features``) is ``features`` up to its flatten;
    ``num_classes=0`` returns F6's 84 outputs.
    """

    def __init__(self, variant: str = "lenet5", *, num_classes: int = 10, in_channels: int = 1,
                 dims: int = 2) -> None:
        super().__init__()
        spec = LENET5_VARIANTS[variant]
        self.variant, self.dims, self.in_channels = variant, check_dims(dims), in_channels
        self.input_size = 32 - 2 * spec["c1_padding"]
        act = ACTIVATIONS[spec["activation"]]
        trainable = spec["subsampling"] == "trainable"

        def subsample(channels: int) -> nn.Layer:
            return DownSample(dims, channels, 2) if trainable else avg_pool(dims, 2)

        layers: list[tuple[str, nn.Layer]] = [
            ("c1", conv(dims, in_channels, 6, 5, padding=spec["c1_padding"])), ("c1_act", act()),
            ("s2", subsample(6)),
        ]
        if trainable:  # seed 004 and the paper squash the subsampled maps as well
            layers.append(("s2_act", act()))
        c3 = ConnectionTableConv(dims, 6, 16, 5, C3_CONNECTIONS) if spec["c3_table"] else conv(dims, 6, 16, 5)
        layers += [("c3", c3), ("c3_act", act()), ("s4", subsample(16))]
        if trainable:
            layers.append(("s4_act", act()))
        if spec["c5"] == "conv":
            layers += [("c5", conv(dims, 16, 120, 5)), ("c5_act", act()), ("flatten", nn.Flatten())]
        else:
            layers += [("flatten", nn.Flatten()), ("c5", nn.Linear(16 * 5 ** dims, 120)), ("c5_act", act())]
        self.features = nn.Sequential(*layers)
        self.body_len = [name for name, _ in layers].index("flatten")
        self.classifier = nn.Sequential(
            ("f6", nn.Linear(120, 84)), ("f6_act", act()), ("output", linear_head(84, num_classes)),
        )
        init_default_(self)
        self.init_backbone(lenet5_body(variant), {"classifier.output": 84}, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, self, model=self.variant, dims=self.dims, in_channels=self.in_channels, size=self.input_size)
        return self.run_features(x, True)

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.classifier(self.run_features(x, False))


class LeNetBN(Backbone, nn.Layer):
    """Seed 000's LeNet with BatchNorm, whose classifier is sized from the input.

    conv 20@5, BN, max pool 2, conv 50@5, BN, max pool 2, Linear(., 512), ReLU,
    Linear(512, classes). Not the 1998 paper: BatchNorm and a 512-wide hidden layer are
    the seed's modernisation. The seed also applies a ReLU to the logits; that clamps
    every negative logit to 0 and stalls cross-entropy, so it is off by default and
    ``final_relu=True`` restores it (the parameter count is unchanged). ``num_classes=0``
    returns the 512 hidden features.
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 1, dims: int = 2,
                 input_size: int | Sequence[int] = 224, final_relu: bool = False) -> None:
        super().__init__()
        self.dims, self.in_channels = check_dims(dims), in_channels
        sizes = (input_size,) * dims if isinstance(input_size, int) else tuple(input_size)
        if len(sizes) != dims:
            raise ValueError(f"input_size for dims={dims} needs {dims} value(s), got {input_size!r}")
        self.input_size = sizes
        feature_sizes = [lenet_bn_features(s) for s in sizes]
        if min(feature_sizes) < 1:
            raise ValueError(f"lenet_bn needs an input size of at least 16, got {input_size!r}")
        c1, c2 = LENET_BN["channels"]
        k, p = LENET_BN["kernel"], LENET_BN["pool"]
        self.features = nn.Sequential(
            conv(dims, in_channels, c1, k), batch_norm(dims, c1), max_pool(dims, p),
            conv(dims, c1, c2, k), batch_norm(dims, c2), max_pool(dims, p),
        )
        self.flatten = nn.Flatten()
        head: list[nn.Layer] = [
            nn.Linear(c2 * math.prod(feature_sizes), LENET_BN["hidden"]), nn.ReLU(),
            linear_head(LENET_BN["hidden"], num_classes),
        ]
        if final_relu:
            head.append(nn.ReLU())
        self.classifier = nn.Sequential(*head)
        init_default_(self)
        self.init_backbone(lenet_bn_body(), {"classifier.2": LENET_BN["hidden"]}, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        check_input(x, self, model="lenet_bn", dims=self.dims, in_channels=self.in_channels, size=self.input_size)
        return self.features(x)

    def forward_head(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.classifier(self.flatten(x))


@register_model
def lenet5(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2) -> LeNet5:
    """LeNet-5 as in seed 002's layer table: 32x32 input, unpadded C1, ReLU, average pooling,
    C5 as a 5x5 conv; 61,706 parameters. The seed's code pads C1, its table does not; the
    table (and the paper) is followed."""
    return LeNet5("lenet5", num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def lenet5_d2l(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2) -> LeNet5:
    """The Dive-into-Deep-Learning LeNet (seed 001): sigmoid, average pooling, 28x28 input
    with C1 padded by 2, and C5 as a Linear over the flattened 16x5x5 maps; 61,706 parameters."""
    return LeNet5("lenet5_d2l", num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def lenet5_original(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2,
                    sparse_c3: bool = False) -> LeNet5:
    """LeNet-5 with the paper's trainable subsampling (seed 004): tanh, and ``DownSample`` for
    S2/S4 (12 and 32 parameters); 61,750 in all. ``sparse_c3=True`` uses the paper's
    Table I connections in C3 (1,516 parameters instead of 2,416)."""
    variant = "lenet5_original_sparse" if sparse_c3 else "lenet5_original"
    return LeNet5(variant, num_classes=num_classes, in_channels=in_channels, dims=dims)


@register_model
def lenet5_original_sparse(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2) -> LeNet5:
    """``lenet5_original`` with the paper's sparse C3 connection table: 60,850 parameters."""
    return lenet5_original(num_classes=num_classes, in_channels=in_channels, dims=dims, sparse_c3=True)


@register_model
def lenet_bn(*, num_classes: int = 10, in_channels: int = 1, dims: int = 2,
             input_size: int | Sequence[int] = 224, final_relu: bool = False) -> LeNetBN:
    """Seed 000's adaptive LeNet with BatchNorm, in 1D and 2D; the classifier is sized for
    ``input_size``. At 3x224x224 with 5 classes it has 71,940,187 parameters."""
    return LeNetBN(num_classes=num_classes, in_channels=in_channels, dims=dims, input_size=input_size,
                   final_relu=final_relu)
