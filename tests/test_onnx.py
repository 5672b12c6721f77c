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


def test_export_command_writes_verified_deployables(tmp_path, capsys):
    """--weights exports those weights; both ONNX files and the paddle inference model take any
    batch size, name their input and output, and were verified at batch 1 and 7."""
    import paddle
    import torch

    from parity import cli_export
    from parity.deploy import _paddle_inference
    from parity.onnx_check import run_onnx

    torch.manual_seed(5)
    trained = torch_impl.build("lenet5_original")
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    assert cli_export.main(["lenet5_original", "--weights", str(tmp_path / "w.pt"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "lenet5_original_2d"
    for name in ("torch.onnx", "paddle.onnx", "paddle_inference"):
        assert re.search(rf"^{name}\s+ok\s+batch 1: max_rel .*batch 7: max_rel ", out, re.M), out
    x = np.random.RandomState(1).standard_normal((3, 1, 32, 32)).astype("float32")
    with torch.no_grad():
        want = trained.eval()(torch.from_numpy(x)).numpy()
    for side in ("torch", "paddle"):
        model = onnx.load(str(folder / f"{side}.onnx"))
        assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["logits"]
        np.testing.assert_allclose(run_onnx(folder / f"{side}.onnx", x)[0], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_paddle_inference(str(folder / "paddle_inference" / "model"))(x)[0], want,
                               rtol=1e-4, atol=1e-5)
    assert not list(tmp_path.glob("**/.export-tmp-*"))


def test_export_static_batch_and_failed_files(tmp_path, monkeypatch, capsys):
    """--static fixes the batch; a file that fails verification is deleted, or kept as *.failed."""
    from parity import cli_export, deploy

    assert cli_export.main(["lenet5", "--static", "--batch", "2", "--out", str(tmp_path)]) == 0
    model = onnx.load(str(tmp_path / "lenet5_2d" / "torch.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    monkeypatch.setattr(deploy, "run_onnx", lambda path, x: [np.zeros((x.shape[0], 10), "float32")])
    for keep in (False, True):
        out = tmp_path / f"keep{keep}"
        assert cli_export.main(["lenet5", "--out", str(out)] + ["--keep-failed"] * keep) == 1
        text = capsys.readouterr().out
        assert re.search(r"^torch.onnx\s+FAIL\s+batch 1", text, re.M), text
        names = sorted(p.name for p in (out / "lenet5_2d").iterdir())
        assert names == (["paddle.onnx.failed", "paddle_inference", "torch.onnx.failed"] if keep
                         else ["paddle_inference"])


@pytest.mark.parametrize("argv,message", [
    (["--batch", "0"], "--batch: must be at least 1, got 0"),
    (["--opset", "5"], "--opset: must be 11..19"),
    (["--num-classes", "-1"], "--num-classes: must be at least 0, got -1"),
    (["--in-channels", "0"], "--in-channels: must be at least 1, got 0"),
])
def test_export_bad_numbers_are_usage_errors(argv, message, capsys):
    from parity import cli_export

    with pytest.raises(SystemExit) as info:
        cli_export.main(["lenet5", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


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
