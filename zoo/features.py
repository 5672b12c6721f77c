"""Backbone facts both frameworks share: the stages a model's body runs through, which of
their outputs are the multi-scale feature levels (timm's ``feature_info``), and the
checking of ``out_indices``.

A model's *body* is everything before its global pool and classifier; its *stages* are
modules (named by their dotted path in the full model, so the same on both sides) whose
outputs, fed one into the next, give the body's output, ``forward_features``. Each
family's ``*_stages`` function in zoo/specs lists them, with each module's stride and
output channels, from the same tables the builders read.

A *feature level* is the output of the last stage before the spatial size shrinks, and
the body's output: the map at each reduction (2, 4, 8, ...), as timm and torchvision's
detection backbones take them (ResNet: ``relu``, ``layer1`` .. ``layer4``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Stage:
    """One module of a body: its dotted path, how much it shrinks the spatial size, and
    the channels it outputs. ``level=False`` keeps its output from being a feature level
    (an input transform, whose output is the input rescaled)."""

    path: str
    stride: int
    channels: int
    level: bool = True


@dataclass(frozen=True)
class FeatureInfo:
    """One feature level: the module that outputs it, its channels, its reduction (input
    size over map size, as the product of strides) and its position among the stages."""

    module: str
    num_chs: int
    reduction: int
    index: int


class FeatureInfoList(list):
    """The feature levels of a model, with timm's accessors."""

    def channels(self) -> list[int]:
        return [f.num_chs for f in self]

    def reduction(self) -> list[int]:
        return [f.reduction for f in self]

    def module_name(self) -> list[str]:
        return [f.module for f in self]


def feature_levels(stages: Sequence[Stage]) -> FeatureInfoList:
    """The last stage before each stride, and the last stage (see the module docstring)."""
    if not stages:
        raise ValueError("a body needs at least one stage")
    levels = FeatureInfoList()
    reduction = 1
    for i, stage in enumerate(stages):
        reduction *= stage.stride
        if stage.level and (i + 1 == len(stages) or stages[i + 1].stride > 1):
            levels.append(FeatureInfo(stage.path, stage.channels, reduction, i))
    return levels


def select_levels(levels: Sequence[FeatureInfo], out_indices: Iterable[int] | None, model: str) -> FeatureInfoList:
    """The levels ``out_indices`` names (all when None; negative counts from the end), in
    the order given; a ValueError listing the levels when an index does not exist."""
    n = len(levels)
    if out_indices is None:
        return FeatureInfoList(levels)
    out_indices = tuple(out_indices)
    chosen = FeatureInfoList()
    for i in out_indices:
        if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
            listing = ", ".join(f"{j}: {f.module} ({f.num_chs} ch, /{f.reduction})" for j, f in enumerate(levels))
            raise ValueError(f"out_indices {out_indices!r} do not fit {model}, which has {n} feature levels "
                             f"({listing})")
        chosen.append(levels[i % n])
    if len({f.index for f in chosen}) != len(chosen):
        raise ValueError(f"out_indices {out_indices!r} name a level of {model} twice")
    if [f.index for f in chosen] != sorted(f.index for f in chosen):
        raise ValueError(f"out_indices {out_indices!r} must go from shallow to deep levels, as the maps are "
                         f"computed in that order")
    return chosen


def check_num_classes(num_classes: int) -> int:
    """``num_classes`` if it is 0 (features) or more; a ValueError otherwise."""
    if num_classes < 0:
        raise ValueError(f"num_classes must be 0 (features) or more, got {num_classes}")
    return num_classes


def stage_key(path: str) -> str:
    """A stage's name inside a features_only model: its path with dots as underscores
    (timm's FeatureListNet naming; a container's keys may not contain dots)."""
    return path.replace(".", "_")


def sequential(prefix: str, rows: Iterable[tuple[int, int]], start: int = 0) -> list[Stage]:
    """Stages ``prefix.0``, ``prefix.1``, ... of a Sequential from (stride, channels) rows."""
    return [Stage(f"{prefix}.{i}", stride, channels) for i, (stride, channels) in enumerate(rows, start)]
