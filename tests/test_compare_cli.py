"""python -m parity compare: a pair from a file passes, a planted difference fails (exit 1), every
usage error is one paragraph and exit 2, --json and --key-map work, an unpairable pair is refused."""
from __future__ import annotations

import json
import textwrap

import pytest

from parity import cli_compare

PAIR = textwrap.dedent('''
    import paddle
    import torch

    SLOPE = {slope}


    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, 5)

        def forward(self, x):
            x = torch.nn.functional.leaky_relu(self.conv(x), 0.1)
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


    class P(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
            self.fc = paddle.nn.Linear(4, 5)

        def forward(self, x):
            x = paddle.nn.functional.leaky_relu(self.conv(x), SLOPE)
            return self.fc(paddle.flatten(paddle.nn.functional.adaptive_avg_pool2d(x, 1), 1))


    class Renamed(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.stem = paddle.nn.Conv2D(3, 4, 3, padding=1)
            self.head = paddle.nn.Linear(4, 5)

        def forward(self, x):
            x = paddle.nn.functional.leaky_relu(self.stem(x), SLOPE)
            return self.head(paddle.flatten(paddle.nn.functional.adaptive_avg_pool2d(x, 1), 1))


    class Wider(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(3, 6, 3, padding=1)
            self.extra = paddle.nn.Conv2D(6, 4, 1)
            self.fc = paddle.nn.Linear(4, 5)

        def forward(self, x):
            return self.fc(paddle.flatten(paddle.nn.functional.adaptive_avg_pool2d(self.extra(self.conv(x)), 1), 1))


    def torch_model():
        return T()


    def paddle_model():
        return P()


    def renamed():
        return Renamed()


    def wider():
        return Wider()


    def broken():
        raise RuntimeError("no weights here")


    NOT_CALLABLE = 3
''')

SHAPE = ["--input-shape", "2,3,6,6", "--steps", "1"]


@pytest.fixture
def pair(tmp_path):
    path = tmp_path / "pair.py"
    path.write_text(PAIR.format(slope=0.1))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_compare.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_correct_pair_passes_and_writes_json(pair, tmp_path, capsys):
    out_json = tmp_path / "out" / "report.json"
    code, out, err = run(capsys, f"{pair}:torch_model", f"{pair}:paddle_model", *SHAPE, "--json", str(out_json))
    assert code == 0, out + err
    assert "weights paired by name: 4 tensors, 1 Linear weights transposed" in out
    assert "eval_forward" in out and "1 passed, 0 failed" in out
    doc = json.loads(out_json.read_text())
    assert doc["reports"][0]["ok"] is True and doc["input_shape"] == [2, 3, 6, 6]
    assert doc["key_map"]["how"] == "name"
    assert ["fc.weight", "fc.weight", True] in doc["key_map"]["pairs"]


def test_a_planted_difference_fails_with_exit_1(tmp_path, capsys):
    path = tmp_path / "planted.py"
    path.write_text(PAIR.format(slope=0.2))
    code, out, _ = run(capsys, f"{path}:torch_model", f"{path}:paddle_model", *SHAPE, "--dtype", "float32")
    assert code == 1
    assert "eval_forward      FAIL" in out and "first divergent" in out


def test_renamed_pair_by_order_warns(pair, capsys):
    code, out, _ = run(capsys, f"{pair}:torch_model", f"{pair}:renamed", *SHAPE)
    assert code == 0, out
    assert "weights paired by construction order" in out and "proves nothing about what the two networks" in out
    assert "conv.weight -> stem.weight" in out


def test_key_map_file(pair, tmp_path, capsys):
    km = tmp_path / "map.json"
    km.write_text(json.dumps({"conv.weight": "stem.weight", "conv.bias": "stem.bias",
                              "fc.weight": "head.weight", "fc.bias": "head.bias"}))
    code, out, _ = run(capsys, f"{pair}:torch_model", f"{pair}:renamed", *SHAPE, "--key-map", str(km))
    assert code == 0, out
    assert f"weights paired by the key-map file {km}: 4 tensors, 1 Linear weights transposed" in out


def test_a_key_map_that_does_not_fit_lists_the_keys(pair, tmp_path, capsys):
    km = tmp_path / "map.json"
    km.write_text(json.dumps({"conv.weight": "stem.weight", "fc.weight": "head.bias", "nope": "stem.bias"}))
    code, out, _ = run(capsys, f"{pair}:torch_model", f"{pair}:renamed", *SHAPE, "--key-map", str(km))
    assert code == 1
    assert "torch keys in the file but not in the torch model (1): nope" in out
    assert "torch keys the file does not map (2): conv.bias, fc.bias" in out
    assert "paddle keys no torch key maps to (1): head.weight" in out
    assert "mis-shaped: fc.weight [5, 4] vs head.bias [5]" in out


