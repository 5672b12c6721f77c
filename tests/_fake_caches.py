"""Fake weight caches for the weights= tests: random weights saved by torchvision's and
paddle.vision's own model classes, under their exact cache file names, in tmp folders the
tests point TORCH_HOME and HOME at. Nothing is fetched.

BatchNorm statistics and affine parameters are randomised, so a swapped or mis-renamed
buffer shows in the outputs.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import paddle
import torch

from _reference import randomize_bn_
from _torchvision import import_torchvision
from zoo import weight_sources as S


def point_caches(monkeypatch, root: Path) -> None:
    """Make both libraries' cache folders live under ``root`` (torch.hub's TORCH_HOME, paddle's HOME)."""
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("HOME", str(root / "home"))


def torchvision_reference(name: str) -> torch.nn.Module:
    """torchvision's model as it is built to load its ImageNet file (with every head the file has)."""
    tv = import_torchvision()
    kwargs = {}
    if name in ("googlenet", "inception_v3"):  # torchvision's builders with weights: aux heads in the file
        kwargs = dict(aux_logits=True, init_weights=False, transform_input=True)
    model = getattr(tv.models, name)(**kwargs)
    return randomize_bn_(model).eval()


def _legacy_densenet_names(state: dict) -> dict:
    """torchvision's published DenseNet files predate its ``norm1``/``conv1`` names (``norm.1``)."""
    return {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}


def fake_torchvision_file(name: str, tag: str | None = None) -> tuple[torch.nn.Module, Path]:
    """(torchvision's model, the file its state dict was saved to in the torchvision cache)."""
    ref = torchvision_reference(name)
    published = S.files("torchvision", name)
    wanted = next(f for f in published if tag is None or f.tag == tag)
    path = S.cache_dir("torchvision") / wanted.file
    path.parent.mkdir(parents=True, exist_ok=True)
    state = ref.state_dict()
    if name.startswith("densenet"):  # and the old (pre-zip) format, as those files are
        torch.save(_legacy_densenet_names(state), path, _use_new_zipfile_serialization=False)
    else:
        torch.save(state, path)
    return ref, path


def paddle_vision_reference(name: str, seed: int = 0) -> paddle.nn.Layer:
    """paddle.vision's model with random BatchNorm statistics and affine parameters, in eval mode."""
    import paddle.vision.models as pvm

    model = getattr(pvm, name)()
    rng = np.random.RandomState(seed)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.layer.norm._BatchNormBase):
            n = layer._mean.shape[0]
            layer._mean.set_value(rng.uniform(-0.1, 0.1, n).astype("float32"))
            layer._variance.set_value(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.weight.set_value(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.bias.set_value(rng.uniform(-0.1, 0.1, n).astype("float32"))
    model.eval()
    return model


def fake_paddle_vision_file(name: str) -> tuple[paddle.nn.Layer, Path]:
    """(paddle.vision's model, the file its state dict was saved to in paddle's weights cache)."""
    ref = paddle_vision_reference(name)
    (wanted,) = S.files("paddle.vision", name)
    path = S.cache_dir("paddle.vision") / wanted.file
    path.parent.mkdir(parents=True, exist_ok=True)
    paddle.save(ref.state_dict(), str(path))
    return ref, path
