"""The self-test: plant each mistake of parity/mutants.py, run the harness, and check its verdict.

A planted mistake must fail in float64 on the check the catalogue names, as the first
check to fail (a rejudge may have run on it, and the table marks that, but the check
still failed: no mistake passes through a rejudge), and, where the check localises, the
locator must name the catalogue's layer. A neutral rewrite must pass every check, and
the locator must name no layer on it. ``needs`` entries wait for a harness change: one
that needs a case the harness does not run yet is listed and not run; any other is run
and must still miss (so the day the change lands, the self-test says to flip it on).
"""
from __future__ import annotations

import inspect
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

import zoo
from parity.mutants import MISTAKES, NEUTRAL, STEP_CHECKS, Mistake
from parity.planting import StaleMistake, planted

# Words in a check's detail that show a rejudge took part in its verdict (judge.rejudge,
# kinks.rejudge_with_aligned_kinks).
REJUDGE_MARKS = ("beyond the fixed", "fall on opposite sides")
LAYER_PATTERNS = (re.compile(r"first divergent (?:layer|op): (\S+)"),
                  re.compile(r"first divergent gradient \(backward order\) at the output of (\S+)"))
SEED = 0


@dataclass
class Outcome:
    """What the harness said about one planted mistake or neutral rewrite, and the verdict."""

    mistake: Mistake
    status: str  # "ok", "FAIL", "pending" (not run: needs a case), "waits" (run, still misses), "flip"
    caught_by: str = "-"
    margin: float | None = None
    rejudged: bool = False
    located: str | None = None
    seconds: float = 0.0
    why: str = ""

    @property
    def ok(self) -> bool:
        """Holds, or knowingly waits for a harness change (and still misses)."""
        return self.status in ("ok", "pending", "waits")


def located_at(detail: str) -> str | None:
    """The layer a check's detail names (forward or gradient locator), if any."""
    for pattern in LAYER_PATTERNS:
        found = pattern.search(detail)
        if found:
            return found.group(1)
    return None


# Checks that run before any train-mode check: a mistake expected there needs nothing after them.
EVAL_CHECKS = ("structure", "copy", "eval_forward")


def steps_for(m: Mistake) -> int:
    """Two optimizer steps where a step check is what should see the mistake, for the
    neutral rewrites (which must pass everything) and for entries that wait for a harness
    change (the table then shows what catches them today); none otherwise, which saves the
    step checks' reference runs on a model that has already failed."""
    return 2 if m.neutral or m.needs is not None or m.check in STEP_CHECKS else 0


def train_for(m: Mistake) -> bool:
    """Whether the train-mode checks run: not for a mistake the eval checks must catch."""
    return m.neutral or m.needs is not None or m.check not in EVAL_CHECKS


def _run_parity(m: Mistake, torch_builder: Callable, paddle_builder: Callable):
    """What ``harness.run_model`` does at the parity size, with the given builders and no ONNX."""
    import paddle
    import torch

    from parity.compare import compare_modules

    info = zoo.get(m.model)
    size = info.check_size(m.dims)
    kwargs = info.build_kwargs(m.dims, size)
    torch.manual_seed(SEED)
    paddle.seed(SEED)
    t_model, p_model = torch_builder(**kwargs), paddle_builder(**kwargs)
    x = np.random.RandomState(SEED).standard_normal(info.input_shape(m.dims, info.parity_batch, size))
    report = compare_modules(t_model, p_model, inputs=x, dtype=m.dtype, num_classes=kwargs["num_classes"],
                             seed=SEED, steps=steps_for(m), train=train_for(m), name=m.model, dims=m.dims)
    report.case = "parity"
    return report, (t_model, p_model, x)


