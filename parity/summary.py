"""Per-layer summaries of a torch module or a paddle layer: shapes, kernel, stride, padding,
parameters and multiply-accumulates, counted the same way for both frameworks.

``summarize(model, input_shape)`` runs one forward pass (eval mode, batch 1, no
gradients) with hooks on every layer and returns a ``Summary``: its rows, one per call
of a layer, and the totals. ``compare(a, b)`` lists every difference between two
summaries; the rows of a torch model and of its paddle twin must be identical.

What is counted (per sample; shapes leave out the batch dimension):

MACs, multiply-accumulates of weights with inputs: the convention of torchvision's
published "GFLOPS", fvcore and most papers.
  convolution      out elements x in_channels/groups x kernel elements (the bias is not a MAC)
  Linear           out elements x in_features
  other layers     0
  a layer of a type with no rule here but a ``weight`` of its own (LeNet's trainable
                   subsampling, a sparse connection-table conv): its weight is taken to
                   be applied once at every output position, weight elements x output
                   positions (out elements / channels), which is exact for both examples.

ops, the arithmetic that is not a weight MAC, so that it is visible instead of silently
folded into MACs (torchstat counts some of it in its "Flops"; torchvision does not):
  bias add         1 per output element of a convolution or Linear with a bias
  BatchNorm        2 per element (the eval-mode affine once the statistics are folded)
  max/avg pool     kernel elements per output element
  adaptive pool    the sum of its bin sizes (input elements when the sizes divide)
  LocalResponseNorm  size + 3 per element (squares summed over the window, scale, power, divide)
  activations      1 per element (ReLU, ReLU6, sigmoid, tanh, hardswish, SiLU, GELU, ...)
  Dropout, Flatten, Identity, and layers marked ``stochastic = True`` (stochastic depth): 0

Not seen at all: arithmetic written in a ``forward`` rather than in a layer (residual
additions, concatenation, squeeze-and-excitation's channel scaling, channel shuffle).
Both frameworks mirror each other's forward code, so this does not differ between them;
it is why the ops total is a lower bound. A layer of an unknown type without weights
counts 0 and is named in ``Summary.no_rule``.

Parameters: ``params`` are trainable; ``frozen`` are frozen parameters plus the
floating-point state a checkpoint carries (BatchNorm running statistics: buffers in
torch, frozen parameters in paddle; torch's integer ``num_batches_tracked`` and
non-persistent buffers are left out), so both frameworks give the same numbers.

Memory: ``param_bytes`` is (params + frozen) x element size. ``activation_bytes`` is the
sum of every row's output size, except rows that only reshape or pass data through
(Flatten, Unflatten, Identity); twice it is torchsummary's "forward/backward pass size".
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterator, Sequence

import numpy as np
import paddle
import torch

Shape = tuple[int, ...]
Geometry = tuple[int, ...] | str | None

# Rules: how a layer type is counted (see the module docstring).
CONV, LINEAR, NORM, POOL, ADAPTIVE_POOL, LRN, ACTIVATION, DROPOUT, RESHAPE, WEIGHT, NONE = (
    "conv", "linear", "norm", "pool", "adaptive_pool", "lrn", "activation", "dropout", "reshape", "weight", "none")

_TORCH_TYPES: dict[type, str] = {
    **dict.fromkeys((torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d), CONV),
    torch.nn.Linear: LINEAR,
    torch.nn.modules.batchnorm._BatchNorm: NORM,
    **dict.fromkeys((torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.AvgPool1d, torch.nn.AvgPool2d), POOL),
    **dict.fromkeys((torch.nn.AdaptiveAvgPool1d, torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool1d,
                     torch.nn.AdaptiveMaxPool2d), ADAPTIVE_POOL),
    torch.nn.LocalResponseNorm: LRN,
    **dict.fromkeys((torch.nn.ReLU, torch.nn.ReLU6, torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.Hardswish,
                     torch.nn.Hardsigmoid, torch.nn.SiLU, torch.nn.GELU, torch.nn.LeakyReLU, torch.nn.ELU,
                     torch.nn.Mish, torch.nn.Softmax, torch.nn.Hardtanh), ACTIVATION),
    torch.nn.modules.dropout._DropoutNd: DROPOUT,
    **dict.fromkeys((torch.nn.Flatten, torch.nn.Unflatten, torch.nn.Identity), RESHAPE),
}

# paddle class -> (the torch spelling of the type, rule): rows name types as torch does.
_PADDLE_TYPES: dict[type, tuple[str, str]] = {
    paddle.nn.Conv1D: ("Conv1d", CONV), paddle.nn.Conv2D: ("Conv2d", CONV), paddle.nn.Conv3D: ("Conv3d", CONV),
    paddle.nn.Linear: ("Linear", LINEAR),
    paddle.nn.BatchNorm1D: ("BatchNorm1d", NORM), paddle.nn.BatchNorm2D: ("BatchNorm2d", NORM),
    paddle.nn.BatchNorm3D: ("BatchNorm3d", NORM), paddle.nn.layer.norm._BatchNormBase: ("BatchNorm", NORM),
    paddle.nn.MaxPool1D: ("MaxPool1d", POOL), paddle.nn.MaxPool2D: ("MaxPool2d", POOL),
    paddle.nn.AvgPool1D: ("AvgPool1d", POOL), paddle.nn.AvgPool2D: ("AvgPool2d", POOL),
    paddle.nn.AdaptiveAvgPool1D: ("AdaptiveAvgPool1d", ADAPTIVE_POOL),
    paddle.nn.AdaptiveAvgPool2D: ("AdaptiveAvgPool2d", ADAPTIVE_POOL),
    paddle.nn.AdaptiveMaxPool1D: ("AdaptiveMaxPool1d", ADAPTIVE_POOL),
    paddle.nn.AdaptiveMaxPool2D: ("AdaptiveMaxPool2d", ADAPTIVE_POOL),
    paddle.nn.LocalResponseNorm: ("LocalResponseNorm", LRN),
    **{cls: (name, ACTIVATION) for cls, name in (
        (paddle.nn.ReLU, "ReLU"), (paddle.nn.ReLU6, "ReLU6"), (paddle.nn.Sigmoid, "Sigmoid"), (paddle.nn.Tanh, "Tanh"),
        (paddle.nn.Hardswish, "Hardswish"), (paddle.nn.Hardsigmoid, "Hardsigmoid"), (paddle.nn.Silu, "SiLU"),
        (paddle.nn.Swish, "SiLU"), (paddle.nn.GELU, "GELU"), (paddle.nn.LeakyReLU, "LeakyReLU"),
        (paddle.nn.ELU, "ELU"), (paddle.nn.Mish, "Mish"), (paddle.nn.Softmax, "Softmax"),
        (paddle.nn.Hardtanh, "Hardtanh"))},
    paddle.nn.Dropout: ("Dropout", DROPOUT), paddle.nn.Dropout2D: ("Dropout2d", DROPOUT),
    paddle.nn.Dropout3D: ("Dropout3d", DROPOUT), paddle.nn.AlphaDropout: ("AlphaDropout", DROPOUT),
    paddle.nn.Flatten: ("Flatten", RESHAPE), paddle.nn.Unflatten: ("Unflatten", RESHAPE),
    paddle.nn.Identity: ("Identity", RESHAPE),
}


@dataclass(frozen=True)
class Row:
    """One call of one layer. ``cls`` is the framework's own class name; every other field
    is framework-neutral and must be equal for a torch model and its paddle twin."""

    name: str
    type: str
    input: Shape | None
    output: Shape | None
    kernel: Geometry
    stride: Geometry
    padding: Geometry
    groups: int | None
    params: int
    frozen: int
    macs: int
    ops: int
    out_bytes: int
    rule: str
    cls: str = field(compare=False)


@dataclass(frozen=True)
class Summary:
    """The rows of one forward pass and the model's totals; iterates over its rows.

    ``trainable``/``non_trainable``/``param_bytes`` count the whole model, including
    layers the forward pass did not call (named in ``not_run``, e.g. GoogLeNet's
    auxiliary heads in eval mode), which have no rows and no MACs.
    """

    framework: str
    input_shape: Shape
    dtype: str
    rows: tuple[Row, ...]
    trainable: int
    non_trainable: int
    param_bytes: int
    not_run: tuple[str, ...] = ()
    no_rule: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Row:
        return self.rows[i]

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def ops(self) -> int:
        return sum(r.ops for r in self.rows)

    @property
    def activation_bytes(self) -> int:
        return sum(r.out_bytes for r in self.rows if r.rule != RESHAPE)

    def totals(self) -> dict[str, Any]:
        return {"trainable": self.trainable, "non_trainable": self.non_trainable, "macs": self.macs, "ops": self.ops,
                "param_bytes": self.param_bytes, "activation_bytes": self.activation_bytes,
                "not_run": list(self.not_run), "no_rule": list(self.no_rule)}

    def to_dict(self) -> dict[str, Any]:
        return {"framework": self.framework, "input_shape": list(self.input_shape), "dtype": self.dtype,
                "totals": self.totals(), "rows": [asdict(r) for r in self.rows]}


# --- counting (framework-free: shapes and geometry in, numbers out) --------------------

def _expand(value: Any, dims: int) -> Geometry:
    """A kernel, stride or padding as one int per spatial dimension (or a padding string)."""
    if value is None:
        return value
    if isinstance(value, str):
        return value.lower()  # paddle's "SAME" is torch's "same"
    if isinstance(value, (int, np.integer)):
        return (int(value),) * dims
    flat = [int(v) for v in np.asarray(value, dtype=np.int64).reshape(-1)]
    if len(flat) == dims:
        return tuple(flat)
    if len(flat) == 2 * dims and all(flat[2 * i] == flat[2 * i + 1] for i in range(dims)):
        return tuple(flat[0::2])  # (before, after) pairs, symmetric
    if len(flat) > 2 * dims and all(v == 0 for v in flat[:-2 * dims]):
        return _expand(flat[-2 * dims:], dims)  # paddle's [[0, 0], [0, 0], [t, b], [l, r]]
    return tuple(flat)


def _bins(size_in: int, size_out: int) -> int:
    """Input elements read by an adaptive pool along one axis: the sum of its bin sizes."""
    return sum(-(-(i + 1) * size_in // size_out) - (i * size_in // size_out) for i in range(size_out))


def count(rule: str, out: Shape | None, inp: Shape | None, *, fan_in: int = 0, kernel: Geometry = None,
          lrn_size: int = 0, weight_numel: int = 0, bias: bool = False) -> tuple[int, int]:
    """(MACs, ops) of one layer call, from its rule and per-sample shapes."""
    if out is None:
        return 0, 0
    n = math.prod(out)
    bias_ops = n if bias else 0
    if rule in (CONV, LINEAR):
        return n * fan_in, bias_ops
    if rule == WEIGHT:
        positions = n // out[0] if len(out) > 1 else 1
        return weight_numel * positions, bias_ops
    if rule == NORM:
        return 0, 2 * n
    if rule == POOL:
        return 0, n * math.prod(kernel)
    if rule == ADAPTIVE_POOL and inp is not None:
        return 0, out[0] * math.prod(_bins(i, o) for i, o in zip(inp[1:], out[1:]))
    if rule == LRN:
        return 0, n * (lrn_size + 3)
    if rule == ACTIVATION:
        return 0, n
    return 0, 0


# --- framework adapters ------------------------------------------------------------------

@dataclass
class _Layer:
    """What the counting needs to know about one layer, read from either framework."""

    type: str
    rule: str
    kernel: Geometry = None
    stride: Geometry = None
    padding: Geometry = None
    groups: int | None = None
    fan_in: int = 0
    lrn_size: int = 0
    weight_numel: int = 0
    bias: bool = False


def _unknown(m: Any, weight_numel: int | None, bias: bool) -> _Layer:
    """A layer of a type with no rule: its own weight applied at every output position, a
    stochastic layer (the project's ``stochastic = True``, e.g. stochastic depth) is a
    no-op in eval mode like dropout, anything else counts 0 and is reported."""
    if weight_numel is not None:
        return _Layer(type(m).__name__, WEIGHT, weight_numel=weight_numel, bias=bias)
    return _Layer(type(m).__name__, DROPOUT if getattr(m, "stochastic", False) else NONE)


def _lookup(module: Any, table: dict) -> Any:
    """The table entry of the nearest class in the module's MRO, or None."""
    for cls in type(module).__mro__:
        if cls in table:
            return table[cls]
    return None


class _Torch:
    name, tensor = "torch", torch.Tensor

    @staticmethod
    def is_model(model: Any) -> bool:
        return isinstance(model, torch.nn.Module)

    @staticmethod
    def named(model):
        return model.named_modules()

    @staticmethod
    def has_children(m) -> bool:
        return next(m.children(), None) is not None

    @staticmethod
    def own_state(m) -> tuple[int, int, int]:
        """(trainable, frozen, bytes) of the tensors this layer holds itself."""
        trainable = frozen = nbytes = 0
        for _, p in m.named_parameters(recurse=False):
            trainable += p.numel() if p.requires_grad else 0
            frozen += 0 if p.requires_grad else p.numel()
            nbytes += p.numel() * p.element_size()
        skip = getattr(m, "_non_persistent_buffers_set", set())
        for name, b in m.named_buffers(recurse=False):
            if name not in skip and b.is_floating_point():
                frozen += b.numel()
                nbytes += b.numel() * b.element_size()
        return trainable, frozen, nbytes

    @staticmethod
    def describe(m) -> _Layer:
        rule = _lookup(m, _TORCH_TYPES)
        w = m.__dict__["_parameters"].get("weight")
        b = m.__dict__["_parameters"].get("bias")
        if rule is None:
            return _unknown(m, w.numel() if w is not None else None, b is not None)
        # The library class the layer is (a subclass keeps the name of the torch.nn class it extends).
        library = next(c for c in type(m).__mro__ if c.__module__.startswith("torch.nn.") and c.__name__[0] != "_")
        spec = _Layer(library.__name__, rule)
        if rule == CONV:
            dims = w.ndim - 2
            spec.kernel, spec.stride = tuple(w.shape[2:]), _expand(m.stride, dims)
            spec.padding, spec.groups = _expand(m.padding, dims), m.groups
            spec.fan_in, spec.bias = math.prod(w.shape[1:]), b is not None
        elif rule == LINEAR:
            spec.fan_in, spec.bias = m.in_features, b is not None
        elif rule == POOL:
            dims = int(library.__name__[-2])
            spec.kernel = _expand(m.kernel_size, dims)
            spec.stride = _expand(m.stride if m.stride is not None else m.kernel_size, dims)
            spec.padding = _expand(m.padding, dims)
        elif rule == LRN:
            spec.lrn_size = m.size
        return spec

    @staticmethod
    def hooks(m, pre, post) -> list:
        return [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]

    @staticmethod
    def infer(model) -> tuple[int, int] | None:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.conv._ConvNd):
                return m.in_channels, m.weight.ndim - 2
        return None

    @staticmethod
    def run(model, shape: Shape):
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            with torch.no_grad():
                model(torch.zeros((1, *shape), dtype=dtype, device=param.device if param is not None else None))
        finally:
            for m, mode in modes:
                m.train(mode)
        return str(dtype).replace("torch.", "")


