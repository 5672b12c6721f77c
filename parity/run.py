"""Running parity cases: in order or in worker processes, with live progress and Ctrl-C.

A case is one call of a per-case function (by default ``run_case``: one
``parity.harness.run_model`` call) on a ``Case``. ``run_cases`` runs a list of them:

- ``jobs=1`` runs them here, one after another; ``jobs=N`` runs them in N worker
  processes started with 'spawn' (torch and paddle do not survive a fork after import),
  each with ``threads`` threads, and streams each result as it finishes;
- cases whose estimated peak memory adds up to more than the machine can hold never run
  at the same time (``memory_weight``: a float64 VGG-19-BN parity case alone peaked at
  16 GB in 2026-11, 6.8 GB on 2026-12-06), and the heaviest start first;
- a listener (``Display`` for the CLI) hears when each case starts, which check it is in
  (``parity.progress``) and how it ended;
- Ctrl-C stops the run and returns what finished, marked ``interrupted``;
- a worker that keeps more than RETIRE_ABOVE_MB resident after a case is replaced by a
  fresh one, so that no case runs on top of what an earlier one left behind.

This module imports neither torch nor paddle: the CLI imports it before they load, and
so does every worker before it sets its thread count.
"""
from __future__ import annotations

import functools
import gc
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from parity import hugepages, peakmem, progress

# A case weighs its estimated peak memory as a fraction of what the workers may use together
# (memory_weight); cases that would add up to more than 1 never run at the same time.
MEMORY_BUDGET = 1.0
USABLE_MEMORY = 0.85  # of the machine's total
# The estimate: what importing both frameworks takes, plus bytes per published parameter by
# the checks a case runs and its dtype. Measured per case (parity/peakmem.py) on 2026-12-03,
# VGG-11 in 2D (133 M parameters): the parity case (every check: both frameworks' weights,
# gradients, Adam state, initial copies) 15.0 GB in float64 and 9.0-10.1 GB in float32
# (float64 references); asym and stochastic (train checks, no steps) 8.7-10.1 GB and 9.0 GB;
# real and hot (eval only) 7.0-8.2 GB and 6.2 GB. Each entry covers VGG-11 and VGG-11-BN.
# The train entries have headroom over those: in the full run of 2026-12-03 two float64
# VGG train cases shared the machine at the old 72 bytes and one was killed for memory.
BASE_GB = 0.8
BYTES_PER_PARAMETER = {("steps", "float64"): 115, ("steps", "float32"): 75, ("train", "float64"): 90,
                       ("train", "float32"): 70, ("eval", "float64"): 60, ("eval", "float32"): 45}
# How often the display redraws a running case's check and seconds.
TICK_S = 1.0
# A worker whose resident size, after a case and after handing freed memory back
# (hugepages.release), is this much above its size before its first case leaves, and a fresh
# one takes its place. In the full run of 2026-12-06 (at 876d8e6) one worker kept ~5.5 GB
# after its run of VGG float32 parity cases, and every later case on it (a LeNet's included)
# peaked at 7.5-9.9 GB, where they had peaked at 1.2-4.6 GB in the morning's run. One VGG-11
# float64 parity case alone left 1.3-1.8 GB resident after it in one process. What holds it
# (framework allocator pools, heap fragmentation) was not established; a fresh process holds
# none of it, and costs an interpreter start with both frameworks' imports (5-10 s).
RETIRE_ABOVE_MB = 1024
# The exit status of a run stopped by Ctrl-C, as a shell reports a death by SIGINT.
INTERRUPTED_EXIT = 128 + signal.SIGINT


@dataclass(frozen=True)
class Case:
    """One call of the per-case function: ``fn(case)`` returns a ``Report``.

    ``kwargs`` go to ``parity.harness.run_model`` beside name, dims and dtype; ``weight``
    is the case's share of ``MEMORY_BUDGET``."""

    name: str
    dims: int
    dtype: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    weight: float = 0.0

    @property
    def title(self) -> str:
        return self.label or f"{self.name} {self.dims}D {self.dtype}"


