"""What ``python -m torch_impl.train`` and ``python -m paddle_impl.train`` share, framework-free.

The two scripts differ only where the frameworks do (tensors, optimizers, checkpoint
files). Everything a user sees or a run depends on is decided here, once: the flags,
the data plan (dataset, dims, input size and resizing), the batch order, the seeds, the
printed lines, ``metrics.csv``/``steps.csv``, the plot, checkpoint metadata and its
checks, atomic writes, and the CLI's error handling. So the two scripts take the same
flags, print the same lines and see the same batches by construction.

stdlib and numpy only at import; tqdm and matplotlib are imported where they are used.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from zoo import augment, data, devices, files, messages, models, stream

CHECKPOINT_FORMAT = "cnn-zoo-train/1"
STATE_KEYS = ("model_state", "optimizer_state", "scheduler_state", "scaler_state")
CHECKPOINT_SUFFIX = {"torch": ".pt", "paddle": ".pdparams"}
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULERS = ("none", "step", "cosine")
# Chosen so that the default run (lenet5_original, mnist5k, 10 epochs, batch 128) clears 95%
# with a margin: Adam 2e-3 gave 96.0-96.4% over seeds where 1e-3 at batch 64 gave 95.5%.
DEFAULT_LR = {"sgd": 0.05, "momentum": 0.02, "adam": 2e-3, "adamw": 2e-3}
DEFAULT_BATCH = 128
DEFAULT_WEIGHT_DECAY = {"sgd": 0.0, "momentum": 0.0, "adam": 0.0, "adamw": 0.01}  # adamw: both frameworks' default
MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
STEP_GAMMA = 0.1  # --scheduler step: the rate drops tenfold after each third of the epochs
AUX_WEIGHT = 0.3  # weight of auxiliary classifier losses (GoogLeNet-style outputs), as in the GoogLeNet paper
PLOT_EVERY_SECONDS = 60.0
# Train-mode BatchNorm needs two values per channel: torch refuses one, and paddle_impl's
# BatchNorm refuses it the same way. A batch of 1 reaching a 1x1 feature map is one value.
MIN_BATCH = 2
# Inputs resized up front when train + test fit in this many bytes; otherwise batch by batch.
RESIZE_UPFRONT_BYTES = 1 << 30
LOADERS = ("auto", "memory", "stream")
# Settings a checkpoint made before they existed was trained with.
SETTING_DEFAULTS = {"augment": "none", "amp": "none", "sync_bn": False}

SIZE_RULE = """\
input size: a network whose classifier is sized for one input gets exactly that
(LeNet-5 32x32, lenet5_d2l 28x28; 1D: the same length). Any other network trains at
--size if given, else at the data's own size raised to the smallest input the
architecture allows (as d2l trains AlexNet/VGG on Fashion-MNIST below 224; pass
--size 224 for the paper's size). A target at most 4 pixels larger than the data is
reached by centred padding with the blank value (LeCun et al. put the 28x28 digits in a
32x32 field); anything else by linear interpolation, antialiased when shrinking.
Resized data is held in memory when it fits in 1 GiB, else resized batch by batch."""


class UsageError(ValueError):
    """Flags that do not fit together (or do not fit the data)."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or for another model or run."""


# --- flags ---------------------------------------------------------------------------------

def build_parser(framework: str) -> argparse.ArgumentParser:
    other = "paddle" if framework == "torch" else "torch"
    p = argparse.ArgumentParser(
        prog=f"python -m {framework}_impl.train",
        description=f"Train a model of the zoo with {framework}. python -m {other}_impl.train takes the same flags, "
                    "sees the same batches and prints the same lines.",
        epilog=SIZE_RULE + "\n\ndatasets:\n"
        + "\n".join(f"  {d.name:<14}{d.description}" for d in data.DATASETS.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a registered model name, e.g. lenet5_original, lenet5, lenet_bn")
    p.add_argument("--dataset", default=None,
                   help=f"one of {', '.join(data.DATASETS)} (default: {data.DEFAULT[2]} for --dims 2, "
                        f"{data.DEFAULT[1]} for --dims 1)")
    p.add_argument("--data-dir", default=None, help="folder holding the dataset files (mnist, fashion-mnist, cifar10); "
                   "when given, the only place looked at")
    p.add_argument("--epochs", type=int, default=10, help="total epochs (0 saves the initial weights and stops)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="global batch size (split across processes)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                   help=f"momentum is SGD with momentum {MOMENTUM} (paddle: Momentum)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    p.add_argument("--weight-decay", type=float, default=None,
                   help="L2 added to the gradient (sgd, momentum, adam); decoupled for adamw (default 0; adamw 0.01)")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="none",
                   help="per-epoch learning-rate schedule: step (x0.1 after each third) or cosine (to 0)")
    p.add_argument("--seed", type=int, default=0, help="initial weights, batch order and dropout")
    p.add_argument("--dims", type=int, choices=(1, 2), default=None, help="2: Conv2d on images, 1: Conv1d on series "
                   "(default: the dataset's)")
    p.add_argument("--size", type=int, default=None, help="input side/length for networks that accept several")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--out", default=None, help="output folder (default runs/MODEL-DATASET-FRAMEWORK)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--init-from", default=None, metavar="CKPT",
                   help="initial weights from a checkpoint of either framework (converted on load), or a plain "
                        "state dict (.pt/.pth or .pdparams)")
    p.add_argument("--eval-only", action="store_true", help="only evaluate the --init-from (or --resume) weights")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use only N training and N test examples")
    p.add_argument("--stop-after", type=int, default=None, metavar="E",
                   help="end this invocation after epoch E, as an interruption would (continue with --resume)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads (0: by model size and machine load; a resumed run keeps its own)")
    p.add_argument("--device", default="auto",
                   help="auto (a GPU when the framework sees one, else cpu), cpu, gpu[:N] or cuda[:N] (both scripts "
                        "take both spellings); under torchrun or paddle's launcher each process takes the GPU of its "
                        "local rank")
    p.add_argument("--augment", choices=augment.LEVELS, default=None,
                   help="training augmentation in numpy, identical in both frameworks: light (random crop with "
                        "padding, flip), standard (random resized crop, flip); default: light for cifar10/cifar100 "
                        "and folders of small images, standard for folders of images of 64 px or more, else none")
    p.add_argument("--loader", choices=LOADERS, default="auto",
                   help="memory: hold the data in memory; stream: make batches in background threads (a folder is "
                        "read from disk batch by batch); auto: stream a folder larger than 1 GiB decoded, "
                        "and augmented or oversized data")
    p.add_argument("--sync-bn", action="store_true",
                   help="BatchNorm statistics over the global batch of all processes (SyncBatchNorm)")
    p.add_argument("--amp", choices=devices.AMP, default="none",
                   help="mixed precision: bf16 (CPU and GPU; paddle: GPU only) or fp16 (GPU, with loss scaling)")
    return p


def parse_args(framework: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser(framework)
    args = parser.parse_args(argv)
    for flag, value, low in (("--epochs", args.epochs, 0), ("--batch-size", args.batch_size, MIN_BATCH),
                             ("--threads", args.threads, 0), ("--limit", args.limit, 1),
                             ("--stop-after", args.stop_after, 1), ("--size", args.size, 1)):
        if value is not None and value < low:
            parser.error(f"{flag} must be at least {low}, got {value}")
    if args.lr is not None and not args.lr > 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if args.weight_decay is not None and args.weight_decay < 0:
        parser.error(f"--weight-decay must be >= 0, got {args.weight_decay}")
    if args.resume and args.init_from:
        parser.error("--resume continues a run with its own weights; it does not take --init-from")
    if args.eval_only and not (args.init_from or args.resume):
        parser.error("--eval-only needs weights: --init-from CKPT or --resume")
    if args.amp != "none" and args.dtype == "float64":
        parser.error(f"--amp {args.amp} mixes float32 with a lower precision; it does not apply to --dtype float64")
    args.framework = framework
    args.lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    args.weight_decay = DEFAULT_WEIGHT_DECAY[args.optimizer] if args.weight_decay is None else args.weight_decay
    return args


# --- the data plan ------------------------------------------------------------------------

@dataclass
class Plan:
    """A run resolved before any framework object exists: model, data, sizes, files."""

    args: argparse.Namespace
    info: models.ModelInfo
    dataset: data.Dataset
    dims: int
    size: int
    model_kwargs: dict[str, Any]
    resize: data.Resize
    out: Path
    threads: int = 0  # decided once the model exists (choose_threads)

    @property
    def framework(self) -> str:
        return self.args.framework

    @property
    def checkpoint(self) -> Path:
        return self.out / f"checkpoint{CHECKPOINT_SUFFIX[self.framework]}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.dataset.channels, *self.resize.target)

    @property
    def resize_upfront(self) -> bool:
        n = len(self.dataset.y_train) + len(self.dataset.y_test)
        itemsize = 8 if self.args.dtype == "float64" else 4
        return self.resize.nbytes(n, self.dataset.channels, itemsize) <= RESIZE_UPFRONT_BYTES

    @property
    def augment_level(self) -> str:
        return self.args.augment or augment.default_level(self.dataset.name, self.dataset.size)

    @property
    def augmentation(self) -> augment.Augment | None:
        return augment.Augment.for_run(self.augment_level, self.dataset.name, self.dims, self.dataset.background)

    def loader(self) -> stream.Loader:
        """The run's data: resized up front when it fits (then ``in_memory`` unless augmented),
        else resized batch by batch in the background, as is a folder read from disk."""
        ds, dtype = self.dataset, np.dtype(self.args.dtype)
        y_train, y_test = ds.y_train.copy(), ds.y_test.copy()
        aug = self.augmentation
        if self.args.loader != "stream" and not ds.streamed and self.resize_upfront:
            x_train, x_test = self.resize(ds.x_train).astype(dtype), self.resize(ds.x_test).astype(dtype)
            return stream.Loader(x_train, y_train, x_test, y_test, None, aug, self.args.seed, from_disk=False)
        return stream.Loader(ds.x_train, y_train, ds.x_test, y_test, lambda x: self.resize(x).astype(dtype), aug,
                             self.args.seed, from_disk=ds.streamed)

    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues."""
        a = self.args
        return dict(dataset=self.dataset.name, dims=self.dims, size=self.size, dtype=a.dtype, batch_size=a.batch_size,
                    optimizer=a.optimizer, lr=a.lr, weight_decay=a.weight_decay, scheduler=a.scheduler, seed=a.seed,
                    limit=a.limit, epochs=a.epochs, augment=self.augment_level, amp=a.amp, sync_bn=a.sync_bn)


def resolve_dataset(args: argparse.Namespace) -> tuple[data.DatasetInfo, int]:
    """The dataset entry and dims, with a clear error when they do not fit each other."""
    if args.dataset is None:
        entry = data.info(data.DEFAULT[args.dims or 2])
    else:
        entry = data.info(args.dataset)
    dims = args.dims or entry.dims
    if dims != entry.dims:
        kind = {1: "1D series [N, C, L]", 2: "2D images [N, C, H, W]"}
        fits = ", ".join(d.name for d in data.DATASETS.values() if d.dims == dims)
        raise UsageError(f"--dims {dims} builds the Conv{dims}d model, but --dataset {entry.name} holds "
                         f"{kind[entry.dims]}; use a {dims}D dataset ({fits}) or --dims {entry.dims}")
    return entry, dims


def make_plan(args: argparse.Namespace) -> Plan:
    """Resolve ``args`` into a Plan: the model entry, the loaded (and limited) data, dims and input size."""
    try:
        info = models.get(args.model)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    entry, dims = resolve_dataset(args)
    folder = output_folder(args, info, entry)
    if not args.eval_only:  # before the data is read or a model built: a bad --out costs nothing
        files.check_writable(folder, folder=True)
        files.remove_stale_temps(folder)
    ds = data.load(entry.name, args.data_dir, stream={"auto": None, "memory": False, "stream": True}[args.loader])
    ds = ds.limit(args.limit)
    native = min(ds.size)
    size = data.input_size(model_size=info.default_size(dims), min_size=info.min_size, fixed=info.fixed_size,
                           data_size=native, requested=args.size, model=info.name)
    kwargs = info.build_kwargs(dims, size, num_classes=ds.num_classes, in_channels=ds.channels)
    resize = data.Resize(ds.size, (size,) * dims, ds.background)
    return Plan(args, info, ds, dims, size, kwargs, resize, folder)


def output_folder(args: argparse.Namespace, info: models.ModelInfo, entry: data.DatasetInfo) -> Path:
    """--out, else runs/MODEL-DATASET-FRAMEWORK."""
    return Path(args.out or f"runs/{info.name}-{entry.name}-{args.framework}")


# --- batches, seeds, threads ----------------------------------------------------------------

def eval_batch(plan: Plan) -> int:
    """Test batches twice the training batch: without stored activations they fit in its memory."""
    return 2 * plan.args.batch_size


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The global batches of one epoch: a seeded permutation cut into slices (the last may be short).

    Both frameworks, and every process of a distributed run, compute the same list.
    """
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def usable_batches(n: int, batch_size: int, seed: int, epoch: int, world: int = 1) -> list[np.ndarray]:
    """``batch_order`` with a last batch of fewer than MIN_BATCH examples per process merged into
    the batch before it, so that every training batch fits train-mode BatchNorm in both frameworks
    (``batch_note`` says so once a run). A UsageError when ``n`` itself is too few."""
    least = MIN_BATCH * world
    if batch_size < least:
        raise UsageError(f"--batch-size {batch_size} over {world} processes leaves fewer than {MIN_BATCH} examples "
                         f"per process; train-mode BatchNorm needs {MIN_BATCH}: use --batch-size {least} or more")
    if n < least:
        per = f" ({MIN_BATCH} for each of {world} processes)" if world > 1 else ""
        raise UsageError(f"{n} training example{'s' if n != 1 else ''} cannot make a training batch: train-mode "
                         f"BatchNorm needs at least {least} per batch{per}; use --limit {least} or more")
    batches = batch_order(n, batch_size, seed, epoch)
    if len(batches) > 1 and len(batches[-1]) < least:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def batch_note(n: int, batch_size: int, world: int = 1) -> str | None:
    """The line both scripts print when ``usable_batches`` merges each epoch's last batch."""
    rest = n % batch_size
    if n <= batch_size or not 0 < rest < MIN_BATCH * world:
        return None
    return (f"note: each epoch's last batch would hold {rest} example{'s' if rest != 1 else ''}, too few for "
            f"train-mode BatchNorm ({MIN_BATCH * world} or more); it is merged into the batch before it "
            f"({batch_size + rest} examples)")


def step_size(epochs: int) -> int:
    """Epochs between the drops of ``--scheduler step``: a third of the run."""
    return max(1, math.ceil(epochs / 3))


def shard(batch: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This process's contiguous part of a global batch (sizes differ by at most one)."""
    return np.array_split(batch, world)[rank]


def epoch_seed(seed: int, epoch: int) -> int:
    """The framework RNG seed for one epoch (dropout masks): fixed per epoch, so a resumed run
    draws what an uninterrupted one would, with no generator state in the checkpoint."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_threads(framework: str, params: int) -> int:
    """Threads for ``--threads 0``, from measurements on a 2-core CPU (docs/TRAINING.md).

    - Each of the processes a launcher started on this machine gets its share of the cores.
    - A machine already busier than it has cores gets one thread: OpenMP threads that
      wait for a descheduled sibling made LeNet 8x slower with 2 threads than with 1.
    - paddle: one thread for LeNet-sized nets, whose kernels are too small to split.
    - Otherwise every core (of this process's share).
    """
    cores = max(1, available_cores() // devices.local_world_size())
    if cores > 1 and os.getloadavg()[0] >= cores:
        return 1
    if framework == "paddle" and params < SMALL_MODEL_PARAMS:
        return 1
    return cores


SMALL_MODEL_PARAMS = 1_000_000


def choose_threads(plan: Plan, meta: dict[str, Any] | None, params: int) -> int:
    """--threads, else the resumed run's own count (thread counts change float summation
    order, so a resumed run keeps its threads to stay bit-identical), else ``auto_threads``."""
    if plan.args.threads:
        return plan.args.threads
    if meta is not None and meta.get("threads"):
        return int(meta["threads"])
    return auto_threads(plan.framework, params)


def progress_so_far(meta: dict[str, Any] | None) -> tuple[int, "RunLog"]:
    """(finished epochs, log) of a resumed run's checkpoint metadata; (0, empty) for a new run."""
    if meta is None:
        return 0, RunLog()
    return int(meta["epoch"]), RunLog.from_dict(meta["log"])


# --- what a run prints and writes ---------------------------------------------------------------

def header_line(plan: Plan, params: int, world: int = 1) -> str:
    a, ds = plan.args, plan.dataset
    shape = "x".join(map(str, plan.input_shape))
    procs = f", {world} processes" if world > 1 else ""
    procs += ", sync-bn" if a.sync_bn else ""
    amp = f" amp {a.amp}" if a.amp != "none" else ""
    aug = plan.augmentation
    extra = (f", {aug.describe()}" if aug else "") + (", read from disk" if ds.streamed else "")
    line = (f"{plan.framework}: {plan.info.name} dims={plan.dims} {a.dtype}{amp}, {params:,} parameters | "
            f"{ds.name}: {len(ds.y_train):,} train / {len(ds.y_test):,} test, input {shape} ({plan.resize.rule})"
            f"{extra} | "
            f"{a.optimizer} lr {a.lr:g} wd {a.weight_decay:g} scheduler {a.scheduler}, batch {a.batch_size} | "
            f"{plan.threads} thread{'s' if plan.threads != 1 else ''}{procs}")
    note = None if a.eval_only else batch_note(len(ds.y_train), a.batch_size, world)
    return line if note is None else f"{line}\n{note}"


@dataclass
class EpochStats:
    """One row of metrics.csv."""

    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    examples_per_sec: float
    lr: float
    seconds: float

    def line(self, epochs: int) -> str:
        width = len(str(epochs))
        return (f"epoch {self.epoch:>{width}}/{epochs}  train loss {self.train_loss:.4f}  "
                f"train acc {self.train_acc:7.2%}  test acc {self.test_acc:7.2%}  "
                f"{self.examples_per_sec:8,.0f} ex/s  lr {self.lr:.3g}")


def epoch_stats(epoch: int, batches: list[np.ndarray], step_losses: np.ndarray, correct: int, test_acc: float,
                lr: float, seconds: float) -> EpochStats:
    sizes = np.array([len(b) for b in batches], dtype=np.float64)
    seen = max(sizes.sum(), 1.0)
    return EpochStats(int(epoch), float(step_losses @ sizes / seen), float(correct / seen), float(test_acc),
                      float(seen / max(seconds, 1e-9)), float(lr), float(seconds))


def eval_line(plan: Plan, acc: float) -> str:
    return f"eval: test acc {acc:.2%} on {len(plan.dataset.y_test):,} {plan.dataset.name} test examples"


def final_line(plan: Plan, log: RunLog, epoch: int) -> str:
    if not log.epochs:
        return f"saved the initial weights to {plan.checkpoint}"
    last = log.epochs[-1]
    took = sum(e.seconds for e in log.epochs)
    return (f"done: test acc {last.test_acc:.2%} after epoch {epoch}/{plan.args.epochs} ({took:.1f} s training); "
            f"{plan.out}/metrics.csv, steps.csv, curves.png, {plan.checkpoint.name}")


def plot_title(plan: Plan) -> str:
    return f"{plan.info.name} on {plan.dataset.name} ({plan.framework}, {plan.args.dtype}, dims={plan.dims})"


@dataclass
class RunLog:
    """Per-epoch rows and per-step losses of a run, kept across --resume in the checkpoint."""

    epochs: list[EpochStats] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    _plotted: float = field(default_factory=time.monotonic, repr=False, compare=False)

    def add(self, stats: EpochStats, step_losses: np.ndarray) -> None:
        self.epochs.append(stats)
        self.steps.extend(float(v) for v in step_losses)

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": [vars(e) for e in self.epochs], "steps": list(map(float, self.steps))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunLog":
        return cls([EpochStats(**e) for e in d.get("epochs", [])], [float(s) for s in d.get("steps", [])])

    def write(self, out: Path, title: str, last: bool) -> None:
        """metrics.csv and steps.csv every epoch; curves.png after the last epoch of this
        invocation, or when the previous plot is a minute old (matplotlib costs ~0.5 s)."""
        cols = list(EpochStats.__dataclass_fields__)
        atomic_write(out / "metrics.csv", lambda tmp: _write_csv(tmp, cols, [vars(e) for e in self.epochs]))
        atomic_write(out / "steps.csv", lambda tmp: _write_csv(
            tmp, ["step", "train_loss"], [{"step": i + 1, "train_loss": repr(v)} for i, v in enumerate(self.steps)]))
        if self.epochs and (last or time.monotonic() - self._plotted > PLOT_EVERY_SECONDS):
            atomic_write(out / "curves.png", lambda tmp: plot_curves(self, tmp, title))
            self._plotted = time.monotonic()


def _write_csv(path: Path, cols: list[str], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)


def plot_curves(log: RunLog, path: Path, title: str) -> None:
    """Loss and accuracy curves per epoch as a PNG (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=100)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ep = [e.epoch for e in log.epochs]
    if log.steps:
        per_epoch = len(log.steps) / max(len(ep), 1)
        ax_loss.plot(np.arange(1, len(log.steps) + 1) / per_epoch, log.steps, lw=0.5, alpha=0.4, label="train (step)")
    ax_loss.plot(ep, [e.train_loss for e in log.epochs], "o-", label="train (epoch mean)")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(ep, [100 * e.train_acc for e in log.epochs], "o-", label="train")
    ax_acc.plot(ep, [100 * e.test_acc for e in log.epochs], "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png")


def progress(total: int, desc: str, enabled: bool = True) -> Any:
    """A tqdm bar for one epoch; silent when stderr is not a TTY (and on ranks other than 0)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True,
                disable=None if enabled else True)


# --- checkpoints ----------------------------------------------------------------------------------

# Atomic writes, the temp-file naming and its clean-up live in zoo/files.py, shared with parity.
atomic_write = files.atomic_write


def checkpoint_meta(plan: Plan, epoch: int, log: RunLog) -> dict[str, Any]:
    """The framework-free part of a checkpoint (model and optimizer state are added by the script)."""
    return {"format": CHECKPOINT_FORMAT, "framework": plan.framework, "model": plan.info.name,
            "model_kwargs": dict(plan.model_kwargs), "epoch": epoch, "settings": plan.settings(),
            "threads": plan.threads, "log": log.to_dict()}


def checkpoint_framework(path: Path) -> str:
    """'torch' or 'paddle': by suffix, else by content (torch.save writes a zip archive)."""
    if path.suffix in (".pt", ".pth"):
        return "torch"
    if path.suffix in (".pdparams", ".pdopt"):
        return "paddle"
    return "torch" if zipfile.is_zipfile(path) else "paddle"


def find_checkpoint(path: str | os.PathLike, framework: str | None = None) -> Path:
    """A checkpoint file; a folder means the checkpoint inside it (this framework's first)."""
    p = Path(path).expanduser()
    if p.is_dir():
        order = [framework] if framework else []
        order += [f for f in CHECKPOINT_SUFFIX if f not in order]
        for f in order:
            candidate = p / f"checkpoint{CHECKPOINT_SUFFIX[f]}"
            if candidate.is_file():
                return candidate
        raise CheckpointError(f"{p} holds no checkpoint.pt or checkpoint.pdparams")
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist")
    return p


def split_checkpoint(obj: Any, path: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(metadata or None, model state) of a loaded checkpoint; a plain state dict has no metadata."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint or state dict")
    if obj.get("format") == CHECKPOINT_FORMAT:
        return {k: v for k, v in obj.items() if k not in STATE_KEYS}, \
            obj["model_state"]
    if "model_state" in obj or "format" in obj:
        raise CheckpointError(f"{path} is a checkpoint of another format ({obj.get('format')!r})")
    return None, obj


def check_model(meta: dict[str, Any] | None, plan: Plan, path: Path, adaptable: Sequence[str] = ()) -> None:
    """The checkpoint is for this model with these builder arguments (those in ``adaptable`` may differ)."""
    if meta is None:
        return  # a plain state dict: the strict key/shape check decides
    if meta["model"] != plan.info.name:
        raise CheckpointError(f"{path} is a checkpoint of {meta['model']} ({meta['framework']}), not of "
                              f"{plan.info.name}")
    saved, now = meta["model_kwargs"], plan.model_kwargs
    diff = [f"{k}={saved.get(k)!r} there, {now.get(k)!r} here" for k in sorted(set(saved) | set(now))
            if saved.get(k) != now.get(k) and k not in adaptable]
    if diff:
        raise CheckpointError(f"{path} holds {plan.info.name} built with other arguments: {'; '.join(diff)} "
                              f"(dims and dataset must match the checkpoint's)")


def init_from(plan: Plan, model: Any, where: str, load_weights: Callable[..., list[str]]) -> None:
    """``--init-from``: a checkpoint of either framework, a plain state dict, or a weight source
    ("torchvision", "paddle.vision"), loaded by the framework's ``load_weights`` (zoo.pretrained).
    Another class count re-initialises the classifier and another channel count adapts the
    stem (fine-tuning, e.g. ImageNet weights on mnist5k); the notes that say so are printed."""
    def check(meta: dict[str, Any], path: Path) -> None:
        check_model(meta, plan, path, adaptable=("num_classes", "in_channels"))

    for note in load_weights(model, plan.info.name, where, plan.model_kwargs, check):
        print(f"note: {note}", file=sys.stderr)


def check_resume(meta: dict[str, Any] | None, plan: Plan, path: Path) -> None:
    """The checkpoint is this framework's and was made with the settings of this run."""
    if meta is None:
        raise CheckpointError(f"{path} is a plain state dict; --resume needs a checkpoint written by this script")
    if meta["framework"] != plan.framework:
        raise CheckpointError(f"{path} was written by the {meta['framework']} script; resume it there, or start "
                              f"a new run with --init-from")
    check_model(meta, plan, path)
    saved, now = meta["settings"], plan.settings()
    saved = {**SETTING_DEFAULTS, **saved}
    diff = [f"--{k.replace('_', '-')} {saved.get(k)} there, {now.get(k)} here" for k in now
            if saved.get(k) != now.get(k) and not (k == "epochs" and plan.args.scheduler == "none")]
    if diff:
        raise CheckpointError(f"--resume would not continue the same run: {'; '.join(diff)}")


def check_state(model_shapes: dict[str, tuple[int, ...]], saved_shapes: dict[str, tuple[int, ...]],
                context: str) -> None:
    """Every key present, none extra, shapes equal: a CheckpointError listing all offenders."""
    missing = sorted(set(model_shapes) - set(saved_shapes))
    unexpected = sorted(set(saved_shapes) - set(model_shapes))
    mis_shaped = [(k, saved_shapes[k], model_shapes[k])
                  for k in model_shapes if k in saved_shapes and tuple(saved_shapes[k]) != tuple(model_shapes[k])]
    if missing or unexpected or mis_shaped:
        raise CheckpointError(messages.state_mismatch(context, missing, unexpected, mis_shaped))


# --- results and the CLI wrapper ------------------------------------------------------------------

@dataclass
class Result:
    """What ``train()`` returns: the log, final test accuracy and where things were written."""

    log: RunLog
    test_acc: float
    epoch: int
    checkpoint: Path | None
    state: dict[str, np.ndarray]  # final weights as numpy, under this framework's keys


def error_summary(e: BaseException) -> str:
    """One informative line of a library's (often multi-paragraph) exception message."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "error:" in ln.lower()] or lines or [""]
    return f"{type(e).__name__}: {messages.shorten(useful[0], 300)}"


def run_cli(framework: str, argv: Sequence[str] | None, train: Callable[[argparse.Namespace], Any]) -> int:
    """Parse the flags and run ``train(args)``; a user error prints one line (no traceback) and exits 2,
    an interrupt says what was saved and exits 130.

    ZOO_TRAIN_DEBUG=1 re-raises, for a traceback.
    """
    args = parse_args(framework, argv)
    started = time.time()
    try:
        train(args)
        return 0
    except KeyboardInterrupt:
        print(interrupt_message(args, started), file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError) as e:
        if os.environ.get("ZOO_TRAIN_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2


MTIME_SLACK_S = 0.05


def interrupt_message(args: argparse.Namespace, started: float) -> str:
    """What an interrupted run leaves: a checkpoint written since ``started`` (a time.time()),
    the resumed run's checkpoint untouched, or nothing."""
    if args.eval_only:
        return "interrupted: --eval-only writes nothing"
    try:
        info = models.get(args.model)
        entry, _ = resolve_dataset(args)
    except (KeyError, ValueError):
        return "interrupted before the run started: nothing was saved"
    ckpt = output_folder(args, info, entry) / f"checkpoint{CHECKPOINT_SUFFIX[args.framework]}"
    try:
        written = ckpt.stat().st_mtime
    except OSError:
        written = None
    # A file's mtime comes from the kernel's coarse clock, which runs up to a tick (4-10 ms)
    # behind time.time(): a checkpoint written just after the start can carry an earlier time.
    if written is not None and written >= started - MTIME_SLACK_S:
        return f"interrupted: {ckpt} holds the last finished epoch; continue with --resume"
    if written is not None and args.resume:
        return f"interrupted before an epoch finished: {ckpt} is as it was when resumed; continue with --resume"
    earlier = f" ({ckpt} is from an earlier run)" if written is not None else ""
    return f"interrupted before the first checkpoint: nothing was saved{earlier}"