def case_report(m: Mistake, torch_builder: Callable, paddle_builder: Callable):
    """(the report of ``m``'s case, or None when the harness does not run that case; extra)."""
    from parity import harness

    run_cases = getattr(harness, "run_cases", None)
    if run_cases is not None:
        kw = dict(torch_builder=torch_builder, paddle_builder=paddle_builder, onnx=False, steps=steps_for(m))
        accepted = inspect.signature(run_cases).parameters
        if "only" in accepted:
            kw["only"] = [m.case]
        if "train" in accepted:
            kw["train"] = train_for(m)
        reports = [r for r in run_cases(m.model, m.dims, m.dtype, **kw) if getattr(r, "case", None) == m.case]
        return (reports[0] if reports else None), None
    if m.case != "parity":
        return None, None
    return _run_parity(m, torch_builder, paddle_builder)


def unmodified_locator(t_model, p_model, x: np.ndarray) -> str | None:
    """The layer the locator names on a pair that agrees (it must name none)."""
    from parity.locate import locate_divergence
    from parity.weights import key_map, load_paddle

    t_model.eval()
    p_model.eval()
    load_paddle(p_model, key_map(t_model, p_model).to_paddle(t_model))  # by name, or by order as compare pairs
    return located_at(locate_divergence(t_model, p_model, x.astype("float64"), "float64", 1e-10))


def judge_mistake(m: Mistake, report) -> Outcome:
    failed = report.failed()
    first = failed[0] if failed else None
    out = Outcome(m, "FAIL", caught_by=first.name if first else "nothing")
    if first is None:
        out.why = "every check passed"
        return out
    out.margin = first.ratio()
    out.rejudged = any(mark in first.detail for mark in REJUDGE_MARKS)
    out.located = located_at(first.detail)
    problems = []
    if first.name != m.check:
        problems.append(f"caught by {first.name}, expected {m.check}")
    # A rejudge that ran and still failed the check did not excuse the mistake: the catch
    # stands, and the table marks it. One that passed it would leave ``first`` elsewhere.
    if m.layer is not None and out.located != m.layer:
        problems.append(f"localised at {out.located}, expected {m.layer}")
    out.status = "FAIL" if problems else "ok"
    out.why = "; ".join(problems)
    return out


def judge_neutral(m: Mistake, report, extra) -> Outcome:
    failed = report.failed()
    out = Outcome(m, "ok" if not failed else "FAIL", caught_by=failed[0].name if failed else "-")
    ratios = [c.ratio() for c in report.checks if c.ratio() is not None]
    out.margin = max(ratios) if ratios else None
    out.rejudged = any(mark in c.detail for c in report.checks for mark in REJUDGE_MARKS)
    problems = [f"{c.name} failed: {c.detail}" for c in failed]
    if extra is not None:
        out.located = unmodified_locator(*extra)
        if out.located is not None:
            problems.append(f"on the agreeing pair the locator names {out.located}")
    out.status = "FAIL" if problems else "ok"
    out.why = "; ".join(problems)
    return out


def run_one(m: Mistake) -> Outcome:
    """Plant ``m``, run its case, and judge the harness's verdict against the catalogue."""
    start = time.perf_counter()
    if m.needs_case and not _case_exists(m.case):
        return Outcome(m, "pending", why=f"needs {m.needs}")
    try:
        with planted(m.model, m.side, m.file, m.edits) as (torch_builder, paddle_builder):
            report, extra = case_report(m, torch_builder, paddle_builder)
            if report is None:
                return Outcome(m, "pending", why=f"needs case {m.case}", seconds=time.perf_counter() - start)
            out = judge_neutral(m, report, extra) if m.neutral else judge_mistake(m, report)
    except StaleMistake as exc:
        return Outcome(m, "FAIL", why=f"stale catalogue entry: {exc}")
    except Exception as exc:  # a plant that cannot be built or run is a catalogue error, reported as such
        return Outcome(m, "FAIL", why=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start)
    out.seconds = time.perf_counter() - start
    if m.needs and not m.needs_case:
        # Waits for a harness change: it must still miss; once it holds, flip it on.
        out.why = f"holds now: remove needs={m.needs!r}" if out.status == "ok" else f"waits for {m.needs}: {out.why}"
        out.status = "flip" if out.status == "ok" else "waits"
    return out


