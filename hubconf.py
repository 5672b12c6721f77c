"""torch.hub entry points for every model of torch_impl.

``torch.hub.load("path/to/this/repo", "resnet18", source="local", num_classes=10)``, with
any builder argument, ``weights="torchvision"`` included (see README "Pretrained weights").
``torch.hub.list(..., source="local")`` lists the zoo.
"""
dependencies = ["torch", "numpy"]

from torch_impl import build as _build
from torch_impl import list_models as _list_models


def _entry(name: str):
    def entry(**kwargs):
        return _build(name, **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"torch_impl.build({name!r}, **kwargs): keyword arguments as the builder takes them."
    return entry


for _name in _list_models():
    globals()[_name] = _entry(_name)
