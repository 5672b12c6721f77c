"""What the harness exercises beyond the parity size and the defaults (zoo/coverage.py):
sizes at which every strided pool rounds, every builder option listed, every clip reached,
stochastic layers live on shared masks. Parametrized over the registry."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
import zoo.coverage as coverage
from parity.harness import cases, run_model
from parity.masks import MaskSource, share
from parity.report import format_report
from parity.sizes import rounding_pools

STANDARD = {"num_classes", "in_channels", "dims", "weights"}


def _pools(name: str, dims: int, sizes: list[int]) -> tuple[set[str], set[str]]:
    """(every strided pool, those that round at one of ``sizes`` at least); shapes only."""
    info = zoo.get(name)
    everything, rounded, model = set(), set(), None
    for size in sizes:
        if model is None or info.sized_by_input:  # the layers do not depend on the size otherwise
            with torch.device("meta"):
                model = torch_impl.build(name, **info.build_kwargs(dims, size))
        pools, rounds = rounding_pools(model, info.input_shape(dims, 1, size))
        everything |= pools
        rounded |= rounds
    return everything, rounded


# Registry-heavy models (their narrower siblings share the blocks) under -m heavy: the CI budget.
SIZE_CASES = [pytest.param(name, marks=[pytest.mark.heavy] if zoo.get(name).heavy else []) for name in zoo.names()]


@pytest.mark.parametrize("name", SIZE_CASES)
@pytest.mark.parametrize("dims", (1, 2))
def test_checked_sizes_make_every_strided_pool_round(name, dims):
    """A wrong ceil_mode shows only where a pool's output-size division leaves a remainder;
    across the sizes the harness checks, every strided pool of the model must meet one."""
    sizes = coverage.sizes(name, dims)
    everything, rounded = _pools(name, dims, list(sizes.values()))
    if zoo.get(name).fixed_size:
        assert list(sizes) == ["parity"]  # one input size exists; nothing can round differently
        return
    assert everything <= rounded, f"{name} {dims}D: no checked size {sizes} makes {sorted(everything - rounded)} round"


@pytest.mark.parametrize("name", zoo.names())
def test_every_builder_option_is_listed(name):
    """Each keyword a builder takes (besides the standard ones) is in the model's options,
    with values to check or the reason it needs none."""
    params = inspect.signature(torch_impl._registry._REGISTRY._builders[name]).parameters
    keywords = {p for p in params if p not in STANDARD and params[p].kind is not inspect.Parameter.VAR_KEYWORD}
    listed = {o.keyword: o for o in coverage.options(name)}
    assert keywords == set(listed), f"{name}: builder takes {sorted(keywords)}, zoo/coverage.py lists {sorted(listed)}"
    for o in listed.values():
        assert o.values or o.kind == coverage.SIZE, o
        assert o.kind in (coverage.COMPUTATION, coverage.RATE) or o.reason, o
        for kw in o.cases():
            assert params[o.keyword].default != kw[o.keyword], f"{name}: {o.keyword}={kw[o.keyword]} is the default"


def test_cases_cover_sizes_options_and_rates():
    keys = [c.key for c in cases("googlenet", (2,), ("float64", "float32"))]
    assert keys.count("parity") == 2 and keys.count("asym") == 2 and keys.count("real") == 2
    assert {"hot", "stochastic", "option:aux_logits=False", "option:transform_input=True", "stochastic:dropout=0.3",
            "stochastic:dropout_aux=0.5"} <= set(keys)
    assert [c.key for c in cases("lenet5", (2,), ("float64",))] == ["parity", "hot"]


# One model per kind of clipped or saturating activation in the zoo (the heavy siblings share
# the same blocks): ReLU6, Hardswish/Hardsigmoid, Sigmoid (SE gates), Tanh and Sigmoid (LeNet).
CLIPPED = ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "lenet5", "lenet5_d2l"]


@pytest.mark.parametrize("name", CLIPPED)
def test_hot_case_crosses_every_clip(name):
    report = run_model(name, 2, "float64", onnx=False, kind="hot")
    assert report.ok, "\n" + format_report(report)
    assert "saw inputs below and above" in report.check("activation_regimes").detail


def test_float32_hot_case_is_judged_against_torchs_own_float32_error(monkeypatch):
    # Driven to std 5, MobileNetV2's 1D float32 run moves beyond the fixed 1e-4 (1.1e-4 on
    # 2026-12-07) with both twins correct; `--dtype float32` failed it, as it failed
    # EfficientNet-B1 to B7. The rejudge heats a float64 copy of torch's module with the
    # float32 run's own factors. How far beyond depends on the thread count (9.8e-5 at one
    # thread, under pytest-xdist, where the rejudge then never ran): the fixed bound is
    # lowered to 2e-5 here, so that the rejudge runs at any thread count and must pass.
    from parity.judge import TOLERANCES

    monkeypatch.setitem(TOLERANCES["float32"], "eval_forward", 2e-5)
    report = run_model("mobilenet_v2", 1, "float32", onnx=False, kind="hot")
    assert report.ok, "\n" + format_report(report)
    assert "torch float32 against torch float64" in report.check("hot_forward").detail


def test_float32_stochastic_case_is_rejudged_with_the_same_masks():
    # With dropout live, 1D MobileNetV2's float32 parameter gradients differ by 1.3e-2 to 4.1e-2
    # against 1e-2 on correct twins (ReLU6 inputs within rounding of a kink, landing on
    # either side). The rejudges run as without masks: the kink alignment reruns both sides,
    # and the reference runs draw the compared run's masks.
    report = run_model("mobilenet_v2", 1, "float32", onnx=False, kind="stochastic")
    assert report.ok, "\n" + format_report(report)
    grads = report.check("train_param_grads")
    assert "with torch given paddle's side there" in grads.detail or "torch float32 against torch float64" \
        in grads.detail, grads


def test_float32_hot_rejudge_keeps_a_clip_mistake():
    import paddle

    from parity.compare import compare_modules

    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU6(), torch.nn.Linear(16, 3))
    p = paddle.nn.Sequential(paddle.nn.Linear(8, 16), paddle.nn.ReLU(), paddle.nn.Linear(16, 3))
    x = np.random.RandomState(0).standard_normal((4, 8)).astype(np.float32)
    report = compare_modules(t, p, inputs=x, dtype="float32", hot=True, train=False)
    assert report.check("eval_forward").passed  # nothing reaches 6 unheated
    hot = report.check("hot_forward")
    assert not hot.passed and hot.max_rel > 1e-2, hot
    assert "activations heated" in hot.detail and "first divergent layer: 1" in hot.detail, hot.detail


def test_masks_are_shared_in_call_order():
    a, b = MaskSource(3), MaskSource(3)
    first = a((2, 5), 0.7)
    assert np.array_equal(first, b((2, 5), 0.7)) and not np.array_equal(first, a((2, 5), 0.7))
    a.reset()
    assert np.array_equal(first, a((2, 5), 0.7))


def test_a_copy_for_a_reference_run_draws_the_compared_runs_masks():
    # The stochastic rejudge measures torch's own float32 error on a float64 copy: were the
    # copy's masks fresh draws, that error would be O(1) and excuse any mistake.
    import copy

    import paddle

    from parity.masks import share_paddle, share_torch

    t = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Dropout(0.5), torch.nn.Linear(32, 4)).train()
    p = paddle.nn.Sequential(paddle.nn.Linear(8, 32), paddle.nn.Dropout(0.5), paddle.nn.Linear(32, 4))
    shared = share(t, p, 5)
    x = np.random.RandomState(0).standard_normal((3, 8)).astype(np.float32)
    out = t(torch.from_numpy(x)).detach().numpy()
    twin = copy.deepcopy(t).double()
    share_torch(twin, 5)
    wide = twin(torch.from_numpy(x.astype(np.float64))).detach().numpy()
    assert np.abs(out - wide).max() < 1e-5 * np.abs(wide).max()
    p_twin = copy.deepcopy(p)
    p_twin.train()
    share_paddle(p_twin, 5)
    assert np.array_equal(p(paddle.to_tensor(x)).numpy(), p_twin(paddle.to_tensor(x)).numpy())
    shared.restore()
    assert not np.allclose(out, t(torch.from_numpy(x)).detach().numpy())  # torch's own draw again


def test_every_stochastic_layer_shares_its_masks():
    info = zoo.get("efficientnet_b0")
    kw = info.build_kwargs(2, info.check_size(2))
    shared = share(torch_impl.build("efficientnet_b0", **kw), paddle_impl.build("efficientnet_b0", **kw), 0)
    assert not shared.unshared
    assert len(shared.torch_layers) == len(shared.paddle_layers) == 17  # 16 stochastic-depth blocks and the dropout


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b0"])
def test_stochastic_case_compares_live_dropout(name):
    report = run_model(name, 2, "float64", onnx=False, kind="stochastic")
    assert report.ok, "\n" + format_report(report)
    assert report.check("stochastic_masks").passed and report.check("train_param_grads").passed


@pytest.mark.parametrize("name", sorted(coverage.ASYM_BATCH))
def test_asym_batch_is_larger_than_the_parity_batch_at_a_real_asym_size(name):
    """Each ASYM_BATCH entry names an asym case that exists and raises its batch (a stale or
    no-op entry would claim conditioning the harness does not do)."""
    info = zoo.get(name)
    for dims, batch in coverage.ASYM_BATCH[name].items():
        assert "asym" in coverage.sizes(name, dims), (name, dims)
        assert coverage.batch(name, dims, "asym") == batch > info.parity_batch
        assert coverage.batch(name, dims, "parity") == info.parity_batch
        assert coverage.batch(name, dims, "real") == 1
