"""The parity report: a text table for people, JSON for machines (written atomically)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from parity.results import Report
from zoo import files


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


def format_report(r: Report) -> str:
    """One block: a header line, then a line per check with its errors and tolerance."""
    head = f"{r.model}  dims={r.dims}  {r.dtype}  [{r.case}]  {'PASS' if r.ok else 'FAIL'}  ({r.seconds:.1f}s)"
    lines = [head, f"  {'check':<18}{'status':<7}{'max_abs':>9}{'max_rel':>9}{'norm_rel':>9}  {'tol':<16}detail"]
    for c in r.checks:
        tol = "-" if c.tol is None else f"{c.metric}<={c.tol:.0e}"
        lines.append(f"  {c.name:<18}{'ok' if c.passed else 'FAIL':<7}{_num(c.max_abs):>9}{_num(c.max_rel):>9}"
                     f"{_num(c.norm_rel):>9}  {tol:<16}{c.detail}")
    for note in r.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def format_summary(reports: Sequence[Report]) -> str:
    """One line per model, dims and dtype: the verdict and the worst error as a fraction of its tolerance."""
    lines = [f"{'model':<26}{'dims':>4}  {'dtype':<8}{'case':<26}{'result':<7}{'checks':>7}  {'worst err/tol':>13}  failed"]
    for r in reports:
        ratios = [c.ratio() for c in r.checks if c.ratio() is not None]
        failed = ", ".join(c.name for c in r.failed())
        lines.append(f"{r.model:<26}{r.dims!s:>4}  {r.dtype:<8}{r.case:<26}{'PASS' if r.ok else 'FAIL':<7}{len(r.checks):>7}"
                     f"  {_num(max(ratios) if ratios else None):>13}  {failed}")
    n_fail = sum(not r.ok for r in reports)
    lines.append(f"{len(reports) - n_fail} passed, {n_fail} failed")
    return "\n".join(lines)


def format_reports(reports: Sequence[Report], brief: bool = False) -> str:
    parts = [] if brief else [format_report(r) for r in reports]
    parts.append(format_summary(reports))
    return "\n\n".join(parts)


def write_json(reports: Sequence[Report], path: str | Path, *, partial: bool = False, total: int | None = None) -> None:
    """Write the reports as JSON via a temp file and a rename, so an interrupt leaves no half file.

    The document is ``{"partial": ..., "cases": ..., "reports": [...]}``: ``partial`` is true
    when the run was stopped (Ctrl-C) before all ``cases`` finished."""
    doc = {"partial": partial, "cases": len(reports) if total is None else total,
           "reports": [r.to_dict() for r in reports]}
    atomic_write_text(path, json.dumps(doc, indent=1, default=float))


def report_entries(doc: Any) -> list[dict[str, Any]]:
    """The per-case entries of a JSON report: today's document, or the bare list written before "partial" existed."""
    entries = doc["reports"] if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise TypeError(f"expected a list of reports, got {type(entries).__name__}")
    return entries


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` atomically (zoo/files.py: temp file, rename, umask permissions, one-line errors)."""
    files.remove_stale_temps(Path(path).parent)
    files.write_text(path, text)
