"""The README's model table, generated from the code.

``model_table()`` gives one Markdown row per registered model and dims (2D at the
default image size, 1D at the default signal length): family, input, trainable
parameters and MACs from ``parity.summary`` (torch side; the tests prove the paddle
rows identical), and the parity status of the last real run, read from the JSON report
that ``python -m parity all --json parity-report.json`` writes ("not run" without one).
``family_table()`` gives the same report's cases, time and peak memory per family.
``update_readme()`` rewrites the parts of README.md between the markers atomically;
``stale_rows()`` lists the rows whose numbers no longer match the code.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import zoo
from parity.report import atomic_write_text, report_entries
from zoo import weight_sources
from parity.summary import fmt_count, fmt_shape, summarize_registered

START = "<!-- model-table:start -->"
END = "<!-- model-table:end -->"
FAMILY_START = "<!-- family-table:start -->"
FAMILY_END = "<!-- family-table:end -->"
ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REPORT = ROOT / "parity-report.json"
COLUMNS = ("model", "family", "dims", "input", "parameters", "MACs", "weights", "parity")
# The columns a code change can make stale; parity status depends on a run, not on the code.
NUMBER_COLUMNS = ("family", "input", "parameters", "MACs", "weights")
NOT_RUN = "not run"


def _entries(report: str | Path | None) -> list[dict]:
    """The report's per-case entries ([] for no file); ValueError for a file that is not a parity report."""
    if report is None or not Path(report).exists():
        return []
    try:
        entries = report_entries(json.loads(Path(report).read_text()))
        for e in entries:
            e["model"], e["dtype"], bool(e["ok"])  # noqa: B018 (a KeyError says the file is something else)
        return entries
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{report} is not a report of 'python -m parity ... --json': {exc}") from None


def parity_status(report: str | Path | None = REPORT) -> dict[tuple[str, int], str]:
    """(model, dims) -> "pass (float64, float32) at 3x64x64, 9 cases" or "FAIL (float32 asym) at ..." from a
    parity JSON report: the dtypes of the parity-size cases, the input they were checked at, and how many
    cases ran in all (sizes, hot, stochastic, options). A missing file gives {}; a file that is not a
    parity report raises ValueError.
    """
    runs: dict[tuple[str, int], list[tuple[str, str, bool]]] = {}
    inputs: dict[tuple[str, int], str] = {}
    for e in _entries(report):
        if e.get("dims") is None:
            continue
        key = (e["model"], int(e["dims"]))
        case = e.get("case", "parity")
        runs.setdefault(key, []).append((e["dtype"], case, bool(e["ok"])))
        if case == "parity":
            for note in e.get("notes", []):
                if note.startswith("input ["):  # "input [batch, C, H, W]", written by parity.harness
                    inputs[key] = "x".join(note[len("input ["):-1].split(", ")[1:])
    status = {}
    for key, results in runs.items():
        failed = [dtype if case == "parity" else f"{dtype} {case}" for dtype, case, ok in results if not ok]
        dtypes = [dtype for dtype, case, _ in results if case == "parity"] or sorted({d for d, _, _ in results})
        status[key] = f"FAIL ({', '.join(failed)})" if failed else f"pass ({', '.join(dtypes)})"
        if key in inputs:
            status[key] += f" at {inputs[key]}"
        if len(results) > len(dtypes):
            status[key] += f", {len(results)} cases"
    return status


def family_table(report: str | Path | None = REPORT) -> str:
    """Per family, from a parity JSON report: cases run and failed, the seconds of its cases added up
    (each case timed in its worker; with --jobs several run at once, so this is not wall time), the
    longest case, and the largest peak resident memory of one case (parity/peakmem.py)."""
    entries = _entries(report)
    rows = []
    for family in zoo.families():
        members = set(zoo.names(family))
        mine = [e for e in entries if e.get("model") in members]
        if not mine:
            continue
        longest = max(mine, key=lambda e: e.get("seconds", 0.0))
        peaks = [e["peak_rss_mb"] for e in mine if e.get("peak_rss_mb") is not None]
        rows.append(f"| {family} | {len(mine)} | {sum(not e['ok'] for e in mine)} | "
                    f"{sum(e.get('seconds', 0.0) for e in mine) / 60:.1f} min | "
                    f"{longest.get('seconds', 0.0):.0f} s ({longest['model']} {longest.get('dims')}D "
                    f"{longest['dtype']} {longest.get('case', 'parity')}) | "
                    + (f"{max(peaks) / 1024:.1f} GB" if peaks else "not measured") + " |")
    head = ["| family | cases | failed | case time, summed | longest case | peak memory of one case |",
            "| --- | ---: | ---: | ---: | --- | ---: |"]
    return "\n".join(head + rows)


