"""Every model name in the zoo, with the facts the harness and the tests need.

Each family keeps its entries in ``zoo/specs/<family>.py`` (a list called ``MODELS``
beside that family's variant tables); this module gathers them into one ordered
registry. Both ``torch_impl`` and ``paddle_impl`` must register exactly these names.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Mapping

# Display order of the families; a family module not named here sorts after these.
FAMILIES: tuple[str, ...] = (
    "lenet", "alexnet", "zfnet", "vgg", "nin", "googlenet", "inception", "resnet",
    "densenet", "squeezenet", "mobilenet", "shufflenet", "mnasnet", "efficientnet",
)


@dataclass(frozen=True)
class Published:
    """A parameter count stated by a paper, a seed post or a reference library.

    ``kwargs`` are the builder arguments under which the count holds (for example
    ``{"num_classes": 10}``); ``source`` says where the number was published.
    """

    count: int
    kwargs: Mapping[str, Any]
    source: str


@dataclass(frozen=True)
class ModelInfo:
    """What the project knows about one registered model, independent of framework.

    input_size:   default spatial size (side of a square image, or signal length);
                  ``input_size_1d`` overrides it for ``dims=1`` when they differ.
    min_size:     smallest input the architecture accepts (equal to input_size when
                  ``fixed_size``, i.e. the classifier is sized for exactly one input).
    parity_size:  the input used by the parity harness and CI: the smallest size the
                  architecture allows that still exercises every layer, and keeps
                  train-mode BatchNorm well conditioned (enough values per channel in
                  the last stage); ``parity_size_1d`` overrides it for ``dims=1``, where
                  a stage at 1/32 of the input holds size/32 values per sample rather
                  than (size/32)^2, so 1D needs a longer signal than 2D needs a side.
    sized_by_input: the builder takes ``input_size=`` because its classifier width
                  depends on it (seed 000's adaptive nets).
    heavy:        its parity tests are marked ``heavy`` (they still run in CI).
    parity_batch: batch size of the parity input (2 keeps the largest nets affordable).
    calibration:  (positions per channel at the deepest feature map, most samples) of the
                  harness's BatchNorm calibration pass (parity.compare.calibration_samples).
    """

    name: str
    family: str
    source: str
    input_size: int
    min_size: int
    num_classes: int = 1000
    in_channels: int = 3
    input_size_1d: int | None = None
    parity_size: int | None = None
    parity_size_1d: int | None = None
    fixed_size: bool = False
    sized_by_input: bool = False
    published: tuple[Published, ...] = field(default_factory=tuple)
    heavy: bool = False
    parity_batch: int = 4
    calibration: tuple[int, int] = (64, 16)
    notes: str = ""

    def default_size(self, dims: int) -> int:
        if dims == 1 and self.input_size_1d is not None:
            return self.input_size_1d
        return self.input_size

    def check_size(self, dims: int) -> int:
        """The input size the parity harness uses for this model."""
        if self.fixed_size:
            return self.default_size(dims)
        if dims == 1 and self.parity_size_1d is not None:
            return self.parity_size_1d
        return self.parity_size if self.parity_size is not None else self.default_size(dims)

    def build_kwargs(self, dims: int, size: int | None = None, **overrides: Any) -> dict[str, Any]:
        """Builder arguments for ``dims`` at ``size`` (the defaults of this entry)."""
        kw: dict[str, Any] = {"num_classes": self.num_classes, "in_channels": self.in_channels, "dims": dims}
        if self.sized_by_input:
            kw["input_size"] = size if size is not None else self.default_size(dims)
        kw.update(overrides)
        return kw

    def input_shape(self, dims: int, batch: int = 2, size: int | None = None,
                    in_channels: int | None = None) -> tuple[int, ...]:
        side = size if size is not None else self.check_size(dims)
        c = self.in_channels if in_channels is None else in_channels
        return (batch, c, side) if dims == 1 else (batch, c, side, side)


def _collect() -> dict[str, ModelInfo]:
    import zoo.specs as specs_pkg

    modules = [m.name for m in pkgutil.iter_modules(specs_pkg.__path__) if not m.name.startswith("_")]
    order = {f: i for i, f in enumerate(FAMILIES)}
    modules.sort(key=lambda m: (order.get(m, len(order)), m))
    registry: dict[str, ModelInfo] = {}
    for mod_name in modules:
        mod = importlib.import_module(f"zoo.specs.{mod_name}")
        for info in getattr(mod, "MODELS", ()):
            if info.name in registry:
                raise RuntimeError(f"model name {info.name!r} is defined twice (zoo/specs/{mod_name}.py)")
            if info.family != mod_name:
                raise RuntimeError(f"{info.name!r} in zoo/specs/{mod_name}.py claims family {info.family!r}")
            registry[info.name] = info
    return registry


MODELS: dict[str, ModelInfo] = _collect()


def names(family: str | None = None) -> list[str]:
    """Registered model names, in family order; only ``family``'s when given."""
    return [n for n, i in MODELS.items() if family is None or i.family == family]


def families() -> list[str]:
    """Families that have at least one model, in display order."""
    seen: list[str] = []
    for info in MODELS.values():
        if info.family not in seen:
            seen.append(info.family)
    return seen


def get(name: str) -> ModelInfo:
    """The entry for ``name``; a KeyError that suggests close names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(MODELS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown model {name!r}.{hint} Known families: {', '.join(families())}") from None
