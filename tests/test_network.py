"""Nothing reaches the network at run time: a parity case with ONNX checks and a training epoch
make no lookup and no connection, and run in a network namespace with no interfaces.

onnxruntime 1.32 sends telemetry from C++ (parity/quiet.py turns it off), which a Python socket
guard cannot see: the namespace test also traces the process's socket calls with strace where
it is installed, and checks that onnxruntime's telemetry store was never created."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import paddle_impl.train as paddle_train
import torch_impl.train as torch_train

ROOT = Path(__file__).resolve().parents[1]
PARITY_ARGS = ["--parity-only", "lenet5", "--dims", "1", "--dtype", "float32", "--brief"]  # ONNX checks included
TRAIN_ARGS = ["lenet5", "--limit", "64", "--epochs", "1", "--threads", "1"]


# The CI budget (20 minutes on 2 cores): a parity run and two training runs under guards; run with -m heavy.
pytestmark = pytest.mark.heavy


def test_no_lookup_or_connection_in_a_parity_run_and_training(monkeypatch, tmp_path, capsys):
    attempts = []

    def refuse(kind):
        def call(*args, **kwargs):
            attempts.append((kind, args))
            raise OSError(f"the test refuses network use ({kind})")
        return call

    for owner, name in [(socket, "getaddrinfo"), (socket, "gethostbyname"), (socket, "create_connection"),
                        (socket.socket, "connect"), (socket.socket, "connect_ex"), (socket.socket, "sendto")]:
        monkeypatch.setattr(owner, name, refuse(name))
    from parity.__main__ import main

    assert main(PARITY_ARGS) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    for script in (torch_train, paddle_train):
        assert script.main([*TRAIN_ARGS, "--out", str(tmp_path / script.FRAMEWORK)]) == 0
    assert attempts == []
    assert os.environ.get("ORT_DISABLE_TELEMETRY") == "1"  # read by onnxruntime when it loads


NAMESPACE_RUN = f"""
import sys
from parity.__main__ import main
import torch_impl.train
rc = main({PARITY_ARGS!r})
rc = rc or torch_impl.train.main({TRAIN_ARGS!r} + ["--out", sys.argv[1]])
sys.exit(rc)
"""


@pytest.mark.heavy  # a fresh process importing both frameworks and onnxruntime: ~10 s of CPU
@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare is not installed")
def test_runs_in_a_network_namespace_with_no_interfaces(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    trace = tmp_path / "sockets.log"
    strace = shutil.which("strace")
    cmd = ["unshare", "-rn"]
    if strace:
        cmd += [strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", str(trace)]
    cmd += [sys.executable, "-c", NAMESPACE_RUN, str(tmp_path / "run")]
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and proc.stderr.startswith("unshare:"):
        pytest.skip(f"no network namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed, 0 failed" in proc.stdout and "done: test acc" in proc.stdout
    assert not (home / ".cache" / "Microsoft").exists(), "onnxruntime's telemetry store was created"
    if strace:
        inet = [ln for ln in trace.read_text().splitlines() if "AF_INET" in ln]
        assert inet == [], inet[:5]