def weights_cell(name: str) -> str:
    """Which published ImageNet weights load into ``name`` (2D; README "Pretrained weights")."""
    return ", ".join(cell for cell in (weight_sources.describe(src, name) for src in weight_sources.SOURCES) if cell)


def model_rows(names: Iterable[str] | None = None, report: str | Path | None = REPORT) -> list[dict[str, str]]:
    """The table's rows as dicts keyed by COLUMNS, in zoo order, 2D before 1D."""
    status = parity_status(report)
    rows = []
    for name in (zoo.names() if names is None else names):
        info = zoo.get(name)
        for dims in (2, 1):
            s = summarize_registered(name, "torch", dims)
            rows.append({"model": name, "family": info.family, "dims": f"{dims}D", "input": fmt_shape(s.input_shape),
                         "parameters": f"{s.trainable:,}", "MACs": fmt_count(s.macs),
                         "weights": weights_cell(name) if dims == 2 else "", "parity": status.get((name, dims), NOT_RUN)})
    return rows


def model_table(names: Iterable[str] | None = None, report: str | Path | None = REPORT) -> str:
    """The Markdown table (and a line saying where the parity status comes from)."""
    rows = model_rows(names, report)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---:" if c in ("parameters", "MACs") else "---"
                                                             for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in rows]
    run = "`python -m parity all --json parity-report.json`"
    status = (f"parity status from `{Path(report).name}` (written by {run}), with the input each model was "
              "checked at"
              if report is not None and Path(report).exists()
              else f"parity status: not run yet ({run}, then regenerate)")
    lines += ["", "Parameters: trainable, at the default configuration. MACs: multiply-accumulates of the weight "
                  "layers (convolutions, Linear) for one input; `python -m parity summary NAME` shows every layer. "
                  "Weights: the published ImageNet files that load with `weights=` (\"no\": published but refused, "
                  "\"converted\": loaded with an exact rewrite; see Pretrained weights). "
                  f"Generated by `python -m parity readme`; {status}."]
    return "\n".join(lines)


def _bounds(text: str, start: str = START, end: str = END) -> tuple[int, int]:
    """Start and end offsets of what lies between the markers; ValueError when they are not there once each."""
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"the README needs exactly one {start} line followed by one {end} line")
    return text.index(start) + len(start), text.index(end)


def replace_table(text: str, table: str, start: str = START, end: str = END) -> str:
    """``text`` with everything between the markers replaced by ``table``."""
    begin, stop = _bounds(text, start, end)
    return text[:begin] + "\n" + table.strip("\n") + "\n" + text[stop:]


def parse_table(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """The rows of the Markdown table between the markers, keyed by (model, dims)."""
    begin, end = _bounds(text)
    lines = [ln.strip() for ln in text[begin:end].splitlines() if ln.strip().startswith("|")]
    if not lines:
        return {}
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for ln in lines[2:]:
        row = dict(zip(header, (c.strip() for c in ln.strip("|").split("|"))))
        rows[(row.get("model", ""), row.get("dims", ""))] = row
    return rows


def stale_rows(text: str, names: Iterable[str] | None = None) -> list[str]:
    """How the README's table differs from the code in NUMBER_COLUMNS (and in which rows exist); [] if current."""
    have = parse_table(text)
    want = {(r["model"], r["dims"]): r for r in model_rows(names, report=None)}
    problems = [f"{m} {d}: missing from the README" for m, d in want if (m, d) not in have]
    problems += [f"{m} {d}: in the README but not registered" for m, d in have if (m, d) not in want]
    for key, row in want.items():
        if key in have:
            problems += [f"{key[0]} {key[1]}: {c} is {have[key].get(c)!r} in the README, {row[c]!r} in the code"
                         for c in NUMBER_COLUMNS if have[key].get(c) != row[c]]
    return problems


def update_readme(readme: str | Path = README, report: str | Path | None = REPORT,
                  names: Iterable[str] | None = None) -> bool:
    """Regenerate the table in ``readme`` in place (atomically); True if the file changed.

    ``names`` limits the table to those models (tests); by default every registered one.
    """
    path = Path(readme)
    text = path.read_text()
    _bounds(text)  # no markers: fail before the minute the table takes
    new = replace_table(text, model_table(names, report))
    if FAMILY_START in new and report is not None and Path(report).exists():  # the per-family times of that run
        new = replace_table(new, family_table(report), FAMILY_START, FAMILY_END)
    if new == text:
        return False
    atomic_write_text(path, new)
    return True
