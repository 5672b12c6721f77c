"""python -m parity selftest: the catalogue is current and complete, planting leaves nothing
behind, and the harness catches each planted mistake of the CI subset (the whole catalogue
runs under -m heavy)."""
import sys

import pytest

from parity import selftest
from parity.mutants import CI_SUBSET, MISTAKES, NEUTRAL, PITFALLS
from parity.planting import ROOT, StaleMistake, mutated_source, planted

ENTRIES = MISTAKES + NEUTRAL
# The mistake classes issue 12 asks for, each of which must have at least one entry.
REQUIRED_CLASSES = {"pool-rounding", "padding", "activation", "clip", "bn-eps", "bn-momentum", "bn-variance",
                    "shuffle", "concat-order", "shortcut-bn", "stride", "lrn", "transpose", "aux-head", "dropout",
                    "stochastic-depth", "output-order", "dtype-path", "init-invisible", "step-only", "pitfall",
                    "option"}


@pytest.mark.parametrize("m", ENTRIES, ids=lambda m: m.id)
def test_catalogue_edits_apply_once_and_compile(m):
    source = mutated_source(m.file, m.edits)
    compile(source, m.file, "exec")
    for _, new in m.edits:
        assert new in source


def test_catalogue_size_sides_and_classes():
    assert len(MISTAKES) >= 40 and len(NEUTRAL) >= 8
    assert len({m.id for m in ENTRIES}) == len(ENTRIES)
    assert {m.side for m in MISTAKES} == {"torch", "paddle"} and {m.side for m in NEUTRAL} == {"torch", "paddle"}
    assert REQUIRED_CLASSES <= {m.klass for m in MISTAKES}
    assert all(m.klass == "neutral" and m.layer is None for m in NEUTRAL)
    assert all(m.check is not None for m in MISTAKES)
    # Every case an entry names is one the harness runs (parity/cases.py).
    assert {m.case.split(":")[0] for m in ENTRIES} <= {"parity", "asym", "real", "hot", "stochastic", "option"}


def test_every_pitfall_is_planted_or_explained():
    ids = {m.id for m in ENTRIES}
    for rule, planted_as, reason in PITFALLS:
        assert planted_as or reason, rule
        assert set(planted_as) <= ids, (rule, set(planted_as) - ids)


def test_ci_subset_covers_every_class_caught_today():
    """Every class with an entry that needs no harness change has one in CI."""
    caught_today = {m.klass for m in ENTRIES if m.needs is None}
    in_ci = {m.klass for m in ENTRIES if m.id in CI_SUBSET}
    assert CI_SUBSET <= {m.id for m in ENTRIES}
    assert caught_today <= in_ci, caught_today - in_ci


def test_stale_text_fails_loudly():
    with pytest.raises(StaleMistake, match="occurs 0 times"):
        mutated_source("paddle_impl/lenet.py", [("no such text in the file", "x")])


def test_planting_changes_nothing_outside_the_context():
    import paddle_impl
    import parity.weights as W
    from paddle_impl import _registry

    by_name = {m.id: m for m in ENTRIES}
    import zoo.state_keys as K

    before = {p: (ROOT / p).read_text() for p in ("paddle_impl/layers.py", "zoo/state_keys.py")}
    builders = dict(_registry._REGISTRY._builders)
    key_pairs, buffers = W.key_pairs, K.TORCH_BN_BUFFERS
    for mid in ("float64_path_eps", "bn_buffers_swapped"):
        m = by_name[mid]
        with planted(m.model, m.side, m.file, m.edits) as (_, paddle_builder):
            if mid == "bn_buffers_swapped":
                assert K.TORCH_BN_BUFFERS["running_var"] == "_mean"
            else:
                layer = paddle_builder(num_classes=10, in_channels=1, dims=2, input_size=32)
                assert type(layer.features[1]).__module__ == "paddle_impl.layers"
                assert type(layer.features[1]) is not type(paddle_impl.build("lenet_bn", input_size=32).features[1])
    assert W.key_pairs is key_pairs and K.TORCH_BN_BUFFERS is buffers
    assert dict(_registry._REGISTRY._builders) == builders
    assert {p: (ROOT / p).read_text() for p in before} == before
    assert sys.modules["paddle_impl.layers"] is paddle_impl.layers


def test_judging_marks_a_catch_that_went_through_a_rejudge():
    from parity.results import Check, Report

    m = next(m for m in MISTAKES if m.id == "biased_running_variance")
    report = Report("lenet_bn", 2, "float64", [
        Check("eval_forward", True, 0.0, 0.0, 0.0, 1e-10, "max_rel"),
        Check("bn_stats", False, 1.0, 1e-3, 1e-3, 2e-4, "max_rel", "beyond the fixed 1e-10; ..."),
    ])
    out = selftest.judge_mistake(m, report)
    # still failed after the rejudge: a catch, marked as rejudged (no mistake passes through one)
    assert out.status == "ok" and out.rejudged and out.caught_by == "bn_stats"
    assert out.margin == pytest.approx(5.0)


@pytest.mark.heavy  # the CI budget; python -m parity selftest --subset ci runs the same entries
@pytest.mark.parametrize("m", [m for m in ENTRIES if m.id in CI_SUBSET], ids=lambda m: m.id)
def test_ci_subset_holds(m):
    out = selftest.run_one(m)
    assert out.ok, selftest.format_line(out)
    assert out.status != "flip", selftest.format_line(out)


@pytest.mark.heavy
@pytest.mark.parametrize("m", [m for m in ENTRIES if m.id not in CI_SUBSET], ids=lambda m: m.id)
def test_rest_of_catalogue_holds(m):
    out = selftest.run_one(m)
    assert out.ok, selftest.format_line(out)


def test_cli_lists_the_catalogue_and_rejects_unknown_ids(capsys):
    from parity.__main__ import main

    assert main(["selftest", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(m.id in listed for m in ENTRIES)
    assert main(["selftest", "--only", "no_such_mistake"]) == 2
    assert "no_such_mistake" in capsys.readouterr().err
