"""Training throughput of LeNet-5 on MNIST-shaped data, per framework, three ways, in one run.

    python benchmarks/train_throughput.py [--epochs 2] [--repeats 5] [--batch-size 128]

Each framework runs in its own subprocess, so thread settings and paddle's
OMP_NUM_THREADS side effect stay apart. All loops use the same data (mnist5k's 4,000
training digits padded to 32x32, held in memory) and the same model (``lenet5``), and
report images/sec for:

- ours: the training loop of ``python -m <fw>_impl.train`` itself (its ``build_model``,
  ``Arrays``, ``make_optimizer`` and ``train_epoch``) with its defaults: Adam,
  ``--batch-size``, the memory layout the script picks, and the threads it picks
  (``--threads 0``); also timed at 1 thread and at every core.
- tutorial: a DataLoader over a TensorDataset, batch 32 (torch) or 64 (paddle), Adam,
  ``.item()`` every step; timed at 1 thread and at every core, and the better is kept (on
  a busy machine the tutorial's default of every core can be far slower).
- tuned: the fastest loop written by hand here: tensors in memory sliced by a
  permutation, the same batch size as ours, no host sync per step, fused Adam with and
  without channels_last (torch), multi-tensor Adam with or without ``paddle.jit.to_static``
  (paddle); the best over thread counts and variants is kept.

The machine may be shared, and its speed drifts over seconds. So the loops take turns:
each round times every loop once, and each figure is the best of ``--repeats`` rounds (the
least disturbed one), so a loop and its rivals are timed seconds apart, not minutes. Each
ratio is printed twice: of the best rounds, and as the median of the ratios within a
round, which a slow drift cannot bias.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
MODEL = "lenet5"


class NoBar:
    def update(self, n: int = 1) -> None:
        pass


@dataclass
class Loop:
    """One way of training: ``run_epoch(warmup)`` runs an epoch (a few steps when warming up)."""

    group: str  # ours, tutorial or tuned
    label: str  # threads and variant
    threads: int
    run_epoch: Callable[[bool], object]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    params: int = 0


def measure(loops: list[Loop], set_threads: Callable[[int], None], n: int, epochs: int, repeats: int) -> None:
    """Time ``epochs`` epochs of every loop, round after round, by the wall clock and per
    second of this process's CPU time.

    On a shared machine the wall clock mostly measures how often the process got a core;
    for a single-threaded loop the CPU time does not depend on that, so "cpu" is the fair
    comparison there. With several threads the CPU time also counts threads spinning at a
    barrier, so only the wall clock means anything.
    """
    for loop in loops:
        set_threads(loop.threads)
        loop.run_epoch(True)
    for r in range(repeats):
        k = r % len(loops)  # each round starts with another loop, so none is always timed right after a switch
        for loop in loops[k:] + loops[:k]:
            set_threads(loop.threads)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(epochs):
                loop.run_epoch(False)
            loop.wall.append(n * epochs / (time.perf_counter() - t0))
            loop.cpu.append(n * epochs / max(time.process_time() - c0, 1e-9))


def mnist_32():
    from zoo import data as zdata

    ds = zdata.load("mnist5k")
    return zdata.Resize(ds.size, (32, 32), ds.background)(ds.x_train), ds.y_train.copy()


def thread_counts() -> list[int]:
    from zoo.training import available_cores

    return sorted({1, available_cores()})


def threads_label(t: int) -> str:
    return f"{t} thread{'s' if t > 1 else ''}"


def ours_loops(fw: str, script, args, n: int, device, make_optimizer) -> tuple[list[Loop], int]:
    """The script's loop at each thread count, and the count the script itself would choose; and
    at that count, the script's streaming path (``--loader stream``: batches gathered and padded
    by a background thread) as the group "stream"."""
    from zoo import training

    def loop(group: str, t: int, loader: str) -> Loop:
        plan = training.make_plan(training.parse_args(fw, [MODEL, "--batch-size", str(args.batch_size),
                                                           "--loader", loader]))
        model = script.build_model(plan, device)
        optimizer = make_optimizer(plan, model)
        arrays = script.Arrays(plan, device)
        forward = script.training_forward(model, script.Dist())
        precision = script.make_precision(plan, device)
        epoch = [0]

        def run(warmup):
            epoch[0] += 1
            batches = training.batch_order(n, args.batch_size, 0, epoch[0])
            script.train_epoch(model, forward, optimizer, arrays, batches[:3] if warmup else batches,
                               script.Dist(), NoBar(), epoch[0], precision)

        loop = Loop(group, threads_label(t), t, run)
        loop.params = script.count_params(model)
        return loop

    loops = [loop("ours", t, "auto") for t in thread_counts()]
    plan = training.make_plan(training.parse_args(fw, [MODEL, "--batch-size", str(args.batch_size)]))
    chosen = training.choose_threads(plan, None, loops[0].params)
    loops.append(loop("stream", chosen, "stream"))
    return loops, chosen


def summarize(loops: list[Loop], chosen: int) -> dict:
    """ours at the script's thread choice; tutorial and tuned at their best (by the wall
    clock); each also at its best single-threaded variant (by CPU time); and the ratios of
    ours to those variants of the tutorial and tuned loops round by round."""
    def best(group: str, metric: str, one_thread: bool = False) -> Loop:
        pool = [lp for lp in loops if lp.group == group and (lp.threads == 1 or not one_thread)]
        return max(pool, key=lambda lp: max(getattr(lp, metric)))

    ours = next(lp for lp in loops if lp.group == "ours" and lp.threads == chosen)
    ours_1 = next(lp for lp in loops if lp.group == "ours" and lp.threads == 1)
    tutorial, tuned = best("tutorial", "wall"), best("tuned", "wall")
    tutorial_1, tuned_1 = best("tutorial", "cpu", True), best("tuned", "cpu", True)
    stream = next(lp for lp in loops if lp.group == "stream")
    out = {"ours_threads": chosen,
           "stream": {"wall": max(stream.wall), "cpu": max(stream.cpu),  # against ours, round by round
                      "round_ratios": [a / b for a, b in zip(stream.wall, ours.wall)]},
           "round_ratios": {"tutorial": [a / b for a, b in zip(ours.wall, tutorial.wall)],
                            "tuned": [a / b for a, b in zip(ours.wall, tuned.wall)]},
           "round_ratios_1": {"tutorial": [a / b for a, b in zip(ours_1.cpu, tutorial_1.cpu)],
                              "tuned": [a / b for a, b in zip(ours_1.cpu, tuned_1.cpu)]}}
    for name, loop, loop_1 in (("ours", ours, ours_1), ("tutorial", tutorial, tutorial_1), ("tuned", tuned, tuned_1)):
        out[name] = {"wall": max(loop.wall), "cpu": max(loop.cpu)}
        out[name + "_1"] = {"wall": max(loop_1.wall), "cpu": max(loop_1.cpu)}
        out[name + "_by"] = {lp.label: {"wall": max(lp.wall), "cpu": max(lp.cpu)} for lp in loops if lp.group == name}
    return out


# --- torch ---------------------------------------------------------------------------------------

def torch_worker(args) -> dict:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import torch_impl
    from torch_impl import train as script

    x, y = mnist_32()
    n = len(y)
    loops, chosen = ours_loops("torch", script, args, n, torch.device("cpu"), script.make_optimizer)

    def fresh(fused: bool):
        torch.manual_seed(0)
        model = torch_impl.build(MODEL, num_classes=10, in_channels=1)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)

    for t in thread_counts():
        model, optimizer = fresh(fused=False)
        criterion = torch.nn.CrossEntropyLoss()
        loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, shuffle=True)

        def tutorial_epoch(warmup, model=model, optimizer=optimizer, loader=loader, criterion=criterion):
            model.train()
            running = 0.0
            for i, (xb, yb) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(xb), yb)
                loss.backward()
                optimizer.step()
                running += loss.item()
                if warmup and i == 3:
                    break

        loops.append(Loop("tutorial", threads_label(t), t, tutorial_epoch))

        for layout in (torch.contiguous_format, torch.channels_last):
            model, optimizer = fresh(fused=True)
            model = model.to(memory_format=layout)
            X, Y = torch.from_numpy(x).contiguous(memory_format=layout), torch.from_numpy(y)

            def tuned_epoch(warmup, model=model, optimizer=optimizer, X=X, Y=Y):
                model.train()
                perm = torch.randperm(n)
                total = torch.zeros(())
                for i in range(0, 3 * args.batch_size if warmup else n, args.batch_size):
                    idx = perm[i:i + args.batch_size]
                    loss = torch.nn.functional.cross_entropy(model(X[idx]), Y[idx])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach()
                return float(total)

            variant = ", channels_last" if layout == torch.channels_last else ""
            loops.append(Loop("tuned", f"{threads_label(t)}, fused Adam{variant}", t, tuned_epoch))
    measure(loops, script.set_threads, n, args.epochs, args.repeats)
    return summarize(loops, chosen)


# --- paddle --------------------------------------------------------------------------------------

def paddle_worker(args) -> dict:
    import paddle
    from paddle.io import DataLoader, TensorDataset

    import paddle_impl
    from paddle_impl import train as script

    x, y = mnist_32()
    n = len(y)
    loops, chosen = ours_loops("paddle", script, args, n, "cpu",
                               lambda plan, model: script.make_optimizer(plan, model, script.make_scheduler(plan)))

    def fresh(multi_tensor: bool):
        paddle.seed(0)
        model = paddle_impl.build(MODEL, num_classes=10, in_channels=1)
        return model, paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.parameters(),
                                            use_multi_tensor=multi_tensor)

    for t in thread_counts():
        model, optimizer = fresh(multi_tensor=False)
        criterion = paddle.nn.CrossEntropyLoss()
        loader = DataLoader(TensorDataset([paddle.to_tensor(x), paddle.to_tensor(y)]), batch_size=64, shuffle=True)

        def tutorial_epoch(warmup, model=model, optimizer=optimizer, loader=loader, criterion=criterion):
            model.train()
            running = 0.0
            for i, (xb, yb) in enumerate(loader):
                loss = criterion(model(xb), yb)
                loss.backward()
                optimizer.step()
                optimizer.clear_grad()
                running += loss.item()
                if warmup and i == 3:
                    break

        loops.append(Loop("tutorial", threads_label(t), t, tutorial_epoch))

        for static in (False, True):
            model, optimizer = fresh(multi_tensor=True)
            net = paddle.jit.to_static(model, full_graph=True) if static else model
            X, Y = paddle.to_tensor(x), paddle.to_tensor(y)

            def tuned_epoch(warmup, net=net, optimizer=optimizer, X=X, Y=Y):
                net.train()
                perm = paddle.randperm(n)
                total = paddle.zeros([])
                for i in range(0, 3 * args.batch_size if warmup else n, args.batch_size):
                    idx = perm[i:i + args.batch_size]
                    loss = paddle.nn.functional.cross_entropy(net(paddle.index_select(X, idx)),
                                                              paddle.index_select(Y, idx))
                    loss.backward()
                    optimizer.step()
                    optimizer.clear_grad(set_to_zero=False)
                    total += loss.detach()
                return float(total)

            variant = ", to_static" if static else ""
            loops.append(Loop("tuned", f"{threads_label(t)}, multi-tensor Adam{variant}", t, tuned_epoch))
    measure(loops, script.set_threads, n, args.epochs, args.repeats)
    return summarize(loops, chosen)


# --- driver --------------------------------------------------------------------------------------

def table(results: dict, metric: str, pick, ratios: str) -> None:
    """Each loop's best round, and two ratios of ours to each rival: of the best rounds, and
    the median of the same-round ratios."""
    print(f"  {'framework':<10}{'ours':>9}{'tutorial':>10}{'tuned':>9}"
          f"{'ours/tutorial: best, median':>30}{'ours/tuned: best, median':>27}")
    for fw, r in results.items():
        ours, tut, tuned = (pick(r, k)[metric] for k in ("ours", "tutorial", "tuned"))
        med = {k: statistics.median(v) for k, v in r[ratios].items()}
        print(f"  {fw:<10}{ours:>9,.0f}{tut:>10,.0f}{tuned:>9,.0f}{ours / tut:>24.2f}{med['tutorial']:>6.2f}"
              f"{ours / tuned:>21.2f}{med['tuned']:>6.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2, help="epochs per timing")
    p.add_argument("--repeats", type=int, default=5, help="rounds; each loop's best round is kept")
    p.add_argument("--batch-size", type=int, default=None,
                   help="batch size of our loop and the tuned loop (default: the training scripts' default)")
    p.add_argument("--frameworks", default="torch,paddle")
    p.add_argument("--worker", choices=("torch", "paddle"), help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.batch_size is None:
        from zoo.training import DEFAULT_BATCH

        args.batch_size = DEFAULT_BATCH
    if args.worker:
        result = (torch_worker if args.worker == "torch" else paddle_worker)(args)
        print("RESULT " + json.dumps(result))
        return 0
    results = {}
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load_before = os.getloadavg()[0]
    for fw in args.frameworks.split(","):
        cmd = [sys.executable, __file__, "--worker", fw, "--epochs", str(args.epochs), "--repeats", str(args.repeats),
               "--batch-size", str(args.batch_size)]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return 1
        results[fw] = json.loads(line[-1][len("RESULT "):])
    load_after = os.getloadavg()[0]
    print(f"LeNet-5 ({MODEL}) training on 4,000 MNIST digits at 1x32x32, best of {args.repeats} rounds x "
          f"{args.epochs} epochs, batch {args.batch_size}; {os.cpu_count()} CPUs, load average {load_before:.1f} "
          f"before, {load_after:.1f} after")
    print("images/sec by the wall clock (ours: the script's defaults; tutorial and tuned: their best thread count)")
    table(results, "wall", lambda r, k: r[k], "round_ratios")
    print("images per CPU-second at 1 thread (independent of how busy the machine is)")
    table(results, "cpu", lambda r, k: r[k + "_1"], "round_ratios_1")
    for fw, r in results.items():
        fmt = lambda d: ", ".join(f"{k}: {v['wall']:,.0f} ({v['cpu']:,.0f}/cpu-s)" for k, v in d.items())  # noqa: E731
        print(f"  {fw} ours ({r['ours_threads']} thread(s) chosen): {fmt(r['ours_by'])}")
        print(f"  {fw} tutorial: {fmt(r['tutorial_by'])}")
        print(f"  {fw} tuned: {fmt(r['tuned_by'])}")
        for rival, values in r["round_ratios"].items():
            print(f"  {fw} ours/{rival} round by round: " + ", ".join(f"{v:.2f}" for v in values))
        st = r["stream"]
        print(f"  {fw} streaming path (--loader stream, {r['ours_threads']} thread(s)): {st['wall']:,.0f} images/sec, "
              f"{st['wall'] / r['ours']['wall']:.2f}x the in-memory path (best rounds), median of the round ratios "
              f"{statistics.median(st['round_ratios']):.2f}; round by round: "
              + ", ".join(f"{v:.2f}" for v in st["round_ratios"]))
    if args.json:
        from zoo.training import atomic_write

        text = json.dumps({"batch_size": args.batch_size, "load": [load_before, load_after], **results}, indent=2)
        atomic_write(Path(args.json), lambda tmp: Path(tmp).write_text(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
