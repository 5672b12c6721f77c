"""Building blocks shared by the paddle models, and the one place the 2D-to-1D rule lives.

Mirrors torch_impl/layers.py name for name. Two conversions from torch semantics
happen here and nowhere else:
- average pools count padding in the mean (``exclusive=False``), as torch does;
- BatchNorm takes torch's momentum (weight of the new batch), converts it to paddle's
  (``1 - m``) once, and updates the running variance with the unbiased batch variance,
  as torch does. So a model trained in either framework carries the same statistics.
"""
from __future__ import annotations

import math
from typing import Sequence

import paddle
import paddle.nn.functional as F
from paddle import nn

from zoo.features import check_num_classes
from zoo.shapes import check_input_dtype, check_input_shape

Size = int | Sequence[int]


class _TorchStatsBatchNorm:
    """Mixin: training-mode running statistics updated exactly as torch does.

    Paddle's kernel would blend in the biased batch variance with a float32 momentum.
    Here the fused kernel runs with momentum 0 on scratch buffers, which hands back the
    batch mean and biased variance; the running buffers are then updated in the
    tensors' own precision with ``n / (n - 1)`` applied to the variance.

    The kernel also adds epsilon as a float32 even to float64 tensors (1e-5 becomes
    9.99999974737875e-06, 1e-3 becomes 1.0000000475e-03), which moves float64 outputs by
    up to ~1e-9 where a channel's variance is small, as after depthwise convs. float64
    input is therefore normalised with plain ops and the exact epsilon; float32 (what
    users run and what exports) keeps the fused kernel.
    """

    # False runs float64 through the fused kernel as well: the parity harness's float32
    # reference does, so that it measures paddle's rounding on float32's own code path.
    float64_exact = True

    def _init_torch_momentum(self, momentum: float) -> None:
        self.torch_momentum = momentum

    def _normalize_exact(self, x: paddle.Tensor, mean: paddle.Tensor, var: paddle.Tensor) -> paddle.Tensor:
        shape = [1, -1] + [1] * (x.ndim - 2)
        scale = paddle.rsqrt(var.reshape(shape) + self._epsilon) * self.weight.reshape(shape)
        return (x - mean.reshape(shape)) * scale + self.bias.reshape(shape)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        exact = x.dtype == paddle.float64 and self.float64_exact
        if not self.training:
            if exact:
                return self._normalize_exact(x, self._mean, self._variance)
            # Called directly rather than through super(): dy2static (jit.save) recurses
            # on super() inside a mixin.
            return F.batch_norm(x, self._mean, self._variance, weight=self.weight, bias=self.bias, training=False,
                                epsilon=self._epsilon, data_format=self._data_format)
        n = math.prod(x.shape) // x.shape[1]
        if n == 1:  # torch's BatchNorm refuses this too; paddle's would return the bias
            raise ValueError(f"Expected more than 1 value per channel when training, got input shape "
                             f"{list(x.shape)}: use a batch of 2 or more, or eval mode")
        if exact:
            axes = [0] + list(range(2, x.ndim))
            mean = x.mean(axes)
            var = (x - mean.reshape([1, -1] + [1] * (x.ndim - 2))).square().mean(axes)
            out = self._normalize_exact(x, mean, var)
            batch_mean, batch_var = mean.detach(), var.detach()
        else:
            batch_mean = paddle.zeros_like(self._mean)
            batch_var = paddle.zeros_like(self._variance)
            out = F.batch_norm(x, batch_mean, batch_var, weight=self.weight, bias=self.bias, training=True,
                               momentum=0.0, epsilon=self._epsilon, data_format=self._data_format)
        m = self.torch_momentum
        with paddle.no_grad():
            self._mean.set_value(self._mean * (1.0 - m) + batch_mean * m)
            self._variance.set_value(self._variance * (1.0 - m) + batch_var * (m * n / max(n - 1, 1)))
        return out


class BatchNorm1D(_TorchStatsBatchNorm, nn.BatchNorm1D):
    """BatchNorm1D with torch's momentum convention and running-variance update."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, momentum=1.0 - momentum, epsilon=eps)
        self._init_torch_momentum(momentum)


class BatchNorm2D(_TorchStatsBatchNorm, nn.BatchNorm2D):
    """BatchNorm2D with torch's momentum convention and running-variance update."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, momentum=1.0 - momentum, epsilon=eps)
        self._init_torch_momentum(momentum)