def test_a_pair_that_cannot_pair_is_refused_summary_first(pair, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code, out, _ = run(capsys, f"{pair}:torch_model", f"{pair}:wider", *SHAPE, "--json", str(out_json))
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("refused: cannot pair the weights: torch has 4 tensors (137 trainable parameters), "
                            "paddle 6 (221); by name, 2 tensors pair")
    assert "paddle keys with no torch twin (2): extra.weight, extra.bias" in out
    assert "mis-shaped: conv.weight [4, 3, 3, 3] vs conv.weight [6, 3, 3, 3]" in out
    assert json.loads(out_json.read_text())["reports"][0]["checks"][0]["name"] == "structure"


@pytest.mark.parametrize("args, expected", [
    (["{p}:torch_model", "{p}:paddle_model", "--input-shape", "2"], "expected N,C,H,W"),
    (["{p}:torch_model", "{p}:paddle_model", "--input-shape", "a,b,c"], "got 'a,b,c'"),
    (["{p}:torch_model", "{p}:paddle_model"], "--input-shape"),
    (["{p}", "{p}:paddle_model", "--input-shape", "2,3,6,6"], "expected MODULE:FACTORY"),
    (["{p}:torch_model", "{p}:paddle_model", "--input-shape", "2,3,6,6", "--steps", "-1"], "expected 0 or more"),
])
def test_argument_errors_exit_2(pair, capsys, args, expected):
    code, out, err = run(capsys, *[a.format(p=pair) for a in args])
    assert code == 2
    assert expected in err and "Traceback" not in err


@pytest.mark.parametrize("torch_spec, paddle_spec, expected", [
    ("no_such_package_xyz.models:net", "{p}:paddle_model", "no module named 'no_such_package_xyz'"),
    ("{d}/missing.py:net", "{p}:paddle_model", "missing.py does not exist"),
    ("{p}:nothing", "{p}:paddle_model", "expected {p} to define 'nothing', but it has no such attribute"),
    ("{p}:broken", "{p}:paddle_model", "the factory raised RuntimeError: no weights here"),
    ("{p}:NOT_CALLABLE", "{p}:paddle_model", "expected a factory (a callable), got a int"),
    ("{p}:paddle_model", "{p}:torch_model", "expected the factory to return a torch.nn.Module for the torch side, "
                                            "got a paddle.nn.Layer (P); the two specs may be swapped"),
    ("{p}:torch_model", "{p}:torch_model", "expected the factory to return a paddle.nn.Layer for the paddle side, "
                                           "got a torch.nn.Module (T)"),
])
def test_spec_errors_are_one_paragraph_exit_2(pair, tmp_path, capsys, torch_spec, paddle_spec, expected):
    fill = dict(p=pair, d=tmp_path)
    code, out, err = run(capsys, torch_spec.format(**fill), paddle_spec.format(**fill), *SHAPE)
    assert code == 2
    assert expected.format(**fill) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_input_neither_side_runs_is_a_usage_error(pair, capsys):
    code, _, err = run(capsys, f"{pair}:torch_model", f"{pair}:paddle_model", "--input-shape", "2,5,6,6")
    assert code == 2
    assert "neither model runs an input of shape [2, 5, 6, 6]" in err and "Traceback" not in err


@pytest.mark.parametrize("content, expected", [
    ("{", "expected JSON, got a syntax error at line 1"),
    ("[1, 2]", "expected a JSON object"),
    ('{"a": 1}', "expected every value to be a paddle key"),
    ('{"a": "x", "b": "x"}', "expected each paddle key once; 1 are named twice"),
])
def test_bad_key_map_files_exit_2_before_any_model_is_built(pair, tmp_path, capsys, content, expected):
    km = tmp_path / "map.json"
    km.write_text(content)
    code, _, err = run(capsys, f"{pair}:broken", f"{pair}:paddle_model", *SHAPE, "--key-map", str(km))
    assert code == 2 and expected in err


def test_json_path_that_cannot_be_written_exits_2(pair, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, f"{pair}:torch_model", f"{pair}:paddle_model", *SHAPE,
                       "--json", str(blocker / "r.json"))
    assert code == 2 and "cannot write" in err


def test_help_and_usage_errors_load_no_framework():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    probe = ("import contextlib, io, sys\n"
             "sys.argv = ['-m']  # what python -m parity has there while the package loads\n"
             "from parity.__main__ import main\n"
             "for argv in (['compare', '--help'], ['dump', '--help'], ['diff', '--help'],\n"
             "             ['compare', 'a:b', 'c:d', '--input-shape', 'x']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
             "        print('exit', main(argv), file=sys.__stdout__)\n"
             "print('loaded', sorted(m for m in ('torch', 'paddle') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["exit", "0"] * 3 + ["exit", "2", "loaded", "[]"], proc.stdout + proc.stderr


@pytest.mark.parametrize("flags, skipped", [((), True), (("--weights-from", "paddle"), False),
                                            (("--own-weights",), False)])
def test_paddle_init_is_skipped_only_where_torch_weights_overwrite_it(pair, capsys, monkeypatch, flags, skipped):
    from paddle import _C_ops

    from parity import specs

    original, build, seen = _C_ops.uniform, specs.build, []

    def spy(spec: str, framework: str):
        if framework == "paddle":
            seen.append(_C_ops.uniform is not original)
        return build(spec, framework)

    monkeypatch.setattr(specs, "build", spy)
    code, out, _ = run(capsys, f"{pair}:torch_model", f"{pair}:paddle_model", *SHAPE, *flags)
    assert seen == [skipped]
    assert _C_ops.uniform is original
    if flags != ("--own-weights",):  # own weights: each side's random init, so the copy check differs
        assert code == 0, out
