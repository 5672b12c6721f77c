"""PyTorch implementations of the classic CNN zoo, in 1D and 2D.

Importing the package registers every model module in it, so ``build`` and
``list_models`` see the whole zoo. The paddle twin is ``paddle_impl``, with the same
file, class, builder and attribute names.
"""
import importlib as _importlib
import pkgutil as _pkgutil

from torch_impl._registry import build, get_model, list_models, register_model

_NOT_MODELS = {"features", "layers", "train"}
for _m in _pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_") and _m.name not in _NOT_MODELS:
        _importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["build", "get_model", "list_models", "register_model"]
