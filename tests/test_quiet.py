"""parity/quiet.py: a user sees the project's output, not the frameworks' import and log noise."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper
import pytest

ROOT = Path(__file__).resolve().parents[1]


# parity/quiet.py loaded on its own (importing the parity package would import torch too), then paddle
QUIET_PADDLE = """
import importlib.util
spec = importlib.util.spec_from_file_location("quiet", "parity/quiet.py")
quiet = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quiet)
quiet.before_imports()
quiet.import_paddle()
"""


def quiet_env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=str(ROOT), **extra)
    if not extra:
        env.pop("ZOO_VERBOSE", None)
    return env


def test_paddle_imports_silently_through_quiet():
    """paddle's "No ccache found" warning (where ccache is not installed) and its "OMP_NUM_THREADS
    set to 2" lines stay silent."""
    proc = subprocess.run([sys.executable, "-c", QUIET_PADDLE], cwd=ROOT, env=quiet_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stderr


@pytest.mark.heavy  # two fresh processes importing torch and paddle
def test_importing_parity_prints_nothing_unless_verbose():
    code = "import parity, paddle_impl, torch_impl"
    quiet = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=quiet_env(), capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "", quiet.stderr
    loud = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=quiet_env(ZOO_VERBOSE="1"),
                          capture_output=True, text=True)
    assert "OMP_NUM_THREADS set to 2" in loud.stderr


def test_onnxruntime_logs_only_errors(capfd):
    """A file with an unused initializer (as paddle2onnx writes them) loads without onnxruntime's
    "Removing initializer" warning."""
    import onnxruntime as ort

    import parity.onnx_check  # noqa: F401  applies parity/quiet.py's onnxruntime settings

    unused = onnx.numpy_helper.from_array(np.zeros(3, dtype=np.float32), "unused_weight")
    graph = oh.make_graph([oh.make_node("Relu", ["x"], ["y"])], "g", [oh.make_tensor_value_info("x", 1, [2])],
                          [oh.make_tensor_value_info("y", 1, [2])], initializer=[unused])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    capfd.readouterr()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.array([-1, 2], np.float32)})[0].tolist() == [0, 2]
    out, err = capfd.readouterr()
    assert "Removing initializer" not in out + err and err == "", err
