"""ONNX export as a user command, and exporter failures reported instead of killing the process."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import paddle_impl
import torch_impl
from parity.onnx_check import check_onnx
from parity.weights import copy_torch_to_paddle

ROOT = Path(__file__).resolve().parents[1]


def test_export_command_writes_two_verified_files(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "parity", "export", "lenet5_original", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for side in ("torch", "paddle"):
        path = tmp_path / "lenet5_original_2d" / f"{side}.onnx"
        onnx.checker.check_model(onnx.load(str(path)))
        assert re.search(rf"^onnx_{side}\s+ok\s", proc.stdout, re.M), proc.stdout
    assert re.search(r"^onnx_cross\s+ok\s", proc.stdout, re.M), proc.stdout


def test_paddle2onnx_exit_is_reported_not_fatal(monkeypatch):
    import paddle2onnx

    def exits(*args, **kwargs):
        # paddle2onnx logs from C++ straight to fd 2, then calls sys.exit(-1).
        os.write(2, b"[Paddle2ONNX] Oops, there are some operators not supported yet\n")
        sys.exit(-1)

    monkeypatch.setattr(paddle2onnx, "export", exits)
    t, p = torch_impl.build("lenet5"), paddle_impl.build("lenet5")
    copy_torch_to_paddle(t, p)
    checks = {c.name: c for c in check_onnx(t, p, np.zeros((1, 1, 32, 32), "float32"))}
    assert checks["onnx_torch"].passed
    assert not checks["onnx_paddle"].passed and "paddle2onnx exited (-1)" in checks["onnx_paddle"].detail
    assert "not supported" in checks["onnx_paddle"].detail
    assert not checks["onnx_cross"].passed


def test_export_of_unknown_model_is_a_usage_error():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "parity", "export", "lenet55"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "unknown model" in proc.stderr
