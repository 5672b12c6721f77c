"""Devices, launcher environments and mixed precision for the training scripts, framework-free.

torchrun sets ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``; ``paddle.distributed.launch`` sets
``PADDLE_LOCAL_RANK``, ``PADDLE_LOCAL_SIZE`` and ``FLAGS_selected_gpus`` (the GPU it gives the
process). Under either launcher each process trains on the GPU of its local rank, and its
automatic thread count is its share of the machine's cores.
"""
from __future__ import annotations

import os

AMP = ("none", "bf16", "fp16")
SPELLING = {"torch": "cuda", "paddle": "gpu"}


class DeviceError(ValueError):
    """A ``--device`` or ``--amp`` that this framework cannot run here; the message says what to use."""


def _env_int(*names: str, default: int) -> int:
    for name in names:
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit():
            return int(value)
    return default


def local_rank() -> int:
    """This process's rank on its machine (0 without a launcher)."""
    return _env_int("LOCAL_RANK", "PADDLE_LOCAL_RANK", default=0)


def local_world_size() -> int:
    """How many processes a launcher started on this machine (1 without one)."""
    return max(1, _env_int("LOCAL_WORLD_SIZE", "PADDLE_LOCAL_SIZE", default=1))


def world_size() -> int:
    """Processes in the whole run, on every machine (1 without a launcher)."""
    return max(1, _env_int("WORLD_SIZE", "PADDLE_TRAINERS_NUM", default=1))


def launcher_gpu(framework: str) -> int:
    """The GPU a launcher gives this process: paddle's ``FLAGS_selected_gpus``, else the local rank."""
    if framework == "paddle":
        return _env_int("FLAGS_selected_gpus", "PADDLE_LOCAL_RANK", default=local_rank())
    return local_rank()


def choose_device(requested: str, framework: str, gpus: int) -> str:
    """``--device`` in this framework's spelling (cpu, cuda:N for torch, gpu:N for paddle).

    ``auto`` is a GPU when the framework sees one (``gpus`` > 0), else the CPU. ``gpu`` and
    ``cuda`` are the same in both scripts. Under a launcher the GPU is the process's own, and
    an explicit other index is an error: it would put several processes on one GPU.
    """
    kind, sep, index = requested.strip().lower().partition(":")
    if kind == "auto" and not sep:
        kind = "gpu" if gpus else "cpu"
    if kind == "cpu" and not sep:
        return "cpu"
    if kind not in ("gpu", "cuda") or (sep and not index.isdigit()):
        raise DeviceError(f"--device {requested}: expected auto, cpu, gpu, gpu:N, cuda or cuda:N")
    name = SPELLING[framework]
    if gpus == 0:
        why = "torch.cuda.is_available() is False" if framework == "torch" else \
            "paddle.device.cuda.device_count() is 0 (a CPU build of paddle, or no visible GPU)"
        raise DeviceError(f"--device {requested}: {framework} sees no GPU here ({why}); use --device cpu")
    if world_size() > 1 or local_world_size() > 1:
        own = launcher_gpu(framework)
        if index and int(index) != own:
            raise DeviceError(f"--device {requested}: under a launcher each process uses the GPU of its local rank "
                              f"({name}:{own} for this one); pass --device {name} (or auto)")
        n = own
    else:
        n = int(index) if index else 0
    if n >= gpus:
        raise DeviceError(f"--device {requested}: {framework} sees {gpus} GPU(s), {name}:0 to {name}:{gpus - 1}")
    return f"{name}:{n}"


def check_amp(amp: str, framework: str, device: str) -> None:
    """Refuse a mixed precision this framework cannot run on ``device``, saying what can."""
    if amp == "none" or not device.startswith("cpu"):
        return
    if amp == "fp16":
        raise DeviceError("--amp fp16 needs a GPU (float16 matmuls and convolutions on the CPU are slower than "
                          "float32 and need loss scaling); on the CPU use --amp bf16" +
                          (" with the torch script" if framework == "paddle" else ""))
    if framework == "paddle":
        raise DeviceError("--amp bf16 on the CPU: paddle 3.3.1's auto_cast has no effect on the CPU (it warns "
                          "'amp_guard can only be enabled on CUDAPlace...') and its CPU conv2d has no bfloat16 "
                          "kernel; paddle mixed precision needs a GPU. Use --amp none here, or the torch script")