class _Paddle:
    name, tensor = "paddle", paddle.Tensor

    @staticmethod
    def is_model(model: Any) -> bool:
        return isinstance(model, paddle.nn.Layer)

    @staticmethod
    def named(model):
        return model.named_sublayers(include_self=True)

    @staticmethod
    def has_children(m) -> bool:
        return next(iter(m.children()), None) is not None

    @staticmethod
    def own_state(m) -> tuple[int, int, int]:
        trainable = frozen = nbytes = 0
        for _, p in m.named_parameters(include_sublayers=False):
            size = math.prod(p.shape)
            trainable += 0 if p.stop_gradient else size
            frozen += size if p.stop_gradient else 0
            nbytes += size * p.element_size()
        skip = getattr(m, "_non_persistable_buffer_names_set", set())
        for name, b in m.named_buffers(include_sublayers=False):
            if name not in skip and b.is_floating_point():
                frozen += math.prod(b.shape)
                nbytes += math.prod(b.shape) * b.element_size()
        return trainable, frozen, nbytes

    @staticmethod
    def describe(m) -> _Layer:
        found = _lookup(m, _PADDLE_TYPES)
        params = dict(m.named_parameters(include_sublayers=False))
        w, b = params.get("weight"), params.get("bias")
        if found is None:
            return _unknown(m, math.prod(w.shape) if w is not None else None, b is not None)
        type_name, rule = found
        spec = _Layer(type_name, rule)
        if rule == CONV:
            dims = len(w.shape) - 2
            spec.kernel, spec.stride = tuple(w.shape[2:]), _expand(m._stride, dims)
            spec.padding, spec.groups = _expand(m._padding, dims), m._groups
            spec.fan_in, spec.bias = math.prod(w.shape[1:]), b is not None
        elif rule == LINEAR:
            spec.fan_in, spec.bias = w.shape[0], b is not None  # paddle's Linear weight is [in, out]
        elif rule == POOL:
            dims = int(type_name[-2])
            kernel = getattr(m, "ksize", None) or getattr(m, "kernel_size")
            stride = m.stride if m.stride is not None else kernel
            spec.kernel, spec.stride, spec.padding = _expand(kernel, dims), _expand(stride, dims), _expand(m.padding, dims)
        elif rule == LRN:
            spec.lrn_size = m.size
        return spec

    @staticmethod
    def hooks(m, pre, post) -> list:
        return [m.register_forward_pre_hook(pre), m.register_forward_post_hook(post)]

    @staticmethod
    def infer(model) -> tuple[int, int] | None:
        for m in model.sublayers(include_self=True):
            if isinstance(m, (paddle.nn.Conv1D, paddle.nn.Conv2D, paddle.nn.Conv3D)):
                return m._in_channels, len(m.weight.shape) - 2
        return None

    @staticmethod
    def run(model, shape: Shape):
        params = model.parameters()
        dtype = str(params[0].dtype).replace("paddle.", "") if params else "float32"
        modes = [(m, m.training) for m in model.sublayers(include_self=True)]
        model.eval()
        try:
            with paddle.no_grad():
                model(paddle.zeros([1, *shape], dtype=dtype))
        finally:
            for m, mode in modes:
                m.training = mode
        return dtype


