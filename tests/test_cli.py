"""python -m parity: exit codes, JSON output, and no tracebacks for user mistakes."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_model_run_writes_json_and_exits_zero(tmp_path):
    out = tmp_path / "sub" / "report.json"
    proc = run("lenet5_original", "--dims", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed, 0 failed" in proc.stdout
    reports = json.loads(out.read_text())
    assert [(r["model"], r["dims"], r["dtype"], r["ok"]) for r in reports] == [
        ("lenet5_original", 1, "float64", True), ("lenet5_original", 1, "float32", True)]
    checks = {c["name"]: c for c in reports[1]["checks"]}
    assert {"onnx_torch", "onnx_paddle", "onnx_cross", "bn_stats", "sgd_steps"} <= set(checks)
    assert all(c["passed"] for c in checks.values())
    assert checks["eval_forward"]["tol"] == 1e-4 and checks["eval_forward"]["max_abs"] is not None


def test_unknown_model_is_a_usage_error_without_traceback():
    proc = run("lenet6")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown model 'lenet6'" in proc.stderr and "lenet5" in proc.stderr


def test_too_small_input_is_a_usage_error_without_traceback():
    proc = run("lenet_bn", "--size", "8", "--dims", "2", "--dtype", "float32")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "at least 16" in proc.stderr