def _case_exists(case: str) -> bool:
    """Whether the harness runs ``case`` (``parity`` always; the others once ``run_cases``
    exists, as far as its ``CASES`` says; without a ``CASES``, running is how to find out)."""
    from parity import harness

    if case == "parity":
        return True
    if getattr(harness, "run_cases", None) is None:
        return False
    cases = getattr(harness, "CASES", None)
    return cases is None or any(case == c or case.startswith(f"{c}:") for c in cases)


def select(subset: str = "all", only: Sequence[str] = ()) -> list[Mistake]:
    """The catalogue entries to run: ``all``, or ``ci`` (see mutants.CI_SUBSET), or the ``only`` ids."""
    from parity.mutants import CI_SUBSET

    entries = list(MISTAKES) + list(NEUTRAL)
    if only:
        unknown = sorted(set(only) - {m.id for m in entries})
        if unknown:
            raise KeyError(f"unknown mistake ids: {', '.join(unknown)}")
        return [m for m in entries if m.id in only]
    if subset == "ci":
        return [m for m in entries if m.id in CI_SUBSET]
    return entries


def run(mistakes: Iterable[Mistake], progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    outcomes = []
    for m in mistakes:
        out = run_one(m)
        outcomes.append(out)
        if progress is not None:
            progress(out)
    return outcomes


def _margin(out: Outcome) -> str:
    if out.status == "pending":
        return "-"
    if out.margin is None:
        return "exact" if out.caught_by in ("structure", "copy") else "-"
    return f"{out.margin:.1e}" + (" (rejudged, still failed)" if out.rejudged else "")


def format_table(outcomes: Sequence[Outcome]) -> str:
    """mistake, model, caught by, margin (error / tolerance), localised at, verdict."""
    widths = (36, 17, 26, 7, 18, 20, 42)
    names = ("mistake", "class", "model", "side", "caught by", "margin", "localised at")
    lines = ["".join(f"{n:<{w}}" for n, w in zip(names, widths)) + "verdict"]
    for o in outcomes:
        m = o.mistake
        caught = "passes (neutral)" if m.neutral and o.status == "ok" else o.caught_by
        verdict = o.status if not o.why else f"{o.status}: {o.why}"
        cells = (m.id, m.klass, f"{m.model} {m.dims}D", m.side, caught, _margin(o), o.located or "-")
        lines.append("".join(f"{c:<{w - 1}} " for c, w in zip(cells, widths)) + verdict)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "FAIL", "pending", "waits", "flip")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) +
                 f"; {sum(o.seconds for o in outcomes):.0f}s")
    return "\n".join(lines)


def format_line(o: Outcome) -> str:
    """One progress line per entry, as it finishes."""
    margin = _margin(o)
    where = f" at {o.located}" if o.located else ""
    return (f"{o.status:<8}{o.mistake.id:<36}{o.caught_by}{where} {margin} ({o.seconds:.1f}s)"
            + (f"  {o.why}" if o.why else ""))


def format_catalogue(entries: Sequence[Mistake]) -> str:
    """The catalogue as a table: id, class, model, side and file, expected check and layer, what it is."""
    lines = [f"{'mistake':<36}{'class':<17}{'model':<26}{'file':<30}{'expected':<34}what"]
    for m in entries:
        expected = "passes" if m.neutral else f"{m.check}{' @ ' + m.layer if m.layer else ''}"
        if m.case != "parity":
            expected += f" [{m.case}]"
        if m.dtype != "float64":
            expected += f" [{m.dtype}]"
        lines.append(f"{m.id:<36}{m.klass:<17}{f'{m.model} {m.dims}D':<26}{m.file:<30}{expected:<34}{m.what}")
    return "\n".join(lines)