def _shape(t: Any) -> Shape:
    return tuple(int(s) for s in t.shape)


def _bytes_per_sample(t: Any) -> int:
    batch = int(t.shape[0]) or 1 if len(t.shape) else 1
    return math.prod(_shape(t)) * t.element_size() // batch


def _flatten(value: Any, kind: type) -> list:
    if isinstance(value, kind):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _flatten(v, kind)]
    return []


def _framework(model: Any):
    for fw in (_Torch, _Paddle):
        if fw.is_model(model):
            return fw
    raise TypeError(f"summarize() takes a torch.nn.Module or a paddle.nn.Layer, got {type(model).__name__}")


def _default_input(fw, model: Any) -> Shape:
    found = fw.infer(model)
    if found is None:
        raise ValueError("the model has no convolution to infer the input from: pass input_shape=(C, H, W) or (C, L)")
    channels, dims = found
    size = getattr(model, "input_size", 224)
    spatial = (size,) * dims if isinstance(size, int) else tuple(size)
    return (channels, *spatial)


def summarize(model: Any, input_shape: Sequence[int] | None = None) -> Summary:
    """Summarize a torch module or a paddle layer on one input of ``input_shape``.

    ``input_shape`` is per sample, without the batch dimension: (C, H, W) or (C, L).
    Without it, C and the number of spatial dimensions come from the first convolution
    and the size from the model's ``input_size`` attribute, else 224. The model runs
    once in eval mode on a batch of one zero input in its own dtype; its train/eval
    flags are restored afterwards.
    """
    fw = _framework(model)
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else _default_input(fw, model)
    entries: list[dict[str, Any]] = []
    open_calls: dict[int, list[int]] = {}
    handles: list[Any] = []
    holders: list[tuple[str, Any]] = []  # layers that hold tensors or are leaves: the rows
    for name, m in fw.named(model):
        own = fw.own_state(m)
        if fw.has_children(m) and not any(own):
            continue
        holders.append((name, m))

        def pre(layer, inputs, name=name):
            open_calls.setdefault(id(layer), []).append(len(entries))
            ins = _flatten(inputs, fw.tensor)
            entries.append({"name": name, "layer": layer, "input": _shape(ins[0])[1:] if ins else None})

        def post(layer, inputs, output):
            entry = entries[open_calls[id(layer)].pop()]
            outs = _flatten(output, fw.tensor)
            entry["output"] = _shape(outs[0])[1:] if outs else None
            entry["out_bytes"] = sum(_bytes_per_sample(t) for t in outs)

        handles += fw.hooks(m, pre, post)
    try:
        dtype = fw.run(model, shape)
    finally:
        for h in handles:
            h.remove()
    rows, no_rule = [], []
    for e in entries:
        layer = e["layer"]
        spec = fw.describe(layer)
        trainable, frozen, _ = fw.own_state(layer)
        if spec.rule == NONE and spec.type not in no_rule:
            no_rule.append(spec.type)
        macs, ops = count(spec.rule, e.get("output"), e["input"], fan_in=spec.fan_in, kernel=spec.kernel,
                          lrn_size=spec.lrn_size, weight_numel=spec.weight_numel, bias=spec.bias)
        rows.append(Row(e["name"], spec.type, e["input"], e.get("output"), spec.kernel, spec.stride, spec.padding,
                        spec.groups, trainable, frozen, macs, ops, e.get("out_bytes", 0), spec.rule,
                        type(layer).__name__))
    called = {id(e["layer"]) for e in entries}
    not_run = tuple(n for n, m in holders if id(m) not in called and any(fw.own_state(m)[:2]))
    totals = [fw.own_state(m) for _, m in fw.named(model)]
    return Summary(fw.name, shape, dtype, tuple(rows), sum(t[0] for t in totals), sum(t[1] for t in totals),
                   sum(t[2] for t in totals), not_run, tuple(no_rule))


