"""The builder registry both implementation packages instantiate (framework-free)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from zoo import models


class Registry:
    """Builders registered under the names zoo/models.py lists, for one package."""

    def __init__(self, package: str, feature_net: Callable[..., Any] | None = None) -> None:
        self.package = package
        self.feature_net = feature_net  # the package's FeatureNet(model, out_indices, name)
        self._builders: dict[str, Callable[..., Any]] = {}

    def register(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__
        if name not in models.MODELS:
            raise RuntimeError(f"{self.package} registers {name!r}, which zoo/models.py does not list")
        if name in self._builders:
            raise RuntimeError(f"{self.package} registers {name!r} twice")
        self._builders[name] = fn
        return fn

    def build(self, name: str, features_only: bool = False, out_indices: Sequence[int] | None = None,
              **kwargs: Any) -> Any:
        """The model ``name`` from its builder's ``kwargs``; with ``features_only``, its body
        returning the feature maps at ``out_indices`` (all levels when None)."""
        models.get(name)  # a KeyError naming close matches for a typo
        if name not in self._builders:
            raise KeyError(f"{name!r} is listed in zoo/models.py but {self.package} has no builder for it")
        if out_indices is not None and not features_only:
            raise ValueError("out_indices picks feature maps of a features_only model: pass features_only=True too")
        model = self._builders[name](**kwargs)
        if features_only:
            return self.feature_net(model, out_indices, name)
        return model

    def names(self, family: str | None = None) -> list[str]:
        return [n for n in models.names(family) if n in self._builders]
