"""How long ``python -m parity compare`` takes on torchvision's models against paddle.vision's.

Each pair runs in its own process, one after the other, exactly as a user runs it:
``python -m parity compare torchvision.models:NAME paddle.vision.models:NAME --input-shape ...``
with every check (3 optimizer steps each). Per pair and dtype it prints the checks that
failed (the differences PORTING.md's "torchvision vs paddle.vision" table explains), the
seconds of the comparison itself (the report's ``seconds``: weights paired and copied, every
check), the process's wall time (imports and both builds included) and its peak RSS
(``wait4``'s ru_maxrss of that process alone).

    python benchmarks/compare_speed.py                 # every pair, float32 and float64
    python benchmarks/compare_speed.py vgg16 --dtype float32

Run it on an otherwise idle machine: the times are absolute, not ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (name, input shape): 64x64 unless the pair needs more (paddle.vision's AlexNet classifier is
# sized for 224; tests/test_real_pairs.py uses the same shapes).
PAIRS = {
    "alexnet": (2, 3, 224, 224), "vgg16": (2, 3, 64, 64), "googlenet": (2, 3, 64, 64),
    "inception_v3": (2, 3, 96, 96), "resnet18": (2, 3, 64, 64), "resnet50": (2, 3, 64, 64),
    "densenet121": (2, 3, 64, 64), "squeezenet1_0": (2, 3, 32, 32), "squeezenet1_1": (2, 3, 32, 32),
    "mobilenet_v2": (2, 3, 64, 64), "mobilenet_v3_small": (2, 3, 64, 64),
    "mobilenet_v3_large": (2, 3, 64, 64), "shufflenet_v2_x1_0": (2, 3, 64, 64),
}


def run_pair(name: str, dtype: str, steps: int, specs: tuple[str, str] | None = None,
             shape: tuple[int, ...] | None = None) -> dict:
    """One compare process: its verdict, the comparison's seconds, wall seconds and peak RSS.
    ``specs`` and ``shape`` default to the torchvision / paddle.vision pair ``name``."""
    torch_spec, paddle_spec = specs or (f"torchvision.models:{name}", f"paddle.vision.models:{name}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "parity", "compare", torch_spec, paddle_spec,
               "--input-shape", ",".join(map(str, shape or PAIRS[name])),
               "--dtype", dtype, "--steps", str(steps), "--json", str(out)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        text = proc.stdout.read() if proc.stdout is not None else ""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        row = {"pair": name, "dtype": dtype, "exit": proc.returncode, "wall_s": wall,
               "peak_rss_gb": usage.ru_maxrss / 2**20}
        if out.exists():
            doc = json.loads(out.read_text())
            report = doc["reports"][0]
            row["compare_s"] = report.get("seconds")
            row["failed"] = [c["name"] for c in report["checks"] if not c["passed"]]
            row["paired"] = (doc.get("key_map") or {}).get("how") or "refused"
        else:
            row["failed"], row["paired"], row["compare_s"] = ["(no report)"], "-", None
            row["output"] = text[-600:]
        return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pairs", nargs="*", help=f"pair names (default all: {', '.join(PAIRS)})")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--steps", type=int, default=3, help="optimizer steps per step check (compare's default 3)")
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)
    unknown = [n for n in args.pairs if n not in PAIRS]
    if unknown:
        p.error(f"unknown pair(s) {unknown}; known: {', '.join(PAIRS)}")
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    rows = []
    print("| pair | dtype | paired | failed checks | compare s | wall s | peak RSS GB |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: |")
    for name in args.pairs or list(PAIRS):
        for dtype in dtypes:
            row = run_pair(name, dtype, args.steps)
            rows.append(row)
            secs = "-" if row["compare_s"] is None else f"{row['compare_s']:.1f}"
            print(f"| {name} | {dtype} | {row['paired']} | {', '.join(row['failed']) or 'none'} | {secs} | "
                  f"{row['wall_s']:.1f} | {row['peak_rss_gb']:.2f} |", flush=True)
            if "output" in row:
                print(row["output"], file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