# --- comparing ---------------------------------------------------------------------------

_ROW_FIELDS = tuple(f.name for f in fields(Row) if f.compare)


def compare(a: Summary, b: Summary, limit: int = 20) -> list[str]:
    """Every difference between two summaries (at most ``limit`` row differences); [] if identical."""
    problems = []
    for key, va in a.totals().items():
        vb = b.totals()[key]
        if va != vb:
            problems.append(f"total {key}: {a.framework} {va} vs {b.framework} {vb}")
    if len(a.rows) != len(b.rows):
        problems.append(f"{a.framework} has {len(a.rows)} rows, {b.framework} {len(b.rows)}")
    shown = 0
    for i, (ra, rb) in enumerate(zip(a.rows, b.rows)):
        diffs = [f"{k} {getattr(ra, k)!r} vs {getattr(rb, k)!r}" for k in _ROW_FIELDS if getattr(ra, k) != getattr(rb, k)]
        if diffs:
            shown += 1
            if shown > limit:
                problems.append("... more rows differ")
                break
            problems.append(f"row {i} ({ra.name} / {rb.name}): " + "; ".join(diffs))
    return problems


# --- registered models -------------------------------------------------------------------

def summarize_registered(name: str, framework: str = "torch", dims: int = 2, size: int | None = None,
                         num_classes: int | None = None, in_channels: int | None = None) -> Summary:
    """The summary of a registered model, built with the zoo's defaults unless overridden.

    Cached per resolved configuration, so the CLI, the README table and the tests build
    each configuration once per process; the model itself is not kept.
    """
    import zoo

    info = zoo.get(name)
    return _summarize_registered(name, framework, dims, info.default_size(dims) if size is None else size,
                                 info.num_classes if num_classes is None else num_classes,
                                 info.in_channels if in_channels is None else in_channels)