class _Float64AvgPool:
    """Mixin: float64 average pooling computed in float64 in the backward pass too.

    paddle's float64 avg-pool backward works in float32 precision (input gradients off by
    ~1e-8 relative; PITFALLS.md), and Adam's first step, g / (|g| + eps), turns that into
    visible weight differences wherever a gradient is near zero. float64 input (padding
    counted, no ceil_mode: all the zoo uses) is therefore averaged over windows gathered
    with ``unfold``, which is exact; float32 (what users run and what exports) and the
    other modes keep paddle's kernel.
    """

    def _pool_kernel(self, x: paddle.Tensor) -> paddle.Tensor:
        # Called directly rather than through super(), as in _TorchStatsBatchNorm.
        if x.ndim == 3:
            return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, exclusive=self.exclusive,
                                ceil_mode=self.ceil_mode)
        return F.avg_pool2d(x, self.ksize, self.stride, self.padding, ceil_mode=self.ceil_mode,
                            exclusive=self.exclusive, divisor_override=self.divisor, data_format=self.data_format)

    float64_exact = True  # as in _TorchStatsBatchNorm

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if x.dtype != paddle.float64 or not self.float64_exact or self.ceil_mode or self.exclusive:
            return self._pool_kernel(x)
        one_d = x.ndim == 3
        if one_d:  # a 1 x L image: no window, stride or padding along the added axis
            k, s, p = ([1, self.kernel_size], [1, self.stride], [0, self.padding])
        else:
            k, s, p = ([v, v] if isinstance(v, int) else list(v) for v in (self.ksize, self.stride, self.padding))
        x4 = x.unsqueeze(2) if one_d else x
        n, c, h, w = x4.shape
        out_h, out_w = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
        out = F.unfold(x4, k, s, p).reshape([n, c, k[0] * k[1], out_h, out_w]).mean(2)
        return out.squeeze(2) if one_d else out


class AvgPool1D(_Float64AvgPool, nn.AvgPool1D):
    """AvgPool1D whose float64 backward is exact (see _Float64AvgPool)."""


class AvgPool2D(_Float64AvgPool, nn.AvgPool2D):
    """AvgPool2D whose float64 backward is exact (see _Float64AvgPool)."""


