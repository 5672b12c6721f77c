"""Train any model of the zoo with PaddlePaddle: ``python -m paddle_impl.train MODEL [flags]``.

Mirrors torch_impl/train.py function for function. Everything that does not touch a
tensor (flags, the data plan, batch order, printed lines, metrics files, checkpoint
checks) lives in zoo/training.py, so both scripts take the same flags, see the same
batches and print the same lines. Runs data-parallel (DataParallel) under
``python -m paddle.distributed.launch --nproc_per_node N paddle_impl/train.py ...``, or with the
module form ``... --nproc_per_node N python -m paddle_impl.train ...`` (the launcher has no
``-m`` of its own; it runs the ``python`` command it is given), each process on the GPU the
launcher selects for it (see docs/TRAINING.md).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

if not __package__:  # run by path (paddle's launcher): make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import paddle
import paddle.distributed as paddle_dist
import paddle.nn.functional as F
from paddle import nn

import paddle_impl
from paddle_impl import sync_bn
from paddle_impl._weights import load_weights as load_pretrained
from zoo import devices, training
from zoo.training import CheckpointError, Plan, RunLog

FRAMEWORK = "paddle"
DTYPES = {"float32": "float32", "float64": "float64"}
AMP_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


# --- processes, threads, model, optimizer ---------------------------------------------------------

@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (rank 0 of 1 when run plainly)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(requested: str) -> str:
    """``--device`` in paddle's terms; under paddle's launcher, the GPU it selected (see zoo/devices.py)."""
    gpus = paddle.device.cuda.device_count() if paddle.is_compiled_with_cuda() else 0
    device = devices.choose_device(requested, FRAMEWORK, gpus)
    paddle.set_device(device)
    return device


def init_distributed(device: str) -> Dist:
    """Join the process group paddle.distributed.launch describes in the environment."""
    if int(os.environ.get("PADDLE_TRAINERS_NUM", "1")) <= 1:
        return Dist()
    paddle_dist.init_parallel_env()
    return Dist(paddle_dist.get_rank(), paddle_dist.get_world_size())


def set_threads(threads: int) -> None:
    paddle.base.core.set_num_threads(threads)


# torch_impl/train.py's memory_format (channels_last) has no counterpart here: paddle's
# layout is each layer's constructor argument (data_format), not a conversion of a built model.
def build_model(plan: Plan, device: str) -> nn.Layer:
    paddle.set_device(device)
    paddle.seed(plan.args.seed)
    model = paddle_impl.build(plan.info.name, **plan.model_kwargs)
    if plan.args.sync_bn:
        model = sync_bn.convert(model)
    model.to(dtype=DTYPES[plan.args.dtype])
    return model


def count_params(model: nn.Layer) -> int:
    # paddle lists BatchNorm statistics as parameters with stop_gradient=True: not counted
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def make_optimizer(plan: Plan, model: nn.Layer, scheduler: Any) -> paddle.optimizer.Optimizer:
    a = plan.args
    params = [p for p in model.parameters() if not p.stop_gradient]
    rate = scheduler if scheduler is not None else a.lr
    decay = a.weight_decay or None  # a float is L2 added to the gradient, as torch's weight_decay
    if a.optimizer == "sgd":
        return paddle.optimizer.SGD(learning_rate=rate, parameters=params, weight_decay=decay)
    if a.optimizer == "momentum":
        return paddle.optimizer.Momentum(learning_rate=rate, momentum=training.MOMENTUM, parameters=params,
                                         weight_decay=decay)
    beta1, beta2 = training.ADAM_BETAS
    if a.optimizer == "adam":
        return paddle.optimizer.Adam(learning_rate=rate, beta1=beta1, beta2=beta2, epsilon=training.ADAM_EPS,
                                     parameters=params, weight_decay=decay)
    return paddle.optimizer.AdamW(learning_rate=rate, beta1=beta1, beta2=beta2, epsilon=training.ADAM_EPS,
                                  parameters=params, weight_decay=a.weight_decay)


def make_scheduler(plan: Plan) -> Any:
    # paddle's scheduler is the optimizer's learning_rate, so it is made first
    a = plan.args
    if a.scheduler == "step":
        return paddle.optimizer.lr.StepDecay(learning_rate=a.lr, step_size=training.step_size(a.epochs),
                                             gamma=training.STEP_GAMMA)
    if a.scheduler == "cosine":
        return paddle.optimizer.lr.CosineAnnealingDecay(learning_rate=a.lr, T_max=max(a.epochs, 1))
    return None


def current_lr(optimizer: paddle.optimizer.Optimizer) -> float:
    return float(optimizer.get_lr())


@dataclass
class Precision:
    """``--amp``: the autocast dtype (None: off) and the loss scaler float16 needs (bfloat16 has
    float32's exponent range and needs none)."""

    device_type: str
    dtype: str | None = None
    scaler: paddle.amp.GradScaler | None = None

    def autocast(self) -> Any:
        return paddle.amp.auto_cast(enable=self.dtype is not None, dtype=self.dtype or "float16", level="O1")


def make_precision(plan: Plan, device: str) -> Precision:
    amp = plan.args.amp
    if amp == "none":
        return Precision(device)
    scaler = paddle.amp.GradScaler() if amp == "fp16" else None
    return Precision(device, AMP_DTYPES[amp], scaler)


# --- data ---------------------------------------------------------------------------------------

class Arrays:
    """The dataset held as tensors; a batch is an ``index_select`` of a slice of the shuffled order.

    Augmented, streamed or oversized data instead arrives as numpy batches that
    ``zoo.stream.Loader`` makes in background threads, the same batches as in torch.
    """

    def __init__(self, plan: Plan, device: str) -> None:
        self.loader = plan.loader()
        self.device = device
        self.eval_batch = training.eval_batch(plan)
        self.y_train = paddle.to_tensor(self.loader.y_train, place=device)
        self.y_test = paddle.to_tensor(self.loader.y_test, place=device)
        if self.loader.in_memory:
            self.x_train = paddle.to_tensor(self.loader.x_train, place=device)
            self.x_test = paddle.to_tensor(self.loader.x_test, place=device)

    def _tensor(self, a: np.ndarray) -> paddle.Tensor:
        return paddle.to_tensor(a, place=self.device)

    def train_batches(self, batches: list[np.ndarray], epoch: int, dist: Dist) -> Iterator[tuple[paddle.Tensor,
                                                                                                 paddle.Tensor]]:
        """This process's shard of each global batch of ``epoch``, as tensors on the device."""
        shards = [training.shard(b, dist.rank, dist.world) for b in batches]
        if not self.loader.in_memory:
            for x, y in self.loader.train_batches(batches, shards, epoch, dist.rank, dist.world):
                yield self._tensor(x), self._tensor(y)
            return
        for rows in shards:
            index = self._tensor(rows)
            yield paddle.index_select(self.x_train, index), paddle.index_select(self.y_train, index)

    def test_batches(self) -> Iterator[tuple[paddle.Tensor, paddle.Tensor]]:
        if not self.loader.in_memory:
            for x, y in self.loader.test_batches(self.eval_batch):
                yield self._tensor(x), self._tensor(y)
            return
        for i in range(0, len(self.y_test), self.eval_batch):
            yield self.x_test[i:i + self.eval_batch], self.y_test[i:i + self.eval_batch]


# --- one epoch, evaluation ------------------------------------------------------------------------

def training_forward(model: nn.Layer, dist: Dist) -> nn.Layer:
    """What the training steps call: DataParallel across processes, else the model.

    (paddle.jit.to_static is not used: on LeNet-5 it saved 1% of the CPU time per epoch at
    batch 128 and cost 7% at batch 32, and it cannot trace the torch-semantics BatchNorm,
    whose running-statistics update calls ``set_value``.)
    """
    if dist.world > 1:
        return paddle.DataParallel(model)
    return model


def logits_and_loss(forward: nn.Layer, x: paddle.Tensor, y: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
    """Cross-entropy; a tuple output is (logits, auxiliary logits...) as GoogLeNet/Inception return in training."""
    out = forward(x)
    if isinstance(out, (tuple, list)):
        aux = [o for o in out[1:] if o is not None]
        return out[0], F.cross_entropy(out[0], y) + training.AUX_WEIGHT * sum(F.cross_entropy(o, y) for o in aux)
    return out, F.cross_entropy(out, y)


def backward_and_step(loss: paddle.Tensor, optimizer: paddle.optimizer.Optimizer, precision: Precision) -> None:
    if precision.scaler is None:
        loss.backward()
        optimizer.step()
        return
    precision.scaler.scale(loss).backward()
    precision.scaler.step(optimizer)  # skipped when the scaled gradients overflowed
    precision.scaler.update()


def train_epoch(model: nn.Layer, forward: nn.Layer, optimizer: paddle.optimizer.Optimizer, arrays: Arrays,
                batches: list[np.ndarray], dist: Dist, bar: Any, epoch: int,
                precision: Precision) -> tuple[np.ndarray, int]:
    """One pass over ``batches``: (per-step mean losses, correct predictions).

    Losses and counts stay tensors until the epoch ends and are read once. Each process
    takes its shard of every global batch; its loss is scaled by its share, so
    DataParallel's gradient average equals the gradient of the global batch's mean loss.
    """
    model.train()
    losses, correct = [], []
    for batch, (x, y) in zip(batches, arrays.train_batches(batches, epoch, dist)):
        with precision.autocast():
            logits, loss = logits_and_loss(forward, x, y)
        if dist.world > 1:
            loss = loss * (len(y) / len(batch))
        optimizer.clear_grad(set_to_zero=False)
        backward_and_step(loss * dist.world if dist.world > 1 else loss, optimizer, precision)
        losses.append(loss.detach())
        correct.append((logits.argmax(axis=1) == y).astype("int64").sum())
        bar.update()
    totals = paddle.concat([paddle.stack(losses).astype("float64"),
                            paddle.stack(correct).sum().astype("float64").reshape([1])])
    if dist.world > 1:
        paddle_dist.all_reduce(totals)
    totals = totals.numpy()
    return totals[:-1], int(totals[-1])


@paddle.no_grad()
def evaluate(model: nn.Layer, arrays: Arrays, precision: Precision) -> float:
    model.eval()
    correct = paddle.zeros([], dtype="int64")
    for x, y in arrays.test_batches():
        with precision.autocast():
            out = model(x)
        out = out[0] if isinstance(out, (tuple, list)) else out
        correct += (out.argmax(axis=1) == y).astype("int64").sum()
    return int(correct) / len(arrays.y_test)


# --- checkpoints ----------------------------------------------------------------------------------

def model_state(model: nn.Layer) -> dict[str, paddle.Tensor]:
    return dict(model.state_dict())


def optimizer_state(model: nn.Layer, optimizer: paddle.optimizer.Optimizer) -> dict[str, Any]:
    """The optimizer state with its accumulators keyed by model key.

    paddle names accumulators after the parameters' global names (``conv2d_3.w_0_moment1_0``),
    which depend on how many layers the process built before; keyed as
    ``features.c1.weight@moment1_0`` they load into any fresh process or model.
    """
    keys = {p.name: k for k, p in model.named_parameters()}
    out = {}
    for name, value in optimizer.state_dict().items():
        owner = max((n for n in keys if name.startswith(n + "_")), key=len, default=None)
        out[f"{keys[owner]}@{name[len(owner) + 1:]}" if owner else name] = value
    return out


def load_optimizer_state(model: nn.Layer, optimizer: paddle.optimizer.Optimizer, saved: dict[str, Any]) -> None:
    """Load a state ``optimizer_state`` saved, renamed after this process's parameter names."""
    names = {k: p.name for k, p in model.named_parameters()}
    state = {}
    for key, value in saved.items():
        owner, sep, accumulator = key.partition("@")
        if sep and owner not in names:
            raise CheckpointError(f"the saved optimizer state names {owner!r}, which the model does not have")
        state[f"{names[owner]}_{accumulator}" if sep else key] = value
    optimizer.set_state_dict(state)


def save_checkpoint(plan: Plan, model: nn.Layer, optimizer: paddle.optimizer.Optimizer, scheduler: Any, epoch: int,
                    log: RunLog, precision: Precision) -> None:
    ckpt = training.checkpoint_meta(plan, epoch, log)
    ckpt["model_state"] = model_state(model)
    ckpt["optimizer_state"] = optimizer_state(model, optimizer)
    ckpt["scheduler_state"] = scheduler.state_dict() if scheduler is not None else None
    ckpt["scaler_state"] = precision.scaler.state_dict() if precision.scaler is not None else None
    training.atomic_write(plan.checkpoint, lambda tmp: paddle.save(ckpt, str(tmp)))


def read_checkpoint(path: os.PathLike) -> dict[str, Any]:
    try:
        return paddle.load(str(path), return_numpy=True)
    except Exception as e:  # paddle.load raises many types for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable paddle checkpoint ({training.error_summary(e)})") from None


def load_weights(model: nn.Layer, state: dict[str, Any], context: str) -> None:
    """Strict load, every offending key listed; values cast to the model's dtype.

    paddle's own set_state_dict skips unknown and mis-shaped keys without an error.
    """
    target = model.state_dict()
    training.check_state({k: tuple(v.shape) for k, v in target.items()},
                         {k: tuple(np.shape(v)) for k, v in state.items()}, context)
    for key, tensor in target.items():
        tensor.set_value(np.asarray(state[key]).astype(tensor.numpy().dtype))


def resume(plan: Plan, model: nn.Layer, optimizer: paddle.optimizer.Optimizer, scheduler: Any,
           precision: Precision) -> dict[str, Any]:
    """Load the model, optimizer, scheduler and loss-scaler state of the run in ``--out``; returns its metadata."""
    path = plan.checkpoint
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: {path} does not exist")
    ckpt = read_checkpoint(path)
    meta, state = training.split_checkpoint(ckpt, path)
    training.check_resume(meta, plan, path)
    load_weights(model, state, str(path))
    load_optimizer_state(model, optimizer, ckpt["optimizer_state"])
    if scheduler is not None:
        scheduler.set_state_dict(ckpt["scheduler_state"])
    if precision.scaler is not None and ckpt.get("scaler_state"):
        precision.scaler.load_state_dict(ckpt["scaler_state"])
    return meta


# --- the run ----------------------------------------------------------------------------------------

def train(args: Any) -> training.Result:
    """Run the training (or evaluation) ``args`` describe; see ``python -m paddle_impl.train -h``."""
    device = resolve_device(args.device)
    devices.check_amp(args.amp, FRAMEWORK, device)
    dist = init_distributed(device)
    plan = training.make_plan(args)
    model = build_model(plan, device)
    scheduler = make_scheduler(plan)
    optimizer = make_optimizer(plan, model, scheduler)
    precision = make_precision(plan, device)
    meta = None
    if args.resume:
        meta = resume(plan, model, optimizer, scheduler, precision)
    elif args.init_from:
        training.init_from(plan, model, args.init_from, load_pretrained)
    plan.threads = training.choose_threads(plan, meta, count_params(model))
    set_threads(plan.threads)
    return run(plan, model, optimizer, scheduler, meta, dist, device, precision)


def run(plan: Plan, model: nn.Layer, optimizer: paddle.optimizer.Optimizer, scheduler: Any, meta: dict | None,
        dist: Dist, device: str, precision: Precision) -> training.Result:
    args = plan.args
    start, log = training.progress_so_far(meta)
    arrays = Arrays(plan, device)
    if dist.main:
        print(training.header_line(plan, count_params(model), dist.world), flush=True)
    if args.eval_only:
        acc = evaluate(model, arrays, precision)
        if dist.main:
            print(training.eval_line(plan, acc), flush=True)
        return training.Result(log, acc, start, None, to_numpy(model))
    forward = training_forward(model, dist)
    end = min(args.epochs, args.stop_after or args.epochs)
    if dist.main and start == 0 and args.epochs == 0:
        save_checkpoint(plan, model, optimizer, scheduler, 0, log, precision)  # the initial weights, for --init-from
    test_acc = log.epochs[-1].test_acc if log.epochs else float("nan")
    for epoch in range(start + 1, end + 1):
        paddle.seed(training.epoch_seed(args.seed, epoch))
        batches = training.usable_batches(len(arrays.y_train), args.batch_size, args.seed, epoch, dist.world)
        lr = current_lr(optimizer)
        bar = training.progress(len(batches), f"epoch {epoch}/{args.epochs}", dist.main)
        t0 = time.perf_counter()
        step_losses, correct = train_epoch(model, forward, optimizer, arrays, batches, dist, bar, epoch, precision)
        seconds = time.perf_counter() - t0
        bar.close()
        test_acc = evaluate(model, arrays, precision)
        if scheduler is not None:
            scheduler.step()
        stats = training.epoch_stats(epoch, batches, step_losses, correct, test_acc, lr, seconds)
        log.add(stats, step_losses)
        if dist.main:
            print(stats.line(args.epochs), flush=True)
            save_checkpoint(plan, model, optimizer, scheduler, epoch, log, precision)
            log.write(plan.out, training.plot_title(plan), last=epoch == end)
    if dist.main:
        print(training.final_line(plan, log, max(start, end)), flush=True)
    return training.Result(log, test_acc, max(start, end), plan.checkpoint if dist.main else None, to_numpy(model))


def to_numpy(model: nn.Layer) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model_state(model).items()}


def main(argv: list[str] | None = None) -> int:
    return training.run_cli(FRAMEWORK, argv, train)


if __name__ == "__main__":
    sys.exit(main())
