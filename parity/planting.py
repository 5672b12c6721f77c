"""Plant a porting mistake at run time, on in-memory copies: no file on disk changes.

A mistake names one source file and exact text edits. ``planted`` reads the file, applies
the edits (each old text must occur exactly once, so a stale catalogue fails loudly),
compiles the result and executes it into a fresh module object, and yields the two
builders (torch's and paddle's) of the model, one of them from the mutated copy:

- a family module (``paddle_impl/squeezenet.py``): its function named after the model,
  which ``@register_model`` registers by name; the package registry is set aside while
  the copy executes, so the copy's decorators do not clash with the real builders;
- a shared module of the implementation (``paddle_impl/layers.py``): the family module
  is executed again against the mutated copy, which stands in ``sys.modules`` under the
  shared module's name while that copy executes;
- a module of the harness itself (``parity/weights.py``): the live module's functions
  and constants are replaced by the mutated copy's while the context is open, then put
  back (the checks look them up through the module at call time).
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from pathlib import Path
from typing import Callable, Iterator, Sequence

import zoo

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"torch": "torch_impl", "paddle": "paddle_impl"}


class StaleMistake(RuntimeError):
    """A catalogue edit whose old text no longer occurs exactly once in its file."""


def mutated_source(path: str, edits: Sequence[tuple[str, str]]) -> str:
    """The text of ``path`` (relative to the repository) with every (old, new) edit applied."""
    text = (ROOT / path).read_text()
    for old, new in edits:
        count = text.count(old)
        if count != 1:
            raise StaleMistake(f"{path}: the text to replace occurs {count} times (want exactly 1): {old!r}")
        text = text.replace(old, new)
    return text


def module_name(path: str) -> str:
    """``paddle_impl/layers.py`` -> ``paddle_impl.layers``."""
    return path[:-3].replace("/", ".")


def _exec_copy(name: str, source: str, path: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(ROOT / path)
    module.__package__ = name.rpartition(".")[0]
    exec(compile(source, f"<planted {path}>", "exec"), module.__dict__)
    return module


@contextlib.contextmanager
def _registry_set_aside(package: str) -> Iterator[None]:
    registry = importlib.import_module(f"{package}._registry")._REGISTRY
    saved = registry._builders
    registry._builders = {}
    try:
        yield
    finally:
        registry._builders = saved


@contextlib.contextmanager
def _standing_in(name: str, module: types.ModuleType) -> Iterator[None]:
    saved = sys.modules.get(name)
    sys.modules[name] = module
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved


def family_copy(package: str, family: str, source: str | None = None,
                shared: tuple[str, types.ModuleType] | None = None) -> types.ModuleType:
    """A fresh copy of ``package``'s family module, from ``source`` (default: the file as it
    is), executed with ``shared`` = (module name, module) standing in for a shared module."""
    path = f"{package}/{family}.py"
    text = source if source is not None else (ROOT / path).read_text()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_registry_set_aside(package))
        if shared is not None:
            stack.enter_context(_standing_in(*shared))
        return _exec_copy(module_name(path), text, path)


@contextlib.contextmanager
def _patched(live: types.ModuleType, copy: types.ModuleType) -> Iterator[None]:
    """``live``'s own names replaced by ``copy``'s for the duration."""
    names = [k for k, v in vars(copy).items()
             if not k.startswith("__") and getattr(v, "__module__", live.__name__) == live.__name__]
    saved = {k: getattr(live, k) for k in names if hasattr(live, k)}
    for k in names:
        setattr(live, k, getattr(copy, k))
    try:
        yield
    finally:
        for k in names:
            if k in saved:
                setattr(live, k, saved[k])
            else:
                delattr(live, k)


Builder = Callable[..., object]


@contextlib.contextmanager
def planted(model: str, side: str, path: str,
            edits: Sequence[tuple[str, str]]) -> Iterator[tuple[Builder, Builder]]:
    """(torch builder, paddle builder) of ``model`` with ``edits`` planted into ``path`` on ``side``.

    The builders are only valid inside the context (a harness-module plant is undone on exit).
    """
    import paddle_impl
    import torch_impl

    source = mutated_source(path, edits)
    family = zoo.get(model).family
    package = PACKAGES[side]
    defaults: dict[str, Builder] = {"torch": lambda **kw: torch_impl.build(model, **kw),
                                    "paddle": lambda **kw: paddle_impl.build(model, **kw)}
    name = module_name(path)
    if path == f"{package}/{family}.py":
        copy = family_copy(package, family, source)
        defaults[side] = getattr(copy, model)
        yield defaults["torch"], defaults["paddle"]
    elif path == f"{package}/layers.py":  # shared by the family modules: re-run the family against it
        shared = _exec_copy(name, source, path)
        copy = family_copy(package, family, shared=(name, shared))
        defaults[side] = getattr(copy, model)
        yield defaults["torch"], defaults["paddle"]
    else:
        live = importlib.import_module(name)
        with _patched(live, _exec_copy(name, source, path)):
            yield defaults["torch"], defaults["paddle"]
