"""PaddlePaddle implementations of the classic CNN zoo, in 1D and 2D.

Importing the package registers every model module in it, so ``build`` and
``list_models`` see the whole zoo. The torch twin is ``torch_impl``, with the same
file, class, builder and attribute names.
"""
import warnings as _warnings

_warnings.filterwarnings("ignore", message="No ccache found")  # printed by paddle's import

import importlib as _importlib
import pkgutil as _pkgutil

from paddle_impl._registry import build, get_model, list_models, register_model

_NOT_MODELS = {"features", "layers", "train"}
for _m in _pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_") and _m.name not in _NOT_MODELS:
        _importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["build", "get_model", "list_models", "register_model"]