class _Float64AdaptiveAvgPool:
    """Mixin: float64 adaptive average pooling computed in float64 in the backward pass too.

    paddle's float64 adaptive-avg-pool backward divides in float32 precision where a bin is
    not a power of two wide (3 or 6 wide, as at 96x96 or 224x224 inputs), like its plain
    average pool (see _Float64AvgPool). float64 input is therefore averaged bin by bin with
    plain ops, over torch's bins: rows floor(i * L / O) to ceil((i + 1) * L / O).
    """

    float64_exact = True  # as in _TorchStatsBatchNorm

    def _out_sizes(self, x: paddle.Tensor) -> list[int]:
        size = getattr(self, "_output_size", None) if x.ndim == 4 else self.output_size
        sizes = list(size) if isinstance(size, (list, tuple)) else [size] * (x.ndim - 2)
        return [int(x.shape[2 + i]) if o is None else int(o) for i, o in enumerate(sizes)]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if x.dtype != paddle.float64 or not self.float64_exact:
            return self._pool_kernel(x)
        lengths = [int(n) for n in x.shape[2:]]
        bins = [[(i * n // o, -(-(i + 1) * n // o)) for i in range(o)] for n, o in zip(lengths, self._out_sizes(x))]
        if x.ndim == 3:
            return paddle.stack([x[:, :, a:b].mean(2) for a, b in bins[0]], axis=2)
        rows = [paddle.stack([x[:, :, a:b, c:d].mean([2, 3]) for c, d in bins[1]], axis=2) for a, b in bins[0]]
        return paddle.stack(rows, axis=2)


class AdaptiveAvgPool1D(_Float64AdaptiveAvgPool, nn.AdaptiveAvgPool1D):
    """AdaptiveAvgPool1D whose float64 backward is exact (see _Float64AdaptiveAvgPool)."""

    def _pool_kernel(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2D(_Float64AdaptiveAvgPool, nn.AdaptiveAvgPool2D):
    """AdaptiveAvgPool2D whose float64 backward is exact (see _Float64AdaptiveAvgPool)."""

    def _pool_kernel(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.adaptive_avg_pool2d(x, self._output_size, data_format=self._data_format)


CONV = {1: nn.Conv1D, 2: nn.Conv2D}
BATCH_NORM = {1: BatchNorm1D, 2: BatchNorm2D}
MAX_POOL = {1: nn.MaxPool1D, 2: nn.MaxPool2D}
AVG_POOL = {1: AvgPool1D, 2: AvgPool2D}
ADAPTIVE_AVG_POOL = {1: AdaptiveAvgPool1D, 2: AdaptiveAvgPool2D}
ADAPTIVE_MAX_POOL = {1: nn.AdaptiveMaxPool1D, 2: nn.AdaptiveMaxPool2D}


def check_dims(dims: int) -> int:
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 (Conv1D, signals) or 2 (Conv2D, images), got {dims!r}")
    return dims


def to_dims(value: Size, dims: int) -> Size:
    """Apply the 2D-to-1D rule to a kernel, stride, padding or output size."""
    if dims == 2 or isinstance(value, int):
        return value
    return value[-1]


def conv(dims: int, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
         padding: Size = 0, groups: int = 1, bias: bool = True) -> nn.Layer:
    """Conv1D or Conv2D with the 2D-to-1D rule applied to its geometry."""
    return CONV[dims](in_channels, out_channels, to_dims(kernel_size, dims), stride=to_dims(stride, dims),
                      padding=to_dims(padding, dims), groups=groups, bias_attr=None if bias else False)


def max_pool(dims: int, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
             ceil_mode: bool = False) -> nn.Layer:
    stride = kernel_size if stride is None else stride
    return MAX_POOL[dims](to_dims(kernel_size, dims), to_dims(stride, dims), to_dims(padding, dims),
                          ceil_mode=ceil_mode)


def avg_pool(dims: int, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
             ceil_mode: bool = False) -> nn.Layer:
    """Average pool that counts padding in the mean: torch's default, paddle's ``exclusive=False``."""
    stride = kernel_size if stride is None else stride
    return AVG_POOL[dims](to_dims(kernel_size, dims), to_dims(stride, dims), to_dims(padding, dims),
                          ceil_mode=ceil_mode, exclusive=False)


def adaptive_avg_pool(dims: int, output_size: Size) -> nn.Layer:
    return ADAPTIVE_AVG_POOL[dims](to_dims(output_size, dims))


def batch_norm(dims: int, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> nn.Layer:
    """BatchNorm in torch's convention (momentum is the weight of the new batch)."""
    return BATCH_NORM[dims](num_features, eps=eps, momentum=momentum)


def linear_head(in_features: int, num_classes: int) -> nn.Layer:
    """A classifier's last layer: Linear to ``num_classes``, or, for 0, an Identity that passes
    the ``in_features`` on (timm's ``num_classes=0``: the model returns its features)."""
    if check_num_classes(num_classes) == 0:
        return nn.Identity()
    return nn.Linear(in_features, num_classes)


class ConvNormAct(nn.Sequential):
    """conv, BatchNorm, activation as a Sequential (keys ``0.weight``, ``1._mean``),
    the layout of torchvision's ``Conv2dNormActivation``."""

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size | None = None, groups: int = 1, activation: type[nn.Layer] | None = nn.ReLU,
                 eps: float = 1e-5, momentum: float = 0.1) -> None:
        if padding is None:
            padding = tuple((k - 1) // 2 for k in kernel_size) if not isinstance(kernel_size, int) else (kernel_size - 1) // 2
        layers: list[nn.Layer] = [
            conv(dims, in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False),
            batch_norm(dims, out_channels, eps=eps, momentum=momentum),
        ]
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)


class DownSample(nn.Layer):
    """LeNet-5's trainable subsampling (LeCun et al. 1998, S2 and S4).

    Each channel is averaged over a ``kernel_size`` window, multiplied by a learnable
    per-channel coefficient and shifted by a learnable per-channel bias: 2 parameters per
    channel. The paper sums the four inputs; an average is the same up to the learnable
    coefficient. Initialised to a plain average (coefficient 1, bias 0) rather than the
    random values of seed 004, so an untrained net starts as ordinary average pooling.
    """

    def __init__(self, dims: int, channels: int, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.dims = check_dims(dims)
        self.pool = avg_pool(dims, kernel_size, stride)
        self.weight = self.create_parameter([channels], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([channels], is_bias=True, default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        view = [1, -1] + [1] * self.dims
        return self.pool(x) * self.weight.reshape(view) + self.bias.reshape(view)


def check_input(x: paddle.Tensor, net: nn.Layer, model: str, dims: int, in_channels: int,
                size: int | Sequence[int] | None = None, min_size: int | None = None) -> None:
    """A ValueError naming the expected and actual shape when ``x`` does not fit, and a TypeError
    naming both dtypes when ``x``'s dtype is not that of ``net``'s weights (zoo.shapes)."""
    check_input_shape(tuple(x.shape), model=model, dims=dims, in_channels=in_channels, size=size, min_size=min_size)
    if x.is_floating_point() and paddle.amp.is_autocast_enabled():
        return  # auto_cast converts per op
    check_input_dtype(dtype_name(x.dtype), dtype_name(next(net.named_parameters())[1].dtype), model=model,
                      cast_input='x.astype("{dtype}")', cast_model='model.to(dtype="{dtype}")')


def dtype_name(dtype: paddle.dtype) -> str:
    """``paddle.float32`` -> ``"float32"``, the name zoo.shapes and torch_impl use."""
    return str(dtype).removeprefix("paddle.")


def init_default_(module: nn.Layer) -> None:
    """Uniform(+-1/sqrt(fan_in)) for every conv and Linear weight and bias.

    torch's default scheme, applied explicitly because paddle's defaults differ (normal
    conv weights that ignore groups, Xavier Linear weights, zero biases). fan_in counts
    in_channels/groups; a paddle Linear weight is [in, out], so fan_in is its first axis.
    """
    for m in module.sublayers(include_self=True):
        if isinstance(m, (nn.Conv1D, nn.Conv2D, nn.Linear)):
            shape = m.weight.shape
            fan_in = shape[0] if isinstance(m, nn.Linear) else math.prod(shape[1:])
            bound = 1.0 / math.sqrt(fan_in)
            # Initialisers draw into the parameter; set_value(paddle.uniform(...)) drew a
            # temporary and copied it (3.6 s of page faults for LeNet-BN's 72M weights).
            nn.initializer.Uniform(-bound, bound)(m.weight)
            if m.bias is not None:
                nn.initializer.Uniform(-bound, bound)(m.bias)


def init_kaiming_(module: nn.Layer, mode: str = "fan_in") -> None:
    """Kaiming-normal conv weights (ReLU gain, ``mode`` "fan_in" or "fan_out" as in
    ``nn.init.kaiming_normal_``) with zero conv biases, and BatchNorm weight 1, bias 0.

    torchvision's scheme for ResNet (fan_out), DenseNet (fan_in) and its other ReLU nets,
    applied explicitly: paddle's own conv default ignores groups. Its KaimingNormal reads
    the fans from the [out, in/groups, k...] weight as torch does. Linear layers are left
    to the caller.
    """
    kaiming = nn.initializer.KaimingNormal(nonlinearity="relu", mode=mode)
    for m in module.sublayers(include_self=True):
        if isinstance(m, tuple(CONV.values())):
            kaiming(m.weight)
            if m.bias is not None:
                nn.initializer.Constant(0.0)(m.bias)
        elif isinstance(m, (nn.BatchNorm1D, nn.BatchNorm2D)):
            nn.initializer.Constant(1.0)(m.weight)
            nn.initializer.Constant(0.0)(m.bias)


class BasicConv(nn.Layer):
    """conv, BatchNorm, ReLU under the keys ``conv.*`` and ``bn.*``: torchvision's ``BasicConv2d``
    of GoogLeNet and Inception-v3 (bias-free conv, BatchNorm eps 1e-3), in 1D or 2D.

    ``norm=False`` leaves out the BatchNorm and gives the conv a bias (the BN-free Inception-v1).
    The ReLU is a module, where torchvision calls it functionally (no key changes): the parity
    harness aligns float32 kink flips of ReLU modules only (parity/kinks.py), and Inception-v3's
    float32 gradient checks compared such flips, 2-7% of a gradient, until it could.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Size = 0, *, norm: bool = True, eps: float = 1e-3) -> None:
        super().__init__()
        self.conv = conv(dims, in_channels, out_channels, kernel_size, stride, padding, bias=not norm)
        self.bn = batch_norm(dims, out_channels, eps=eps) if norm else None
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)
