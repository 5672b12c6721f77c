"""Model specs for ``compare`` and ``dump``: ``package.module:factory`` or ``path/to/file.py:factory``.

The factory is called with no arguments and must return a model of the framework named
for that side (a ``torch.nn.Module`` or a ``paddle.nn.Layer``). Every way a spec can fail
(malformed, module or file missing, attribute missing, factory raising, the other
framework's type) is a SpecError whose message says what was expected and what was found.
Which framework an object belongs to is read from its classes' modules, so a torch-only
process never imports paddle to tell (``dump`` relies on that).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

FRAMEWORK_TYPES = {"torch": "torch.nn.Module", "paddle": "paddle.nn.Layer"}


class SpecError(ValueError):
    """A spec that cannot give a model; the message is one paragraph a user can act on."""


def split_spec(spec: str) -> tuple[str, str]:
    """(module or file, factory name) of ``spec``; raises SpecError for a malformed spec."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise SpecError(f"model spec {spec!r}: expected MODULE:FACTORY or FILE.py:FACTORY "
                        f"(e.g. torchvision.models:resnet18 or ./my_model.py:build), got no ':FACTORY' part")
    if not all(part.isidentifier() for part in attr.split(".")):
        raise SpecError(f"model spec {spec!r}: expected a factory name after ':' (a Python identifier, called with "
                        f"no arguments), got {attr!r}; write a small factory function for arguments")
    return target, attr


def is_file_spec(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _import_file(path: str, spec: str) -> Any:
    file = Path(path)
    if not file.is_file():
        why = "is a directory" if file.is_dir() else "does not exist"
        raise SpecError(f"model spec {spec!r}: expected a Python file, but {path} {why}")
    # The file's folder goes on sys.path, so that it can import its own neighbours.
    folder = str(file.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"_parity_spec_{abs(hash(str(file.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise SpecError(f"model spec {spec!r}: importing {path} raised {type(exc).__name__}: {exc}"
                        f"{_where(exc)}") from None
    return module


def _import_module(target: str, spec: str) -> Any:
    if target == "torchvision" or target.startswith("torchvision."):
        from parity.torchvision_compat import import_torchvision

        try:
            import_torchvision()
        except ModuleNotFoundError:
            raise SpecError(f"model spec {spec!r}: torchvision is not installed "
                            f"(pip install --no-deps torchvision, as .ci/run does)") from None
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        missing = exc.name or target
        what = f"no module named {missing!r}" + ("" if missing == target else f" (imported by {target})")
        raise SpecError(f"model spec {spec!r}: expected an importable module {target!r}, but there is {what}; "
                        f"check the name, the PYTHONPATH, or give a file path (path/to/file.py:factory)") from None
    except Exception as exc:
        raise SpecError(f"model spec {spec!r}: importing {target} raised {type(exc).__name__}: {exc}"
                        f"{_where(exc)}") from None


def _where(exc: BaseException) -> str:
    """' (at file:line)' of the innermost frame of ``exc``, for messages that show no traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def load_factory(spec: str) -> Callable[[], Any]:
    """The callable that ``spec`` names, imported but not yet called."""
    target, attr = split_spec(spec)
    module = _import_file(target, spec) if is_file_spec(target) else _import_module(target, spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n, None)))
            shown = ", ".join(public[:12]) + (f" and {len(public) - 12} more" if len(public) > 12 else "")
            raise SpecError(f"model spec {spec!r}: expected {target} to define {attr!r}, but it has no such "
                            f"attribute (callables there: {shown or 'none'})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SpecError(f"model spec {spec!r}: expected a factory (a callable), got a {type(obj).__name__}")
    return obj


def framework_of(obj: Any) -> str | None:
    """'torch', 'paddle' or None, from the modules of ``obj``'s classes (imports neither framework)."""
    for cls in type(obj).__mro__:
        root = (cls.__module__ or "").split(".")[0]
        if root in FRAMEWORK_TYPES:
            return root
    return None


def build(spec: str, framework: str) -> Any:
    """Call the factory ``spec`` names and check that it returned a ``framework`` model."""
    if framework not in FRAMEWORK_TYPES:
        raise ValueError(f"framework must be 'torch' or 'paddle', got {framework!r}")
    factory = load_factory(spec)
    try:
        model = factory()
    except Exception as exc:
        raise SpecError(f"model spec {spec!r}: the factory raised {type(exc).__name__}: {exc}{_where(exc)} "
                        f"(it is called with no arguments)") from None
    found = framework_of(model)
    expected = FRAMEWORK_TYPES[framework]
    if found != framework:
        got = f"a {FRAMEWORK_TYPES[found]} ({type(model).__name__})" if found else f"a {type(model).__name__}"
        swap = "; the two specs may be swapped (torch first, then paddle)" if found else ""
        raise SpecError(f"model spec {spec!r}: expected the factory to return a {expected} for the {framework} "
                        f"side, got {got}{swap}")
    return model