@functools.lru_cache(maxsize=None)
def _summarize_registered(name: str, framework: str, dims: int, size: int, num_classes: int,
                          in_channels: int) -> Summary:
    import zoo

    kwargs = zoo.get(name).build_kwargs(dims, size, num_classes=num_classes, in_channels=in_channels)
    if framework == "torch":
        import torch
        import torch_impl

        # Shapes are all a summary needs: on the meta device nothing is initialised or
        # computed (EfficientNet-B7 at 600x600 takes seconds otherwise). A model whose
        # forward needs real values falls back to the CPU.
        try:
            with torch.device("meta"):
                model = torch_impl.build(name, **kwargs)
            return summarize(model, (in_channels,) + (size,) * dims)
        except (RuntimeError, NotImplementedError, ValueError, TypeError):
            model = torch_impl.build(name, **kwargs)
    elif framework == "paddle":
        import paddle_impl

        model = paddle_impl.build(name, **kwargs)
    else:
        raise ValueError(f"framework must be 'torch' or 'paddle', got {framework!r}")
    return summarize(model, (in_channels,) + (size,) * dims)


def summarize_pair(name: str, dims: int = 2, size: int | None = None, num_classes: int | None = None,
                   in_channels: int | None = None) -> tuple[Summary, Summary]:
    """(torch, paddle) summaries of a registered model built with the same arguments."""
    return tuple(summarize_registered(name, fw, dims, size, num_classes, in_channels)  # type: ignore[return-value]
                 for fw in ("torch", "paddle"))


