"""Data-parallel training on loopback: 2 processes give the weights of 1 process on the same global batches.

Batch 63 splits every global batch unevenly (32 + 31), so the per-process loss scaling
(each process's mean loss weighted by its share) is exercised, not just the even case.
The model is LeNet with BatchNorm, trained with ``--sync-bn``: each BatchNorm then normalises
with the global batch's statistics, so 2 processes compute what 1 process with plain
BatchNorm computes, and the ranks' running statistics are equal.

tests/_rank_state.py runs the script's ``train`` under the launcher and saves every rank's
weights (the script writes rank 0's only). The heavy test launches the scripts themselves in
both forms in both launchers.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch

import paddle_impl.train as paddle_train
import torch_impl.train as torch_train
from zoo import training

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["lenet_bn", "--limit", "250", "--epochs", "2", "--batch-size", "63", "--optimizer", "momentum", "--lr", "0.05",
        "--dtype", "float64", "--threads", "1"]
STEPS = 2 * 4


# The CI budget (20 minutes on 2 cores): 2-process training runs; run with -m heavy.
pytestmark = pytest.mark.heavy


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")


def assert_same_run(saved_state, saved_steps, single):
    """float64: equal to rounding, relative to each tensor's scale. (A BatchNorm bias right before
    another BatchNorm has a zero gradient in exact arithmetic and stays at ~1e-18.)"""
    for key, value in single.state.items():
        scale = max(float(np.abs(value).max()), 1e-3)
        np.testing.assert_allclose(np.asarray(saved_state[key]), value, rtol=1e-10, atol=1e-12 * scale, err_msg=key)
    np.testing.assert_allclose(saved_steps, single.log.steps, rtol=1e-10)
    assert len(single.log.steps) == STEPS


def assert_ranks_equal(folder):
    ranks = [np.load(folder / f"rank{r}.npz") for r in (0, 1)]
    stats = [k for k in ranks[0].files if "running" in k or k.endswith(("_mean", "_variance"))]
    assert len(stats) == 4  # two BatchNorms, mean and variance each
    for key in ranks[0].files:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)


def launch(cmd, cwd, log_dir=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
    worker = Path(log_dir) / "workerlog.0" if log_dir else None
    log = worker.read_text() if worker and worker.exists() else proc.stdout
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + (log[-3000:] if log_dir else "")
    return log


LAUNCHERS = {
    "torch": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
    "paddle": [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir"],
}
SINGLE = {"torch": torch_train, "paddle": paddle_train}


def launcher(fw, tmp_path):
    return LAUNCHERS[fw] + ([str(tmp_path / "log")] if fw == "paddle" else [])


@pytest.mark.parametrize("fw", ["torch", "paddle"])
def test_sync_bn_two_processes_equal_one_and_each_other(fw, tmp_path):
    """Every rank ends with the same weights and BN statistics, rank 0's checkpoint holds them,
    and they are those of one process with plain BatchNorm on the same global batches."""
    helper = str(ROOT / "tests" / "_rank_state.py")
    cmd = [*launcher(fw, tmp_path), helper, fw, str(tmp_path), *ARGS, "--sync-bn", "--out", str(tmp_path / "dp")]
    out = launch(cmd, tmp_path, tmp_path / "log" if fw == "paddle" else None)
    assert "1 thread, 2 processes, sync-bn" in out
    assert len([ln for ln in out.splitlines() if ln.startswith("epoch ")]) == 2  # rank 0 prints alone
    assert_ranks_equal(tmp_path)
    single = SINGLE[fw].train(training.parse_args(fw, [*ARGS, "--out", str(tmp_path / "one")]))
    if fw == "torch":
        saved = torch.load(tmp_path / "dp" / "checkpoint.pt", weights_only=True)
    else:
        saved = paddle.load(str(tmp_path / "dp" / "checkpoint.pdparams"), return_numpy=True)
    assert_same_run(saved["model_state"], saved["log"]["steps"], single)


@pytest.mark.heavy
@pytest.mark.parametrize("fw,form", [(fw, form) for fw in ("torch", "paddle") for form in ("path", "module")])
def test_both_launch_forms_run_the_script(fw, form, tmp_path):
    """torchrun takes a path or -m; paddle's launcher takes a path, or runs ``python -m ...`` as its command.
    Started from another folder, by path, the script makes the repository importable itself."""
    script = [str(ROOT / f"{fw}_impl" / "train.py")]
    if form == "module":
        script = ["-m", f"{fw}_impl.train"] if fw == "torch" else [sys.executable, "-m", "paddle_impl.train"]
    cwd = ROOT if form == "module" else tmp_path
    out = launch([*launcher(fw, tmp_path), *script, *ARGS, "--epochs", "1", "--out", str(tmp_path / "dp")], cwd,
                 tmp_path / "log" if fw == "paddle" else None)
    assert "1 thread, 2 processes" in out and "done: test acc" in out
