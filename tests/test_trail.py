"""parity/trail.py: torch's steps kept on disk for the step checks, read back exactly, and never left behind."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import numpy as np
import pytest
import torch

from parity import steps, trail
from parity.trail import Trail
from zoo.files import WriteError


def test_tensors_come_back_bit_for_bit_in_their_dtype_and_shape(tmp_path):
    tensors = {
        "w": torch.randn(5, 3, dtype=torch.float64),
        "wt": torch.randn(3, 4).t(),  # a transposed view: kept in its logical order
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 7),
        "count": torch.tensor(3, dtype=torch.int64),
    }
    with Trail(tmp_path) as t:
        t.write("state", 1, tensors.items())
        assert t.names("state", 1) == set(tensors) and t.names("state", 2) == set()
        for name, value in tensors.items():
            back = t.read("state", 1, name)
            assert back.dtype == value.dtype and back.shape == value.shape
            assert torch.equal(back, value)
        t.drop("state", 1)
        assert t.names("state", 1) == set() and not (t.folder / "state-1.bin").exists()
        folder = t.folder
    assert not folder.exists()


def test_the_folder_goes_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with Trail(tmp_path) as t:
            t.write("grad", 1, [("w", torch.ones(3))])
            raise RuntimeError("a check failed mid-way")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_process_trail_is_removed_by_the_next_one(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{trail.PREFIX}{int(dead.stdout)}-abc"
    stale.mkdir()
    (stale / "state-1.bin").write_bytes(b"\0" * 64)
    live = tmp_path / f"{trail.PREFIX}{os.getpid()}-def"  # another check of a live process
    live.mkdir()
    other = tmp_path / "unrelated"
    other.mkdir()
    with Trail(tmp_path) as t:
        assert not stale.exists() and live.exists() and other.exists() and t.folder.exists()


def test_a_write_failure_names_the_path_and_the_reason(tmp_path):
    with Trail(tmp_path) as t:
        t.folder.rmdir()
        with pytest.raises(WriteError, match=r"cannot write .*state-2\.bin: torch's step 2 .*no such file or directory"):
            t.write("state", 2, [("w", torch.ones(3))])


def test_an_unusable_temporary_folder_is_named(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(WriteError, match=r"cannot write .*afile: the checks keep torch's weights there"):
        Trail(afile)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_step_checks_never_hold_both_optimizers_and_leave_no_files(dtype, tmp_path, monkeypatch):
    """torch's optimizer is unreachable by the time paddle's is made, and the trail folder is gone at the end."""
    from parity import compare_modules
    from tests.twins import INPUT_SHAPE, PaddleTwin, TorchTwin

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    made: list[weakref.ref] = []
    alive_at_paddle: list[bool] = []
    real_torch, real_paddle = steps.torch_optimizer, steps.paddle_optimizer

    def torch_optimizer(kind, module):
        opt = real_torch(kind, module)
        made.append(weakref.ref(opt))
        return opt

    def paddle_optimizer(kind, module):
        gc.collect()
        alive_at_paddle.append(made[-1]() is not None)
        assert list(tmp_path.glob(trail.PREFIX + "*")), "torch's steps should be on disk while paddle steps"
        return real_paddle(kind, module)

    monkeypatch.setattr(steps, "torch_optimizer", torch_optimizer)
    monkeypatch.setattr(steps, "paddle_optimizer", paddle_optimizer)
    report = compare_modules(TorchTwin(), PaddleTwin(), input_shape=INPUT_SHAPE, dtype=dtype)
    assert report.check("sgd_steps").passed and report.check("adam_steps").passed, str(report)
    assert alive_at_paddle == [False, False]  # one SGD check, one Adam check
    assert list(tmp_path.glob(trail.PREFIX + "*")) == []  # the steps' trail and the initial weights' file
    assert np.isfinite(report.check("adam_steps").max_rel)