# --- text --------------------------------------------------------------------------------

def fmt_shape(shape: Shape | None) -> str:
    return "-" if shape is None else "x".join(str(s) for s in shape) or "scalar"


def fmt_geometry(value: Geometry) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else "x".join(str(v) for v in value)


def fmt_count(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M'."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def fmt_bytes(n: int) -> str:
    return f"{n / 2 ** 20:.2f} MB" if n >= 2 ** 20 else f"{n / 2 ** 10:.2f} KB"


_COLUMNS = (("layer", "<"), ("type", "<"), ("input", ">"), ("output", ">"), ("kernel", ">"), ("stride", ">"),
            ("padding", ">"), ("params", ">"), ("MACs", ">"), ("ops", ">"), ("", "<"))


def _cells(row: Row, other: Row | None) -> list[str]:
    kind = row.cls if other is None or row.cls == other.cls else f"{row.cls} / {other.cls}"
    kernel = fmt_geometry(row.kernel) + (f" g{row.groups}" if row.groups and row.groups > 1 else "")
    mark = "" if other is None else ("" if row == other else "DIFFERS")
    return [row.name or "(model)", kind, fmt_shape(row.input), fmt_shape(row.output), kernel,
            fmt_geometry(row.stride), fmt_geometry(row.padding), f"{row.params:,}", f"{row.macs:,}", f"{row.ops:,}",
            mark]


def format_table(first: Summary, second: Summary | None = None, title: str = "") -> str:
    """The per-layer table of one summary, or of two side by side: a row is printed once
    when both frameworks agree (its type as ``torch class / paddle class``), and twice,
    marked, when they do not."""
    lines: list[list[str]] = []
    n = max(len(first.rows), len(second.rows) if second else 0)
    for i in range(n):
        a = first.rows[i] if i < len(first.rows) else None
        b = second.rows[i] if second is not None and i < len(second.rows) else None
        if a is not None and (second is None or (b is not None and a == b)):
            lines.append(_cells(a, b))
            continue
        for row, other, fw in ((a, b, first.framework), (b, a, second.framework if second else "")):
            if row is not None:
                cells = _cells(row, None)
                cells[-1] = f"DIFFERS ({fw})"
                lines.append(cells)
    widths = [max([len(c[0])] + [len(r[i]) for r in lines]) for i, c in enumerate(_COLUMNS)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, (_, a), w in zip(cells, _COLUMNS, widths)).rstrip()

    out = [title] if title else []
    out += [render([c[0] for c in _COLUMNS]), render(["-" * w for w in widths])]
    out += [render(r) for r in lines]
    out.append("")
    out.append(format_totals(first, second))
    return "\n".join(out)


def _with_unit(n: int) -> str:
    return f"{n:,} ({fmt_count(n)})" if n >= 1000 else f"{n:,}"


def format_totals(first: Summary, second: Summary | None = None) -> str:
    summaries = [s for s in (first, second) if s is not None]
    items = [
        ("trainable params", lambda s: f"{s.trainable:,}"),
        ("non-trainable", lambda s: f"{s.non_trainable:,}"),
        ("MACs", lambda s: _with_unit(s.macs)),
        ("other ops", lambda s: _with_unit(s.ops)),
        ("parameter memory", lambda s: fmt_bytes(s.param_bytes)),
        ("activations (forward)", lambda s: f"{fmt_bytes(s.activation_bytes)} (x2 with backward: "
                                            f"{fmt_bytes(2 * s.activation_bytes)})"),
    ]
    head = f"{'':<24}" + "".join(f"{s.framework:<40}" for s in summaries)
    lines = [head.rstrip()]
    for label, get in items:
        lines.append((f"{label:<24}" + "".join(f"{get(s):<40}" for s in summaries)).rstrip())
    for s in summaries:
        if s.not_run:
            lines.append(f"{s.framework}: not called on this input (parameters counted, no MACs): "
                         + ", ".join(s.not_run))
        if s.no_rule:
            lines.append(f"{s.framework}: no counting rule (counted as 0): {', '.join(s.no_rule)}")
    return "\n".join(lines)
