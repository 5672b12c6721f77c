"""parity/hugepages.py: both huge-page switches are set for the harness's processes, a user's
own settings win, and ``python -m parity`` starts over exactly once so that glibc reads its
tunable (which it reads only when a process starts)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity import hugepages

ROOT = Path(__file__).resolve().parents[1]
glibc_only = pytest.mark.skipif(not hugepages.glibc_has_tunable(), reason="malloc is not glibc 2.35+ here")


@glibc_only
def test_enable_sets_both_switches_and_keeps_what_the_user_set():
    env: dict[str, str] = {}
    assert hugepages.enable(env) is True
    assert env == {"THP_MEM_ALLOC_ENABLE": "1", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert hugepages.enable(env) is False  # already there: nothing to restart for

    env = {"THP_MEM_ALLOC_ENABLE": "0", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    assert hugepages.enable(env) is True
    assert env == {"THP_MEM_ALLOC_ENABLE": "0",
                   "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}

    env = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}  # the user's own choice stands
    assert hugepages.enable(env) is False and env["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0"

    env = {"ZOO_HUGEPAGES": "0"}
    assert hugepages.enable(env) is False and env == {"ZOO_HUGEPAGES": "0"}


def test_restart_only_when_the_tunable_was_added_and_only_once():
    env: dict[str, str] = {}
    assert hugepages.restart_argv(False, env) is None
    again = hugepages.restart_argv(True, env)
    assert again == [sys.executable, *sys.orig_argv[1:]]
    assert hugepages.restart_argv(True, env) is None  # marked: never a second time


@glibc_only
def test_python_m_parity_starts_over_once_with_the_tunable(tmp_path):
    # A sitecustomize on PYTHONPATH runs at every interpreter start and logs the environment
    # that process started with: the first start lacks the tunable, the restart has it.
    log = tmp_path / "starts.txt"
    (tmp_path / "sitecustomize.py").write_text(
        "import os\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(repr(os.environ.get('GLIBC_TUNABLES')) + '\\n')\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLIBC_TUNABLES", "THP_MEM_ALLOC_ENABLE", "ZOO_HUGEPAGES_RESTARTED", "ZOO_HUGEPAGES")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    def run(target: str) -> list[str]:
        if log.exists():
            log.unlink()
        proc = subprocess.run([sys.executable, "-m", "parity", target, "--dims", "3"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "invalid choice: 3" in proc.stderr
        return log.read_text().splitlines()

    assert run("vgg16") == ["None", "'glibc.malloc.hugetlb=1'"]  # a heavy target: huge pages pay
    assert run("lenet5") == ["None"]  # light targets only: they would cost (needs_huge_pages)
    env["ZOO_HUGEPAGES"] = "0"
    assert run("vgg16") == ["None"]


def test_huge_pages_only_for_heavy_targets_and_sub_commands():
    from parity.__main__ import needs_huge_pages

    assert not needs_huge_pages(["lenet", "--dims", "2", "--json", "out.json"])
    assert not needs_huge_pages(["squeezenet", "mobilenet_v2"])
    assert not needs_huge_pages(["--help"])
    assert needs_huge_pages(["lenet", "vgg16"]) and needs_huge_pages(["all"]) and needs_huge_pages(["resnet"])
    assert needs_huge_pages(["compare", "a:b", "c:d"]) and needs_huge_pages([])


def test_import_parity_leaves_a_users_process_as_it_was():
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "THP_MEM_ALLOC_ENABLE")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", "import os, parity; print(os.environ.get('GLIBC_TUNABLES'), "
                          "os.environ.get('THP_MEM_ALLOC_ENABLE'))"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split() == ["None", "None"], out.stderr


def test_each_case_starts_after_the_last_ones_memory_is_handed_back(monkeypatch):
    # run_case trims glibc's heap before it resets the peak: a worker's next case must not start
    # on the memory the previous one freed (parity/hugepages.py, release).
    from parity import run

    calls = []
    monkeypatch.setattr(hugepages, "release", lambda: calls.append("release"))
    monkeypatch.setattr(run.peakmem, "reset_peak", lambda: calls.append("reset") or False)
    monkeypatch.setattr("parity.harness.run_model", lambda *a, **k: calls.append("case") or object())
    run.run_case(run.Case("lenet5", 2, "float64"))
    assert calls == ["release", "reset", "case"]
    hugepages.release()  # and it runs here, glibc or not