@dataclass
class Outcome:
    """How one case ended: its report, or the error it raised (``error`` is the traceback text)."""

    case: Case
    report: Any = None
    error: str | None = None
    error_type: str = ""
    message: str = ""
    seconds: float = 0.0


@dataclass
class RunResult:
    """The outcomes of the cases that finished, in the cases' order; ``interrupted`` after Ctrl-C;
    ``retired``: how many workers were replaced for the memory they kept (RETIRE_ABOVE_MB)."""

    outcomes: list[Outcome]
    total: int
    interrupted: bool = False
    retired: int = 0


def resolve(targets: Iterable[str]) -> list[str]:
    """Model names for CLI targets: a model name, a family name, or ``all`` (KeyError with suggestions)."""
    import zoo

    out: list[str] = []
    for target in targets:
        if target == "all":
            found = zoo.names()
        elif target in zoo.families():
            found = zoo.names(target)
        else:
            zoo.get(target)  # KeyError with suggestions
            found = [target]
        out.extend(n for n in found if n not in out)
    return out


def total_memory_gb() -> float:
    """The machine's memory in GiB (/proc/meminfo, else sysconf)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def memory_weight(name: str, dtype: str = "float64", kind: str = "parity", total_gb: float | None = None) -> float:
    """A case's share of MEMORY_BUDGET: its estimated peak (BASE_GB and BYTES_PER_PARAMETER) over
    USABLE_MEMORY of ``total_gb`` (this machine's by default). A heavy model without a published
    parameter count weighs 1, so it runs beside nothing; a light one without, 0."""
    import zoo
    from parity.cases import EVAL_ONLY

    info = zoo.get(name)
    counts = [p.count for p in info.published]
    if not counts:
        return 1.0 if info.heavy else 0.0
    checks = "steps" if kind == "parity" else "eval" if kind in EVAL_ONLY else "train"
    peak_gb = BASE_GB + BYTES_PER_PARAMETER[(checks, dtype)] * max(counts) / 2**30
    return peak_gb / (USABLE_MEMORY * (total_memory_gb() if total_gb is None else total_gb))


def default_cases(names: Iterable[str], dims: Iterable[int], dtypes: Sequence[str], *, onnx: bool = True,
                  coverage: bool = True, kinds: Iterable[str] | None = None, **kwargs: Any) -> list[Case]:
    """Every case of each name (parity/cases.py: the parity size in each dtype and, with
    ``coverage``, the sizes, hot activations, stochastic layers and options), or only those of
    ``kinds``; ONNX (always float32) once per model and dims, with the parity case.

    ``kwargs`` (batch, size, steps...) go to every case unchanged; ``size`` only to the
    parity cases, which are then the only ones."""
    from parity.cases import cases as model_cases

    dtypes = list(dtypes)
    coverage = coverage and kwargs.get("size") is None
    out = []
    total_gb = total_memory_gb()
    for name in names:
        for c in model_cases(name, dims, dtypes, coverage=coverage, kinds=kinds):
            weight = memory_weight(name, c.dtype, c.kind, total_gb)
            with_onnx = onnx and c.kind == "parity" and (c.dtype == "float32" or "float32" not in dtypes)
            extra = {"kind": c.kind, "options": dict(c.options) or None}
            if c.size is not None:
                extra["size"] = c.size
            label = "" if c.kind == "parity" else f"{name} {c.dims}D {c.dtype} {c.key}"
            out.append(Case(name, c.dims, c.dtype, {**kwargs, **extra, "onnx": with_onnx}, label=label,
                            weight=weight))
    return out


def run_case(case: Case):
    """The default per-case function: ``parity.harness.run_model`` on the case."""
    from parity.harness import run_model

    progress.phase("build")
    hugepages.release()  # what the previous case freed, before its peak is measured afresh
    # What survives the collection is mostly the process's for good: modules the previous case
    # imported lazily, 140,000 objects after the first. Freezing keeps later collections short;
    # the rest (the previous outcome, say) is still freed by reference counting, and only a
    # cycle made now and broken later would outlive its use.
    gc.freeze()
    measured = peakmem.reset_peak()
    report = run_model(case.name, case.dims, case.dtype, **case.kwargs)
    if measured:
        report.peak_rss_mb = peakmem.peak_mb()
    return report


def load_harness() -> None:
    """Import what ``run_case`` needs, so that a worker does it once before its first case
    (paddle takes seconds to import) and no case's time includes it.

    What the imports made is then frozen (``gc.freeze``): with torch and paddle loaded a full
    collection walks 250,000 objects, 0.1 to 0.17 s, and ``run_case`` collects before each case
    (42 in ``lenet``). The cycle collector skips frozen objects from then on; modules live
    as long as the process anyway."""
    import parity.harness  # noqa: F401

    gc.collect()
    gc.freeze()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_jobs(n_cases: int, cores: int | None = None) -> int:
    """Worker processes for ``n_cases`` cases: one per core, one thread each.

    Measured on the 2-core machine while other jobs kept its load average at 13-14 (one
    run each, README "Full parity runs"): ``python -m parity lenet`` took 191 s of wall
    time and 42 s of CPU with 2 workers x 1 thread, 404 s and 74 s in 1 process x 2
    threads; ``squeezenet`` 217 s and 44 s against 678 s and 122 s. These small tensors
    give a second thread little to do but wait at a barrier. A single case has nothing to
    share, so it runs here."""
    cores = usable_cores() if cores is None else cores
    return max(1, min(cores, n_cases))


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    cores = usable_cores() if cores is None else cores
    return max(1, cores // max(1, jobs))


class Listener:
    """What ``run_cases`` tells as it goes; the base class ignores everything."""

    def started(self, index: int, case: Case) -> None: ...

    def phase(self, index: int, name: str) -> None: ...

    def ended(self, index: int, outcome: Outcome) -> None: ...

    def tick(self) -> None: ...


def _outcome_of(case: Case, fn: Callable[[Case], Any], start: float) -> Outcome:
    try:
        report = fn(case)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return Outcome(case, error=traceback.format_exc(), error_type=type(exc).__name__, message=str(exc),
                       seconds=time.perf_counter() - start)
    return Outcome(case, report=report, seconds=time.perf_counter() - start)


def run_cases(cases: Sequence[Case], fn: Callable[[Case], Any] = run_case, *, jobs: int = 1,
              threads: int | None = None, listener: Listener | None = None,
              stop_on: Callable[[Outcome], bool] = lambda o: False,
              prepare: Callable[[], None] | None = load_harness,
              retire_above_mb: float | None = RETIRE_ABOVE_MB) -> RunResult:
    """Run ``fn`` on every case and return the outcomes in the cases' order.

    ``jobs > 1`` runs them in that many spawned workers with ``threads`` threads each
    (default: the cores shared out), each of which calls ``prepare`` first; ``fn`` and
    ``prepare`` must then be importable by name. A case for
    which ``stop_on`` is true stops the run: no further case starts and the running ones
    are ended. Ctrl-C does the same and marks the result ``interrupted``. A worker that keeps
    more than ``retire_above_mb`` resident after a case is replaced (None: never); cases run
    here (``jobs=1``) share this process whatever they keep."""
    listener = listener or Listener()
    retired = 0
    if jobs <= 1 or len(cases) <= 1:
        done, interrupted = _run_here(cases, fn, listener, stop_on, prepare)
    else:
        done, interrupted, retired = _run_workers(cases, fn, jobs, threads or threads_per_job(jobs), listener,
                                                  stop_on, prepare, retire_above_mb)
    return RunResult([done[i] for i in sorted(done)], len(cases), interrupted, retired)


class _Interrupts:
    """Ctrl-C while this process runs cases itself: raise KeyboardInterrupt as Python does, and
    also remember it. Native framework code that checks for signals can swallow the exception
    (on a loaded machine a SIGINT that arrived mid-case was lost, and the run went on to the
    end); the remembered one still stops the run at the next case boundary."""

    def __init__(self) -> None:
        self.seen = False
        self._installed = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self) -> "_Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            # None: the previous handler was not set from Python; the default stands in for it.
            signal.signal(signal.SIGINT, signal.default_int_handler if self._previous is None else self._previous)


def _run_here(cases, fn, listener: Listener, stop_on, prepare) -> tuple[dict[int, Outcome], bool]:
    done: dict[int, Outcome] = {}
    ticker = _Ticker(listener)
    try:
        with _Interrupts() as interrupts:
            if prepare is not None:
                prepare()
            for i, case in enumerate(cases):
                listener.started(i, case)
                with progress.listening(lambda name, i=i: listener.phase(i, name)):
                    done[i] = _outcome_of(case, fn, time.perf_counter())
                listener.ended(i, done[i])
                if interrupts.seen:
                    return done, True
                if stop_on(done[i]):
                    break
    except KeyboardInterrupt:
        return done, True
    finally:
        ticker.stop()
    return done, False


class _Ticker:
    """Calls ``listener.tick()`` every TICK_S from a thread, while this process runs a case itself."""

    def __init__(self, listener: Listener) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(listener,), daemon=True)
        self._thread.start()

    def _loop(self, listener: Listener) -> None:
        while not self._stop.wait(TICK_S):
            listener.tick()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _worker(tasks, conn, threads: int, prepare: Callable[[], None] | None,
            retire_above_mb: float | None = None) -> None:
    """A worker process: set the thread count before any framework loads, prepare, then run
    cases until None, telling the parent through its own pipe (a shared queue would hang
    every worker if one were killed while holding its lock). After a case that leaves it
    more than ``retire_above_mb`` above its size before the first, it says so and leaves."""
    # The parent handles Ctrl-C (a terminal sends it to the whole process group) and ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # torch and paddle both take their thread count from it when they load.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if prepare is not None:
        prepare()
    # paddle's import makes SIGTERM print a "FatalError" report; ending a worker is no error.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    baseline = peakmem.resident_mb()
    while (task := tasks.get()) is not None:
        index, case, fn = task
        conn.send(("started", index, None))
        with progress.listening(lambda name: conn.send(("phase", index, name))):
            outcome = _outcome_of(case, fn, time.perf_counter())
        retire = False
        if retire_above_mb is not None and baseline is not None:
            del task  # the case's arguments, before what it left is measured
            hugepages.release()
            kept = peakmem.resident_mb()
            # Said before the case's end: the parent gives an ended worker its next case at once.
            retire = kept is not None and kept - baseline > retire_above_mb
            if retire:
                conn.send(("retiring", index, kept - baseline))
        try:
            conn.send(("ended", index, outcome))
        except Exception as exc:  # an unpicklable report (pickling fails before anything is sent)
            conn.send(("ended", index, Outcome(case, error=f"cannot send the result: {exc}",
                                              error_type=type(exc).__name__, message=str(exc),
                                              seconds=outcome.seconds)))
        if retire:
            break
    leave()


def leave(code: int = 0) -> None:
    """End this process without the interpreter's teardown: with torch and paddle loaded it
    took 0.5 to 1 s, which the parent waited for at the end of every run. Everything this
    process had to tell was sent or printed already. The exit handlers are skipped too, so
    the one that matters is run here: the step checks' files (parity/trail.py)."""
    trail = sys.modules.get("parity.trail")
    if trail is not None:
        trail.remove_own()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@dataclass
class _Slot:
    process: Any
    tasks: Any
    conn: Any
    index: int | None = None  # the case it runs
    started: float = 0.0
    retiring: bool = False  # leaves after its case (RETIRE_ABOVE_MB)


def _start_worker(ctx, threads: int, prepare, retire_above_mb: float | None = None) -> _Slot:
    tasks = ctx.SimpleQueue()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(tasks, send, threads, prepare, retire_above_mb), daemon=True)
    proc.start()
    send.close()  # the worker's end; ours reads EOF if the worker dies
    return _Slot(proc, tasks, receive)


