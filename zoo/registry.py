"""The builder registry both implementation packages instantiate (framework-free)."""
from __future__ import annotations

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
        return self._builders[name](**kwargs)

    def names(self, family: str | None = None) -> list[str]:
        return [n for n in models.names(family) if n in self._builders]
