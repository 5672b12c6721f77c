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
        assert t.names("state", 1) == set()


def test_a_dropped_file_is_rewritten_in_place_by_the_next_write(tmp_path):
    """The next step (or the next trail of the process) writes over a file given back, from its
    start: what it reads is the new data, and the old, longer tail is never read."""
    with Trail(tmp_path) as t:
        t.write("state", 1, [("w", torch.arange(1000, dtype=torch.float64))])
        first = t.paths[("state", 1)]
        t.drop("state", 1)
        t.write("state", 2, [("w", torch.full((10,), -1.0)), ("b", torch.ones(3, dtype=torch.float64))])
        assert t.paths[("state", 2)] == first  # the same file, not a new one
        assert torch.equal(t.read("state", 2, "w"), torch.full((10,), -1.0))
        assert torch.equal(t.read("state", 2, "b"), torch.ones(3, dtype=torch.float64))
    with Trail(tmp_path) as later:  # another trail of this process reuses it too
        later.write("initial", 0, [("w", torch.zeros(4))])
        assert later.paths[("initial", 0)] == first
    assert list(first.parent.iterdir()) == [first]


def test_a_file_still_read_is_never_rewritten(tmp_path):
    """A tensor read earlier keeps its values: while anything still maps a file, a write takes another."""
    with Trail(tmp_path) as t:
        t.write("grad", 1, [("w", torch.ones(100))])
        first = t.paths[("grad", 1)]
        kept = t.read("grad", 1, "w")
        t.drop("grad", 1)
        t.write("grad", 2, [("w", torch.zeros(100))])
        assert t.paths[("grad", 2)] != first
        assert torch.equal(kept, torch.ones(100))
        del kept
        t.drop("grad", 2)
        t.write("grad", 3, [("w", torch.full((100,), 3.0))])
        assert len(list(t.folder.iterdir())) == 2  # both files free again: no third made


def test_two_trails_alive_at_once_never_share_a_file(tmp_path):
    with Trail(tmp_path) as a, Trail(tmp_path) as b:
        a.write("initial", 0, [("w", torch.ones(5))])
        b.write("state", 1, [("w", torch.zeros(5))])
        assert a.paths[("initial", 0)] != b.paths[("state", 1)]
        assert torch.equal(a.read("initial", 0, "w"), torch.ones(5))


def test_the_files_are_handed_back_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with Trail(tmp_path) as t:
            t.write("grad", 1, [("w", torch.ones(3))])
            raise RuntimeError("a check failed mid-way")
    assert t.paths == {} and t.index == {}
    with Trail(tmp_path) as again:
        again.write("grad", 1, [("w", torch.ones(3))])
        assert len(list(again.folder.iterdir())) == 1


_MAKE_A_TRAIL = """
import sys, torch
from parity.trail import Trail
t = Trail(sys.argv[1])
t.write("state", 1, [("w", torch.ones(8))])
print(t.folder, flush=True)
if sys.argv[2] == "leave":
    from parity.run import leave
    leave(0)
"""


@pytest.mark.parametrize("ending", ["exit", "leave"])
def test_the_process_folder_goes_when_the_process_ends(tmp_path, ending):
    """However the process ends normally (the interpreter's exit, or parity.run.leave, which skips it)."""
    done = subprocess.run([sys.executable, "-c", _MAKE_A_TRAIL, str(tmp_path), ending], capture_output=True,
                          text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(tmp_path / trail.PREFIX))
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
        with pytest.raises(WriteError, match=r"cannot write .*parity-trail-.*\.bin: torch's step 2 .*no such file or directory"):
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
    # The steps' trails and the initial weights' file gave their files back, for the next
    # comparison to rewrite: as many as were held at once, the initial weights and the states
    # of torch's first 2 steps (the third stays in its model), the state right after step 1's
    # backward, which the Adam check replays (parity/first_step.py: torch's gradients and
    # buffers, and in float64 paddle's too), and in float32 the gradients of steps 2 and 3 ...
    (folder,) = tmp_path.glob(trail.PREFIX + "*")
    files = trail._FILES[tmp_path]
    assert sorted(files.free) == sorted(folder.iterdir()) and len(files.free) == 7
    # ... and a second comparison makes none.
    compare_modules(TorchTwin(), PaddleTwin(), input_shape=INPUT_SHAPE, dtype=dtype)
    assert len(list(folder.iterdir())) == len(files.free)
    assert np.isfinite(report.check("adam_steps").max_rel)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_last_step_is_judged_against_torchs_own_model(dtype, monkeypatch):
    """The last step's state is read from torch's model, not the trail: a planted mistake that
    only the last step makes (torch's learning rate doubled at step 3) fails both step checks,
    and the failure is at step 3."""
    from parity import compare_modules
    from tests.twins import INPUT_SHAPE, PaddleTwin, TorchTwin

    real_torch = steps.torch_optimizer

    def torch_optimizer(kind, module):
        opt = real_torch(kind, module)
        real_step, count = opt.step, [0]

        def step():
            count[0] += 1
            if count[0] == 3:
                for group in opt.param_groups:
                    group["lr"] *= 2
            return real_step()

        opt.step = step
        return opt

    verdicts: dict[tuple[str, int], bool] = {}
    real_judge = steps.judge

    def judge(name, dtype, triples, *args, **kwargs):
        triples = list(triples)  # each named "step K <tensor>"
        check = real_judge(name, dtype, triples, *args, **kwargs)
        verdicts[(name, int(triples[0][0].split()[1]))] = check.passed
        return check

    monkeypatch.setattr(steps, "torch_optimizer", torch_optimizer)
    monkeypatch.setattr(steps, "judge", judge)
    report = compare_modules(TorchTwin(), PaddleTwin(), input_shape=INPUT_SHAPE, dtype=dtype)
    for name in ("sgd_steps", "adam_steps"):
        assert not report.check(name).passed, str(report)
        assert {step: ok for (n, step), ok in verdicts.items() if n == name} == {1: True, 2: True, 3: False}
