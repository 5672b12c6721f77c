"""Data-parallel training on loopback: 2 processes give the weights of 1 process on the same global batches.

Batch 63 splits every global batch unevenly (32 + 31), so the per-process loss scaling
(each process's mean loss weighted by its share) is exercised, not just the even case.
LeNet-5 has no BatchNorm, whose per-process batch statistics would legitimately differ.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import torch

import paddle_impl.train as paddle_train
import torch_impl.train as torch_train
from zoo import training

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["lenet5", "--limit", "490", "--epochs", "2", "--batch-size", "63", "--optimizer", "momentum", "--lr", "0.05",
        "--dtype", "float64", "--threads", "1"]


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")


def assert_same_run(saved, single):
    for key, value in single.state.items():
        np.testing.assert_allclose(np.asarray(saved["model_state"][key]), value, rtol=1e-12, atol=1e-15, err_msg=key)
    np.testing.assert_allclose(saved["log"]["steps"], single.log.steps, rtol=1e-12)
    assert len(single.log.steps) == 2 * 8


def test_torch_ddp_two_processes_equal_one(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "torch_impl.train", *ARGS, "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 thread, 2 processes" in proc.stdout
    assert len([ln for ln in proc.stdout.splitlines() if ln.startswith("epoch ")]) == 2  # rank 0 prints alone
    single = torch_train.train(training.parse_args("torch", [*ARGS, "--out", str(tmp_path / "one")]))
    assert_same_run(torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True), single)


def test_paddle_data_parallel_two_processes_equal_one(tmp_path):
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "log"), str(ROOT / "paddle_impl" / "train.py"), *ARGS, "--out", str(tmp_path / "dp")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600)
    worker = (tmp_path / "log" / "workerlog.0")
    log = worker.read_text() if worker.exists() else ""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + log[-3000:]
    assert "1 thread, 2 processes" in log
    single = paddle_train.train(training.parse_args("paddle", [*ARGS, "--out", str(tmp_path / "one")]))
    assert_same_run(paddle.load(str(tmp_path / "dp" / "checkpoint.pdparams"), return_numpy=True), single)
