"""python -m parity: exit codes, JSON output, and no tracebacks for user mistakes."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "parity", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_model_run_writes_json_and_exits_zero(tmp_path):
    out = tmp_path / "sub" / "report.json"
    proc = run("lenet5_original", "--dims", "1", "--jobs", "1", "--parity-only", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed, 0 failed" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["partial"] is False and doc["cases"] == 2
    reports = doc["reports"]
    assert [(r["model"], r["dims"], r["dtype"], r["ok"]) for r in reports] == [
        ("lenet5_original", 1, "float64", True), ("lenet5_original", 1, "float32", True)]
    checks = {c["name"]: c for c in reports[1]["checks"]}
    assert {"onnx_torch", "onnx_paddle", "onnx_cross", "train_param_grads", "sgd_steps"} <= set(checks)
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


def test_usage_errors_and_help_answer_before_the_frameworks_load():
    """The real proof is that neither framework is imported; the clock only guards against a regression."""
    probe = ("import sys, time\n"
             "sys.argv = ['-m']  # what python -m parity has there while the package loads\n"
             "from parity.__main__ import main\n"
             "for argv in (['lenet5', '--dims', '3'], ['lenet6'], ['lenet_bn', '--size', '8'],\n"
             "             ['lenet5', '--kinds', 'stochastic'], ['lenet5', '--kinds', 'hot', '--parity-only'], ['--help']):\n"
             "    try:\n"
             "        main(argv)\n"
             "    except SystemExit as exc:\n"
             "        print('exit', exc.code)\n"
             "print('loaded', sorted(m for m in ('torch', 'paddle') if m in sys.modules))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.count("exit 2") == 5 and "exit 0" in proc.stdout, proc.stdout + proc.stderr
    assert "loaded []" in proc.stdout
    assert "needs an input size of at least 16, got --size 8" in proc.stderr
    assert "no case of kind stochastic for lenet5 in 1D and 2D" in proc.stderr
    assert "argument --parity-only: not allowed with argument --kinds" in proc.stderr
    for argv in (["lenet5", "--dims", "3"], ["--help"]):
        start = time.perf_counter()
        proc = run(*argv)
        seconds = time.perf_counter() - start
        assert proc.returncode == (2 if "--dims" in argv else 0) and "Traceback" not in proc.stderr
        assert seconds < 3.0, f"{argv}: {seconds:.1f}s"  # about 0.3 s on an idle machine


def test_help_lists_every_subcommand_with_its_line():
    proc = run("--help")
    commands = sorted(p.stem[len("cli_"):] for p in (ROOT / "parity").glob("cli_*.py"))
    assert {"convert", "export", "readme", "summary"} <= set(commands)
    listed = proc.stdout.split("sub-commands", 1)[1].splitlines()[1:]
    assert [line.split()[0] for line in listed if line.strip()] == commands
    assert all(len(line.split()) > 2 for line in listed if line.strip())  # each with its description


def _lines_until(stream, prefixes, seen):
    for line in stream:
        seen.append(line)
        if line.startswith(prefixes):
            return line
    return None


def _verdicts(entries):
    return [(r["model"], r["dims"], r["dtype"], r["ok"], [(c["name"], c["passed"]) for c in r["checks"]])
            for r in entries]


# In-process (--jobs 1) in the default run; with two workers it costs three framework
# imports (~15 s of CPU), so that one is heavy (the runner's worker path has cheap tests in
# tests/test_run.py).
@pytest.mark.parametrize("jobs", ["1", pytest.param("2", marks=pytest.mark.heavy)])
def test_ctrl_c_prints_the_summary_and_writes_a_partial_json(tmp_path, jobs):
    """SIGINT once a case has ended: exit 130, the summary of what finished, the partial
    JSON; the finished cases' verdicts equal those of a run in this process."""
    from parity.run import default_cases, run_cases

    out = tmp_path / "partial.json"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "parity", "lenet", "--parity-only", "--dims", "2", "--dtype", "float64",
                             "--no-onnx", "--brief", "--no-bar", "--jobs", jobs, "--json", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        first = _lines_until(proc.stdout, ("PASS", "FAIL", "ERROR"), seen)
        assert first is not None, "".join(seen) + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    text = "".join(seen) + rest
    assert proc.returncode == 130, text + err
    assert "Traceback" not in err and "FatalError" not in err  # workers end quietly
    assert re.match(rf"5 cases, {jobs} jobs? x \d+ threads?\n", text), text[:200]
    started = sorted(line.split()[1] for line in seen if line.startswith("start"))
    assert started == (["[1/5]", "[2/5]"] if jobs == "2" else ["[1/5]"])
    first_model = first.split()[2]
    assert "interrupted: " in text and " of 5 cases finished" in text
    summary = text.split("interrupted: ", 1)[1]
    assert first_model in summary and "passed, " in summary and f"wrote {out} (partial)" in summary
    doc = json.loads(out.read_text())
    assert doc["partial"] is True and doc["cases"] == 5
    assert 1 <= len(doc["reports"]) < 5 and first_model in [r["model"] for r in doc["reports"]]
    assert not list(tmp_path.glob(".partial.json.*"))  # no temp file left behind
    finished = [r["model"] for r in doc["reports"]]
    here = run_cases(default_cases(finished, [2], ["float64"], onnx=False, coverage=False), prepare=None)
    assert _verdicts(doc["reports"]) == _verdicts(o.report.to_dict() for o in here.outcomes)


@pytest.mark.heavy
def test_jobs_2_gives_the_verdicts_of_jobs_1(tmp_path):
    """A whole small family both ways (heavy: three framework imports and 20 cases)."""
    docs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.json"
        proc = run("lenet", "--no-onnx", "--brief", "--parity-only", "--jobs", jobs, "--json", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count("\nstart ") == proc.stdout.count("\nPASS  ") == 20
        docs[jobs] = json.loads(out.read_text())
    assert _verdicts(docs["1"]["reports"]) == _verdicts(docs["2"]["reports"])


def test_json_document_is_marked_partial_and_the_readme_reads_it_and_the_old_list(tmp_path):
    from parity import readme
    from parity.results import Check, Report
    from parity.report import write_json

    reports = [Report("lenet5", 2, "float64", [Check("eval_forward", True)], ["input [4, 1, 32, 32]"]),
               Report("lenet5", 2, "float32", [Check("eval_forward", False)])]
    path = tmp_path / "r.json"
    write_json(reports, path, partial=True, total=4)
    doc = json.loads(path.read_text())
    assert doc["partial"] is True and doc["cases"] == 4 and [r["ok"] for r in doc["reports"]] == [True, False]
    assert readme.parity_status(path) == {("lenet5", 2): "FAIL (float32) at 1x32x32"}
    path.write_text(json.dumps(doc["reports"]))  # a report written before the document had "partial"
    assert readme.parity_status(path) == {("lenet5", 2): "FAIL (float32) at 1x32x32"}
    write_json(reports[:1], path)
    assert json.loads(path.read_text())["partial"] is False


def test_is_subcommand_agrees_with_the_listed_sub_commands():
    from parity.__main__ import is_subcommand, subcommands

    assert subcommands() and all(is_subcommand(name) for name in subcommands())
    assert not any(is_subcommand(w) for w in ("lenet", "all", "", "../parity/cli_compare", "cli_compare"))
