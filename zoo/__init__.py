"""Framework-free facts about the model zoo: names, variant tables, published counts, datasets.

Nothing in this package imports torch or paddle, so both implementation packages can
read the same tables and neither can drift from the other.
"""
from zoo.models import FAMILIES, MODELS, ModelInfo, Published, families, get, names

__all__ = ["FAMILIES", "MODELS", "ModelInfo", "Published", "families", "get", "names"]
