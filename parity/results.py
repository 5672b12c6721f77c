"""What a check and a case produce: ``Check`` and ``Report``, plain data.

Kept free of torch and paddle: a ``--jobs`` run's parent process unpickles every case's
report, and with these classes beside the checks it loaded both frameworks (3 s of a core
the workers were using) on the first result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    """One comparison: its errors, the tolerance, and a verdict."""

    name: str
    passed: bool
    max_abs: float | None = None
    max_rel: float | None = None
    norm_rel: float | None = None
    tol: float | None = None
    metric: str | None = None
    detail: str = ""

    def ratio(self) -> float | None:
        """The judged error over the tolerance (<= 1 passes); None for exact or count checks."""
        value = getattr(self, self.metric or "", None) if self.metric in ("max_rel", "norm_rel") else None
        if value is None or not self.tol:
            return None
        return value / self.tol

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Report:
    """Result of one torch/paddle comparison: ``ok`` is True only if every check passed."""

    model: str
    dims: int | None
    dtype: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Which kind of run this was (parity/harness.py's cases): "parity", "asym 17", "real 224",
    # "hot", "stochastic", "option width=0.5", ...
    case: str = "parity"
    # The case's peak resident memory in MiB (parity/peakmem.py), where the runner measured it.
    peak_rss_mb: float | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; have {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        out = {"model": self.model, "dims": self.dims, "dtype": self.dtype, "case": self.case, "ok": self.ok,
               "seconds": round(self.seconds, 3), "notes": self.notes, "checks": [c.to_dict() for c in self.checks]}
        if self.peak_rss_mb is not None:
            out["peak_rss_mb"] = round(self.peak_rss_mb, 1)
        return out

    def __str__(self) -> str:
        from parity.report import format_reports

        return format_reports([self])
