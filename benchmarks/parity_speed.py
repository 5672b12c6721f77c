"""Where the time of ``python -m parity FAMILY`` goes, phase by phase, and the speed-up against a git ref.

    python benchmarks/parity_speed.py lenet squeezenet [--against REF] [--rounds 2] [--dims 2] [--no-onnx] [--coverage]

For each family, each round runs in fresh subprocesses:

- phases: the family's cases one after another in one process (``parity.harness.run_many``),
  with the harness's functions wrapped by timers, and reports the seconds spent in each
  phase: import (torch, paddle and the harness), build (both builders and the published
  counts), copy (structure and weight copies), eval+setup (what ``compare_modules`` does
  outside the checks below: casting, the eval forward, resets), randomize (redrawing constant
  tensors and calibrating BatchNorm statistics), train, steps, metrics
  (``parity.metrics``), onnx, rejudges (reference reruns and rejudging: kinks, twins),
  locate (first divergent layer) and other. Each second counts once, in the innermost
  phase running (metrics inside train counts as metrics);
- cli: ``python -m parity FAMILY --brief`` end to end, as a user runs it (with ``--jobs``
  where that tree has it: its default).

With ``--against REF`` the same is done in a temporary ``git worktree`` of REF, round by
round, taking turns with this tree (each round starts with the other one) as
``benchmarks/train_throughput.py`` does: the machine's speed drifts, and two runs seconds
apart see the same machine. The timers find functions by name in whatever modules the
tree has (``errors`` or the pre-split ``_errs``), so an older harness is measured the
same way. Ratios are REF's seconds over this tree's (above 1: this tree is faster), of
the best rounds and as the median of the same-round ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]

# phase -> function names (either layout of parity/) whose time counts for it
PHASES: dict[str, tuple[str, ...]] = {
    "build": ("build", "published_check"),
    "copy": ("check_structure", "_check_structure", "check_copy", "_check_copy", "copy_torch_to_paddle"),
    "eval+setup": ("compare_modules",),
    "randomize": ("randomize_degenerate", "calibrate_batchnorm"),
    "train": ("check_train", "_check_train"),
    "steps": ("check_steps", "_check_steps"),
    "metrics": ("errors", "_errs", "absmax", "_absmax", "norm", "_norm"),
    "onnx": ("check_onnx",),
    "rejudges": ("rejudge_with_aligned_kinks", "_rejudge_with_aligned_kinks", "rejudge_train", "_rejudge_train",
                 "torch_twin_steps", "_torch_twin_steps", "torch_shared_twin_steps", "_torch_shared_twin_steps"),
    "locate": ("locate_divergence", "locate_grad_divergence"),
}
ORDER = ("import", *PHASES, "other", "total")


class PhaseClock:
    """Exclusive time per phase: a call's seconds go to its phase minus the seconds of the
    timed calls inside it, which go to theirs."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = {}
        self._stack: list[str] = ["other"]
        self._since = clock()

    def _switch(self) -> None:
        now = self.clock()
        top = self._stack[-1]
        self.seconds[top] = self.seconds.get(top, 0.0) + now - self._since
        self._since = now

    def wrap(self, phase: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            self._switch()
            self._stack.append(phase)
            try:
                return fn(*args, **kwargs)
            finally:
                self._switch()
                self._stack.pop()

        timed.__wrapped__ = fn
        timed.__name__ = getattr(fn, "__name__", "timed")
        return timed

    def close(self) -> dict[str, float]:
        self._switch()
        return dict(self.seconds)


def instrument(clock: PhaseClock, modules: dict[str, object]) -> list[str]:
    """Wrap every function named in PHASES that ``modules`` define, and rebind each name that
    refers to it in any of ``modules`` (``from x import f`` makes such copies). Returns the
    wrapped functions as module.name."""
    wanted = {name: phase for phase, names in PHASES.items() for name in names}
    found = {}
    for mod_name, mod in modules.items():
        for name, obj in vars(mod).items():
            if name in wanted and callable(obj) and getattr(obj, "__module__", None) == mod_name:
                found[id(obj)] = (obj, clock.wrap(wanted[name], obj), f"{mod_name}.{name}")
    for mod in modules.values():
        for name, obj in list(vars(mod).items()):
            if id(obj) in found and found[id(obj)][0] is obj:
                setattr(mod, name, found[id(obj)][1])
    return sorted(label for _, _, label in found.values())


def as_the_cli_runs() -> None:
    """In a phases child: the process settings that the tree's own ``python -m parity`` makes
    before it runs anything, where the tree has them (``parity/hugepages.py``, since
    2026-12-04: huge pages, with one restart so that glibc reads its tunable). Each tree is
    then measured as its users run it; a tree without the file runs as it always did. The
    file is loaded on its own, not through the ``parity`` package, which imports paddle."""
    import importlib.util

    found = [Path(p) / "parity" / "hugepages.py" for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    found = [f for f in found if f.is_file()]
    if not found:
        return
    spec = importlib.util.spec_from_file_location("_tree_hugepages", found[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    again = module.restart_argv(module.enable())
    if again is not None:
        os.execv(again[0], again)


def phases_child(args: argparse.Namespace) -> dict:
    """Run in a subprocess whose sys.path starts at the tree being measured."""
    import importlib
    import pkgutil

    start = time.perf_counter()
    import parity
    import parity.harness as harness

    for info in pkgutil.iter_modules(parity.__path__):
        if not info.name.startswith(("cli_", "__")):
            importlib.import_module(f"parity.{info.name}")
    imported = time.perf_counter() - start
    modules = {n: m for n, m in list(sys.modules.items())
               if m is not None and n.split(".")[0] in ("parity", "torch_impl", "paddle_impl")}
    clock = PhaseClock()
    wrapped = instrument(clock, modules)
    names = harness.resolve([args.family])
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    t0 = time.perf_counter()
    reports = harness.run_many(names, args.dims, dtypes, onnx=not args.no_onnx, coverage=args.coverage)
    total = time.perf_counter() - t0
    seconds = clock.close()
    seconds["import"] = imported
    seconds["total"] = imported + total
    return {"seconds": seconds, "cases": len(reports), "passed": sum(r.ok for r in reports), "wrapped": wrapped}


def run_phases(tree: Path, family: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", family, "--dims", *map(str, args.dims),
           "--dtype", args.dtype] + (["--no-onnx"] if args.no_onnx else []) + (["--coverage"] if args.coverage else [])
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not line:
        raise RuntimeError(f"phases of {family} in {tree} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return json.loads(line[-1][len("RESULT "):])


def run_cli(tree: Path, family: str, args: argparse.Namespace) -> float:
    """Wall seconds of ``python -m parity FAMILY --brief`` in ``tree``, at that tree's own default threads."""
    cmd = [sys.executable, "-m", "parity", family, "--brief", "--dims", *map(str, args.dims)]
    cmd += ([] if args.dtype == "both" else ["--dtype", args.dtype]) + (["--no-onnx"] if args.no_onnx else [])
    cmd += [] if args.coverage else ["--parity-only"]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(tree)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} in {tree} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return seconds


def ratios(ref: list[float], this: list[float]) -> tuple[float, float]:
    """REF over this tree: of the best rounds, and the median of the same-round ratios."""
    best = min(ref) / min(this) if min(this) > 0 else float("nan")
    same = statistics.median(r / t for r, t in zip(ref, this) if t > 0) if any(t > 0 for t in this) else float("nan")
    return best, same


def table(family: str, results: dict[str, list[dict]], cli: dict[str, list[float]]) -> str:
    """The per-phase table of one family: this tree's best round, REF's, and the ratios."""
    trees = list(results)
    lines = [f"{family}: seconds per phase (best of {len(results[trees[0]])} rounds)"]
    head = f"  {'phase':<12}" + "".join(f"{t:>10}" for t in trees)
    if len(trees) == 2:
        head += f"{'ref/this':>10}{'median':>8}"
    lines.append(head)
    cases = results[trees[0]][0]["cases"]
    for phase in ORDER:
        per_tree = {t: [r["seconds"].get(phase, 0.0) if phase != "other" else other(r["seconds"]) for r in rounds]
                    for t, rounds in results.items()}
        if all(max(v) < 0.05 for v in per_tree.values()) and phase not in ("total", "import"):
            continue
        row = f"  {phase:<12}" + "".join(f"{min(v):>10.1f}" for v in per_tree.values())
        if len(trees) == 2:
            best, same = ratios(per_tree[trees[1]], per_tree[trees[0]])
            row += f"{best:>10.2f}{same:>8.2f}"
        lines.append(row)
    if cli:
        row = f"  {'cli wall':<12}" + "".join(f"{min(v):>10.1f}" for v in cli.values())
        if len(cli) == 2:
            best, same = ratios(cli[trees[1]], cli[trees[0]])
            row += f"{best:>10.2f}{same:>8.2f}"
        lines.append(row)
    lines.append(f"  ({cases} cases; passed: " + ", ".join(f"{t} {results[t][0]['passed']}" for t in trees) + ")")
    return "\n".join(lines)


def other(seconds: dict[str, float]) -> float:
    """The run's seconds in no timed phase (the harness's glue, the input, the report)."""
    named = sum(v for k, v in seconds.items() if k not in ("total", "other"))
    return max(0.0, seconds["total"] - named)


def add_worktree(ref: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="parity-speed-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder / "tree"), ref], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    return folder / "tree"


def remove_worktree(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    subprocess.run(["rm", "-rf", str(tree.parent)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("families", nargs="*", metavar="FAMILY", help="family names (or model names) to time")
    p.add_argument("--against", metavar="REF", help="a git ref of this repository to compare with")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--dims", type=int, nargs="+", choices=(1, 2), default=[1, 2])
    p.add_argument("--dtype", choices=("both", "float64", "float32"), default="both")
    p.add_argument("--no-onnx", action="store_true")
    p.add_argument("--no-cli", action="store_true", help="time only the phases, not the CLI end to end")
    p.add_argument("--coverage", action="store_true",
                   help="every case python -m parity runs (asym and real sizes, hot, stochastic, options); "
                        "without it the parity-size cases only, in the phases and the CLI alike")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                   help="threads of the phases run (default: what python -m parity used before --jobs)")
    p.add_argument("--child", metavar="FAMILY", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.family = args.child
        as_the_cli_runs()
        print("RESULT " + json.dumps(phases_child(args)))
        return 0
    if not args.families:
        p.error("name at least one FAMILY")
    trees = {"this": ROOT}
    if args.against:
        trees["ref"] = add_worktree(args.against)
    load_before = os.getloadavg()[0]
    try:
        for family in args.families:
            results: dict[str, list[dict]] = {t: [] for t in trees}
            cli: dict[str, list[float]] = {t: [] for t in trees} if not args.no_cli else {}
            for r in range(args.rounds):
                order = list(trees)[r % len(trees):] + list(trees)[:r % len(trees)]
                for t in order:
                    results[t].append(run_phases(trees[t], family, args))
                for t in order if cli else ():
                    cli[t].append(run_cli(trees[t], family, args))
            print(table(family, results, cli), flush=True)
    finally:
        if "ref" in trees:
            remove_worktree(trees["ref"])
    print(f"{os.cpu_count()} CPUs; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"phases at {args.threads} thread(s)" + (f"; ref = {args.against}" if args.against else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
