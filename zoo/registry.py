"""The builder registry both implementation packages instantiate (framework-free).

``build(name, weights=..., **kwargs)`` builds and then loads weights through the
package's own ``load_weights`` (see zoo.pretrained), so ``weights=`` is implemented
once for every model of both packages. ``names(include=..., exclude=...)`` takes
shell-style wildcards, as torchvision's and timm's ``list_models`` do.
"""
from __future__ import annotations

import fnmatch
import functools
import inspect
import numbers
import sys
from typing import Any, Callable, Iterable, Sequence

from zoo import models

LoadWeights = Callable[[Any, str, Any, dict], list]


def _patterns(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class Registry:
    """Builders registered under the names zoo/models.py lists, for one package."""

    def __init__(self, package: str, load_weights: LoadWeights | None = None,
                 feature_net: Callable[..., Any] | None = None) -> None:
        self.package = package
        self.feature_net = feature_net  # the package's FeatureNet(model, out_indices, name)
        self._builders: dict[str, Callable[..., Any]] = {}
        self._load_weights = load_weights

    def register(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn`` under its name; the returned builder also takes ``weights=``."""
        name = fn.__name__
        if name not in models.MODELS:
            raise RuntimeError(f"{self.package} registers {name!r}, which zoo/models.py does not list")
        if name in self._builders:
            raise RuntimeError(f"{self.package} registers {name!r} twice")
        self._builders[name] = fn

        @functools.wraps(fn)
        def builder(*, weights: Any = None, **kwargs: Any) -> Any:
            # The function it wraps, not whatever is registered under the name now: a copy
            # of a model module (the parity self-test plants mistakes in one) builds its own.
            return self._build(name, fn, weights, kwargs)

        return builder

    def build(self, name: str, weights: Any = None, features_only: bool = False,
              out_indices: Sequence[int] | None = None, **kwargs: Any) -> Any:
        """Build ``name``; with ``weights`` (a source name or a checkpoint path) load them, printing
        notes to stderr; with ``features_only``, its body returning the feature maps at
        ``out_indices`` (all levels when None), wrapped after the weights are loaded."""
        models.get(name)  # a KeyError naming close matches for a typo
        if name not in self._builders:
            raise KeyError(f"{name!r} is listed in zoo/models.py but {self.package} has no builder for it")
        if out_indices is not None and not features_only:
            raise ValueError("out_indices picks feature maps of a features_only model: pass features_only=True too")
        model = self._build(name, self._builders[name], weights, kwargs)
        if features_only:
            return self.feature_net(model, out_indices, name)
        return model

    def _build(self, name: str, fn: Callable[..., Any], weights: Any, kwargs: dict[str, Any]) -> Any:
        check_sizes(name, **{k: kwargs[k] for k in ("num_classes", "in_channels") if k in kwargs})
        if weights is None:
            return fn(**kwargs)
        from zoo import pretrained, weight_sources

        source = pretrained.source_name(weights)
        pretrained.resolve(weights, name)  # a missing or refused file fails before the build's seconds
        implied = {k: v for k, v in weight_sources.BUILD_DEFAULTS.get((source, name), {}).items() if k not in kwargs}
        kwargs = {**implied, **kwargs}
        model = fn(**kwargs)
        defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()
                    if p.default is not inspect.Parameter.empty}
        notes = self._load_weights(model, name, weights, {**defaults, **kwargs})
        if implied:
            notes.append(f"built with {', '.join(f'{k}={v!r}' for k, v in implied.items())}, as {source} builds "
                         f"{name} with its weights (pass it to choose otherwise)")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return model

    def names(self, family: str | None = None, include: str | Iterable[str] | None = None,
              exclude: str | Iterable[str] | None = None, weights: str | None = None) -> list[str]:
        """Registered names in zoo order, filtered.

        ``family``: one family, or a wildcard pattern (``"resnet*"``), which then acts as
        ``include``. ``include``/``exclude``: patterns or lists of them (fnmatch).
        ``weights``: only models whose published weights from that source load here.
        """
        include = _patterns(include)
        if family is not None and any(c in family for c in "*?["):
            include, family = include + [family], None
        if family is not None and family not in models.families():
            raise KeyError(f"unknown family {family!r}; the families are {', '.join(models.families())} "
                           "(use include='pattern*' to filter names)")
        out = [n for n in models.names(family) if n in self._builders]
        if include:
            out = [n for n in out if any(fnmatch.fnmatchcase(n, p) for p in include)]
        out = [n for n in out if not any(fnmatch.fnmatchcase(n, p) for p in _patterns(exclude))]
        if weights is not None:
            from zoo import weight_sources

            out = [n for n in out if weight_sources.loadable(weights, n)]
        return out


def check_sizes(name: str, num_classes: Any = None, in_channels: Any = None) -> None:
    """A ValueError for a class or channel count no model can be built with, before anything is built.

    ``in_channels`` must be a whole number of at least 1, ``num_classes`` of at least 0
    (0 builds a headless backbone that returns its pooled features).
    """
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name}: {arg} must be a whole number, got {value!r}")
        if arg == "num_classes" and value < 0:
            raise ValueError(f"{name}: num_classes must be 0 or more (0 builds a backbone that returns features), "
                             f"got {value}")
        if arg == "in_channels" and value < 1:
            raise ValueError(f"{name}: in_channels must be at least 1, got {value}")