def _run_workers(cases, fn, jobs: int, threads: int, listener: Listener, stop_on, prepare,
                 retire_above_mb: float | None = None) -> tuple[dict[int, Outcome], bool, int]:
    ctx = mp.get_context("spawn")
    start = functools.partial(_start_worker, ctx, threads, prepare, retire_above_mb)
    slots = [start() for _ in range(min(jobs, len(cases)))]
    # Heaviest first (stable): the largest cases are also the longest, and started early they
    # overlap the many small ones; started last, a float64 VGG ran alone for minutes at the end.
    pending = sorted(range(len(cases)), key=lambda i: -cases[i].weight)
    done: dict[int, Outcome] = {}
    stopping = False
    retired = 0
    ticked = time.monotonic()
    try:
        while len(done) < len(cases):
            for k, slot in enumerate(slots):
                # Replaced only while there is work for it: a fresh worker imports both frameworks first.
                if slot.retiring and slot.index is None and pending and not stopping:
                    slot.process.join(10)  # it leaves right after its case's end
                    slot.conn.close()
                    slots[k] = start()
                    retired += 1
            if not stopping:
                _assign(cases, fn, slots, pending)
            busy = [s for s in slots if s.index is not None]
            if not busy:
                break  # stopped early
            ready = set(mp_connection.wait([s.conn for s in busy] + [s.process.sentinel for s in busy], TICK_S))
            for k, slot in enumerate(slots):
                if slot.index is None:
                    continue
                if slot.conn in ready or slot.process.sentinel in ready:
                    stopping = _receive(cases, slot, done, listener, stop_on) or stopping
                if slot.index is not None and slot.process.sentinel in ready:
                    stopping = _died(cases, slot, done, listener, stop_on) or stopping
                    slot.conn.close()
                    slots[k] = start()
            if time.monotonic() - ticked >= TICK_S:
                ticked = time.monotonic()
                listener.tick()
        return done, False, retired
    except KeyboardInterrupt:
        return done, True, retired
    finally:
        _close(slots)


