"""parity/quiet.py: a user sees the project's output, not the frameworks' import and log noise."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper

ROOT = Path(__file__).resolve().parents[1]


def test_importing_parity_prints_nothing():
    """paddle's "No ccache found" warning (where ccache is not installed) and its "OMP_NUM_THREADS
    set to 2" lines stay silent."""
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=str(ROOT))
    env.pop("ZOO_VERBOSE", None)
    proc = subprocess.run([sys.executable, "-c", "import parity, paddle_impl, torch_impl"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stderr


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
