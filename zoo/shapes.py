"""Input checks shared by both frameworks: shapes as plain tuples, dtypes as names (no tensors)."""
from __future__ import annotations

from typing import Sequence


def check_input_shape(shape: Sequence[int], *, model: str, dims: int, in_channels: int,
                      size: int | Sequence[int] | None = None, min_size: int | None = None) -> None:
    """Raise a ValueError naming the expected and the actual shape when ``shape`` does not fit.

    ``size`` demands an exact spatial size (a classifier sized for one input); otherwise
    ``min_size`` is the smallest spatial size the architecture accepts. A dimension of -1
    or None (a symbolic batch during export) is not checked.
    """
    shape = tuple(shape)
    layout = "[N, C, L]" if dims == 1 else "[N, C, H, W]"
    if len(shape) != dims + 2:
        raise ValueError(f"{model} (dims={dims}) expects input {layout}, got shape {list(shape)}")
    if shape[1] != in_channels:
        raise ValueError(f"{model} expects {in_channels} input channels in {layout}, got shape {list(shape)}")
    spatial = tuple(s for s in shape[2:] if s not in (-1, None))
    if size is not None:
        want = tuple(size) if not isinstance(size, int) else (size,) * dims
        if tuple(shape[2:]) != want and len(spatial) == dims:
            raise ValueError(f"{model} was built for input {[shape[0], in_channels, *want]} ({layout}), "
                             f"got shape {list(shape)}")
    elif min_size is not None and spatial and min(spatial) < min_size:
        raise ValueError(f"{model} needs a spatial size of at least {min_size} in {layout}, got shape {list(shape)}")


FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def check_input_dtype(actual: str, expected: str, *, model: str, cast_input: str, cast_model: str) -> None:
    """Raise a TypeError naming the expected and the actual dtype when they differ.

    ``expected`` is the dtype of the model's weights. ``cast_input`` and ``cast_model`` show
    the framework's conversion with ``{dtype}`` in place of the dtype name, e.g.
    ``"x.to(torch.{dtype})"``; converting the model is offered only for a float input.
    """
    if actual == expected:
        return
    fix = "convert the input with " + cast_input.format(dtype=expected)
    if actual in FLOAT_DTYPES:
        fix += " or the model with " + cast_model.format(dtype=actual)
    raise TypeError(f"{model} expects {expected} input (the dtype of its weights), got {actual}: {fix}")