def _receive(cases, slot: _Slot, done, listener: Listener, stop_on) -> bool:
    """Pass on what the worker has sent; True if a case that ended stops the run."""
    stop = False
    try:
        while slot.index is not None and slot.conn.poll():
            kind, index, payload = slot.conn.recv()
            if kind == "started":
                slot.started = time.perf_counter()
                listener.started(index, cases[index])
            elif kind == "retiring":
                slot.retiring = True
            elif kind == "phase":
                listener.phase(index, payload)
            else:
                stop = _finish(slot, payload, done, listener, stop_on) or stop
    except (EOFError, OSError):
        pass  # the worker died; the caller sees its sentinel
    return stop


def _died(cases, slot: _Slot, done, listener: Listener, stop_on) -> bool:
    """A worker killed from outside (the kernel's out-of-memory killer) sends no result: its
    case fails with the exit code."""
    slot.process.join(5)  # the sentinel is ready before the exit code is collected
    code = slot.process.exitcode
    outcome = Outcome(cases[slot.index], error=f"the worker running it exited with code {code}",
                      error_type="WorkerDied", message=f"exit code {code}", seconds=time.perf_counter() - slot.started)
    return _finish(slot, outcome, done, listener, stop_on)


def _assign(cases, fn, slots: list[_Slot], pending: list[int]) -> None:
    """Give each idle worker the first pending case that fits the memory budget beside the running ones."""
    for slot in slots:
        if slot.index is not None:
            continue
        load = sum(cases[s.index].weight for s in slots if s.index is not None)
        pick = next((i for i in pending if load + cases[i].weight <= MEMORY_BUDGET or load == 0), None)
        if pick is None:
            return
        pending.remove(pick)
        slot.index, slot.started = pick, time.perf_counter()
        slot.tasks.put((pick, cases[pick], fn))


def _finish(slot: _Slot, outcome: Outcome, done: dict[int, Outcome], listener: Listener, stop_on) -> bool:
    index, slot.index = slot.index, None
    done[index] = outcome
    listener.ended(index, outcome)
    return bool(stop_on(outcome))


def _close(slots: list[_Slot]) -> None:
    """Idle workers leave on None; busy ones (after Ctrl-C or a stop) are ended."""
    for slot in slots:
        if slot.retiring and slot.index is None:
            pass  # leaving by itself
        elif slot.index is None and slot.process.is_alive():
            try:
                slot.tasks.put(None)
            except (OSError, ValueError):
                pass
        else:
            slot.process.terminate()
    deadline = time.monotonic() + 10
    for slot in slots:
        slot.process.join(max(0.0, deadline - time.monotonic()))
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()
