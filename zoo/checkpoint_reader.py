"""Read torch (.pt/.pth) and paddle (.pdparams) checkpoints with numpy only.

So either implementation package can load the other framework's files without importing
it (torch_impl never imports paddle, paddle_impl never torch). Tensors come back as
numpy arrays; nothing in a file is ever executed:
- torch's zip format (torch >= 1.6) and its legacy format (the older torchvision files):
  the pickle's tensors are rebuilt from their storages with numpy;
- paddle.save's pickle of numpy arrays (paddle 2 and 3, paddle.vision's files).
The unpickler rebuilds only tensors, numpy arrays and ordered dicts; any other class an
optimizer or scheduler state names becomes an inert ``Opaque`` placeholder.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.training import CheckpointError

LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_STORAGES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,  # numpy has no bfloat16: widened to float32 on rebuild
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_NUMPY_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("builtins", "tuple"): tuple, ("builtins", "list"): list, ("builtins", "dict"): dict,  # paddle: (name, array)
}


class Opaque:
    """An object of a class the reader does not rebuild; keeps what the pickle gave it."""

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "Opaque":
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<unread {self.qualname}>"


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass
class Checkpoint:
    """What a file holds: the framework that wrote it and the unpickled object (tensors as numpy)."""

    path: Path
    framework: str  # "torch" or "paddle"
    obj: Any


def _bfloat16_to_float32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _rebuild(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    """A tensor as a strided view of its storage (legacy files fill the storage afterwards)."""
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * item for s in stride), writeable=False)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


_TORCH_FUNCTIONS = {"_rebuild_tensor_v2": _rebuild, "_rebuild_tensor": _rebuild,
                    "_rebuild_parameter": _rebuild_parameter, "_rebuild_parameter_with_state": _rebuild_parameter}


class _Unpickler(pickle.Unpickler):
    """Rebuilds torch tensors, numpy arrays and ordered dicts; everything else stays inert."""

    def __init__(self, file: Any, load_storage: Any = None) -> None:
        super().__init__(file)
        self._load_storage = load_storage
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[module, name]
        if module == "torch" and name in _TORCH_STORAGES:
            return _StorageType(_TORCH_STORAGES[name])
        if module == "torch._utils" and name in _TORCH_FUNCTIONS:
            return _TORCH_FUNCTIONS[name]
        return type(name, (Opaque,), {"qualname": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage") or self._load_storage is None:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
        if key not in self.storages:
            self.storages[key] = self._load_storage(key, storage_type.dtype, numel)
        if len(pid) > 5 and pid[5] is not None:  # a legacy view: (view key, offset, size)
            view_key, offset, size = pid[5]
            root = self.storages[key]
            self.storages.setdefault(view_key, root[offset:offset + size])
            return self.storages[view_key]
        return self.storages[key]


def _read_torch_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("data.pkl")), None)
        if pkl is None:
            raise CheckpointError(f"{path}: a zip archive without data.pkl, not a torch.save file")
        prefix = pkl[:-len("data.pkl")]
        order = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"

        def load_storage(key: str, dtype: type, numel: int) -> np.ndarray:
            dt = np.dtype(dtype).newbyteorder("<" if order == "little" else ">")
            raw = np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=dt, count=numel)
            raw = raw.astype(raw.dtype.newbyteorder("="))
            return _bfloat16_to_float32(raw) if dtype is np.uint16 else raw

        return _Unpickler(io.BytesIO(archive.read(pkl)), load_storage).load()


def _read_torch_legacy(f: Any, path: Path) -> Any:
    """torch's format before 1.6: magic, protocol, system info, the object, storage keys, then raw storages."""
    for _ in range(2):  # protocol version and system info
        pickle.load(f)
    placeholders: dict[str, tuple[np.ndarray, type]] = {}

    def load_storage(key: str, dtype: type, numel: int) -> np.ndarray:
        if dtype is np.uint16:
            raise CheckpointError(f"{path}: bfloat16 tensors in torch's legacy format are not supported")
        buf = np.empty(numel, dtype=dtype)
        placeholders[key] = (buf, dtype)
        return buf

    obj = _Unpickler(f, load_storage).load()
    for key in _Unpickler(f).load():
        buf, dtype = placeholders[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        data = f.read(numel * np.dtype(dtype).itemsize)
        buf[:] = np.frombuffer(data, dtype=dtype, count=numel)
    return obj


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a torch or paddle checkpoint; CheckpointError when the file is neither (or damaged)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    guess = "paddle" if path.suffix in (".pdparams", ".pdopt") else "torch"
    try:
        if zipfile.is_zipfile(path):
            return Checkpoint(path, "torch", _read_torch_zip(path))
        with open(path, "rb") as f:
            first = _Unpickler(f).load()
            if first == LEGACY_TORCH_MAGIC:
                return Checkpoint(path, "torch", _read_torch_legacy(f, path))
        return Checkpoint(path, "paddle", first)
    except CheckpointError:
        raise
    except Exception as e:  # pickle, zip and struct errors all mean a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable {guess} checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'})") from None
