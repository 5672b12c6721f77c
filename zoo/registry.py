"""The builder registry both implementation packages instantiate (framework-free)."""
from __future__ import annotations

import numbers
from typing import Any, Callable

from zoo import models


class Registry:
    """Builders registered under the names zoo/models.py lists, for one package."""

    def __init__(self, package: str) -> None:
        self.package = package
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__
        if name not in models.MODELS:
            raise RuntimeError(f"{self.package} registers {name!r}, which zoo/models.py does not list")
        if name in self._builders:
            raise RuntimeError(f"{self.package} registers {name!r} twice")
        self._builders[name] = fn
        return fn

    def build(self, name: str, **kwargs: Any) -> Any:
        models.get(name)  # a KeyError naming close matches for a typo
        if name not in self._builders:
            raise KeyError(f"{name!r} is listed in zoo/models.py but {self.package} has no builder for it")
        check_sizes(name, **{k: kwargs[k] for k in ("num_classes", "in_channels") if k in kwargs})
        return self._builders[name](**kwargs)

    def names(self, family: str | None = None) -> list[str]:
        return [n for n in models.names(family) if n in self._builders]


def check_sizes(name: str, num_classes: Any = None, in_channels: Any = None) -> None:
    """A ValueError for a class or channel count no model can be built with, before anything is built.

    Both counts must be whole numbers of at least 1. ``num_classes=0`` (a headless backbone
    giving features) is refused by name: no builder supports it yet.
    """
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name}: {arg} must be a whole number, got {value!r}")
        if arg == "num_classes" and value == 0:
            raise ValueError(f"{name}: num_classes=0 would build a backbone without a classifier, which is not "
                             f"supported yet; use num_classes >= 1")
        if value < 1:
            raise ValueError(f"{name}: {arg} must be at least 1, got {value}")
