"""The benchmark scripts' bookkeeping (not their timings: those are not tests)."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tt():
    return load("train_throughput")


def test_rounds_rotate_and_every_loop_is_timed_once_a_round(tt):
    calls = []
    loops = [tt.Loop("ours", "a", 1, lambda warmup, k="a": calls.append((k, warmup))),
             tt.Loop("tutorial", "b", 2, lambda warmup, k="b": calls.append((k, warmup))),
             tt.Loop("tuned", "c", 1, lambda warmup, k="c": calls.append((k, warmup)))]
    threads = []
    tt.measure(loops, threads.append, n=10, epochs=1, repeats=3)
    timed = [k for k, warmup in calls if not warmup]
    assert [k for k, warmup in calls if warmup] == ["a", "b", "c"]
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # each round starts one loop later
    assert threads[3:] == [1, 2, 1, 2, 1, 1, 1, 1, 2]  # each loop timed at its own thread count
    assert all(len(lp.wall) == len(lp.cpu) == 3 for lp in loops)


def test_summary_picks_the_best_variants_and_pairs_rounds(tt):
    def loop(group, label, threads, wall, cpu):
        lp = tt.Loop(group, label, threads, lambda warmup: None)
        lp.wall, lp.cpu = wall, cpu
        return lp

    loops = [loop("ours", "1 thread", 1, [10, 11], [10, 11]),
             loop("ours", "2 threads", 2, [20, 16], [11, 9]),
             loop("tutorial", "1 thread", 1, [6, 4], [6, 4]),
             loop("tutorial", "2 threads", 2, [8, 10], [4, 5]),
             loop("tuned", "1 thread", 1, [12, 9], [12, 9]),
             loop("tuned", "2 threads", 2, [19, 20], [10, 10]),
             loop("stream", "2 threads", 2, [19, 17], [10, 9])]
    r = tt.summarize(loops, chosen=2)
    assert r["stream"] == {"wall": 19, "cpu": 10, "round_ratios": [19 / 20, 17 / 16]}  # against ours at 2 threads
    assert r["ours"] == {"wall": 20, "cpu": 11} and r["ours_1"] == {"wall": 11, "cpu": 11}
    assert r["tutorial"]["wall"] == 10 and r["tutorial_1"]["cpu"] == 6  # best by wall; best 1-thread by CPU
    assert r["tuned"]["wall"] == 20 and r["tuned_1"]["cpu"] == 12
    assert r["round_ratios"] == {"tutorial": [20 / 8, 16 / 10], "tuned": [20 / 19, 16 / 20]}
    assert r["round_ratios_1"] == {"tutorial": [10 / 6, 11 / 4], "tuned": [10 / 12, 11 / 9]}


def test_memory_format_benchmark_runs(capsys):
    import torch

    mf = load("memory_format")
    threads = torch.get_num_threads()
    try:
        assert mf.main(["--models", "lenet5", "--rounds", "1", "--reps", "1", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the other tests in this worker keep their setting
    out = capsys.readouterr().out
    assert "lenet5" in out and "128x1x32x32" in out


@pytest.fixture(scope="module")
def ps():
    return load("parity_speed")


def test_phase_clock_counts_each_second_once_in_the_innermost_phase(ps):
    import types

    now = [0.0]
    clock = ps.PhaseClock(clock=lambda: now[0])
    metrics = types.ModuleType("fake.metrics")
    checks = types.ModuleType("fake.checks")

    def errors():
        now[0] += 2.0

    def check_train():
        now[0] += 1.0
        metrics.errors()  # through the module attribute, as "from parity import metrics" code does
        checks.errors()  # through a copy of the name, as "from parity.metrics import errors" code does
        now[0] += 0.5

    errors.__module__, check_train.__module__ = "fake.metrics", "fake.checks"
    metrics.errors = errors
    checks.errors, checks.check_train = errors, check_train
    wrapped = ps.instrument(clock, {"fake.metrics": metrics, "fake.checks": checks})
    assert wrapped == ["fake.checks.check_train", "fake.metrics.errors"]
    now[0] += 3.0  # outside any phase
    checks.check_train()
    assert clock.close() == {"other": 3.0, "train": 1.5, "metrics": 4.0}


def test_speed_table_gives_best_rounds_and_same_round_ratios(ps):
    def result(train, total):
        return {"seconds": {"import": 5.0, "train": train, "total": total}, "cases": 4, "passed": 4}

    text = ps.table("lenet", {"this": [result(2.0, 10.0), result(3.0, 12.0)],
                              "ref": [result(6.0, 20.0), result(6.0, 30.0)]},
                    {"this": [4.0, 5.0], "ref": [8.0, 20.0]})
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}
    assert rows["train"] == ["2.0", "6.0", "3.00", "2.50"]  # best 6/2; median of 6/2 and 6/3
    assert rows["total"] == ["10.0", "20.0", "2.00", "2.25"]
    assert rows["other"] == ["3.0", "9.0", "3.00", "3.88"]  # total - import - train; median of 9/3 and 19/4
    assert rows["cli"] == ["wall", "4.0", "8.0", "2.00", "3.00"]
    assert "steps" not in rows  # a phase no tree spent time in is left out


def test_compare_speed_reads_the_verdict_seconds_and_peak_memory_of_one_process(tmp_path, capsys):
    cs = load("compare_speed")
    pair = tmp_path / "pair.py"
    pair.write_text("import paddle\nimport torch\n\n"
                    "def t():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))\n\n"
                    "def p():\n    return paddle.nn.Sequential(paddle.nn.Flatten(), paddle.nn.Linear(12, 3))\n")
    row = cs.run_pair("tiny", "float64", 1, (f"{pair}:t", f"{pair}:p"), (2, 3, 2, 2))
    assert row["exit"] == 0 and row["failed"] == [] and row["paired"] == "name", row
    assert 0 < row["compare_s"] < row["wall_s"] and row["peak_rss_gb"] > 0.1
    with pytest.raises(SystemExit):
        cs.main(["no_such_pair"])
    assert "unknown pair(s) ['no_such_pair']" in capsys.readouterr().err


def test_a_phases_child_makes_the_process_settings_of_its_own_trees_cli(ps, tmp_path, monkeypatch):
    # A tree with parity/hugepages.py runs its phases as its python -m parity would: the switches
    # set, and a restart asked for where glibc's tunable was added. A tree without it: nothing.
    restarts = []
    monkeypatch.setattr(ps.os, "execv", lambda exe, argv: restarts.append(argv))
    for key in ("GLIBC_TUNABLES", "THP_MEM_ALLOC_ENABLE", "ZOO_HUGEPAGES_RESTARTED", "ZOO_HUGEPAGES"):
        monkeypatch.setenv(key, "")  # so that monkeypatch restores whatever as_the_cli_runs sets
        monkeypatch.delenv(key)
    old_tree = tmp_path / "old"
    (old_tree / "parity").mkdir(parents=True)
    monkeypatch.setenv("PYTHONPATH", str(old_tree))
    ps.as_the_cli_runs()
    assert restarts == [] and "THP_MEM_ALLOC_ENABLE" not in ps.os.environ

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    ps.as_the_cli_runs()
    assert ps.os.environ["THP_MEM_ALLOC_ENABLE"] == "1"
    from parity import hugepages
    assert len(restarts) == (1 if hugepages.glibc_has_tunable() else 0)
