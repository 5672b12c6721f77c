"""The cases the harness runs for a model (framework-free, so the CLI can list them before
torch or paddle loads): the parity size in each dtype, then what zoo/coverage.py says a
check must also reach: the asym and real sizes, hot activations, live stochastic layers,
and every builder option and rate at a non-default value."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import zoo.coverage as coverage_spec


# Every kind of case, in the order a model's cases run (``--kinds`` picks among them).
KINDS = ("parity", "asym", "real", "hot", "stochastic", "option")
# Kinds whose case runs the eval forward only (no train-mode checks, no optimizer steps).
EVAL_ONLY = ("real", "hot", "eval")


def label(kind: str, options: dict[str, Any] | None) -> str:
    """A case's key: its kind, then the builder options it sets ("option:width=0.5")."""
    return kind + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")


@dataclass(frozen=True)
class Case:
    """One run of ``run_model``: a model, dims, dtype, the kind of case, its input size and
    builder options."""

    name: str
    dims: int
    dtype: str
    kind: str = "parity"
    size: int | None = None
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """"parity", "asym", "real", "hot", "stochastic", "option:width=0.5", ..."""
        return label(self.kind, dict(self.options))

    def run(self, **kw: Any) -> Any:
        """The case's Report (parity.harness.run_model; torch and paddle load here)."""
        from parity.harness import run_model

        return run_model(self.name, self.dims, self.dtype, kind=self.kind, size=self.size,
                         options=dict(self.options) or None, **kw)


def cases(name: str, dims: Iterable[int] = (1, 2), dtypes: Iterable[str] = ("float64", "float32"),
          coverage: bool = True, kinds: Iterable[str] | None = None) -> list[Case]:
    """Every case the harness runs for ``name`` (zoo/coverage.py says what and why): the parity
    size in each dtype; then, with ``coverage``, the asym and real sizes in each dtype, and in
    float64 (or the one dtype asked for) the hot run, the stochastic layers live, each
    builder option that changes the computation, and each stochastic rate. Only the cases
    of ``kinds`` are returned (None: every kind)."""
    kinds = set(KINDS if kinds is None else kinds)
    if unknown := kinds - set(KINDS):
        raise ValueError(f"unknown case kind(s) {sorted(unknown)}; known: {', '.join(KINDS)}")
    if not coverage:
        kinds &= {"parity"}
    dtypes = list(dtypes)
    wide = "float64" if "float64" in dtypes else dtypes[0]
    out: list[Case] = []
    for d in dims:
        sizes = coverage_spec.sizes(name, d)
        out.extend(Case(name, d, dt) for dt in dtypes)
        for kind in ("asym", "real"):
            if kind in sizes:
                out.extend(Case(name, d, dt, kind, sizes[kind]) for dt in dtypes)
        out.append(Case(name, d, wide, "hot"))
        opts = coverage_spec.options(name)
        if any(o.kind == coverage_spec.RATE for o in opts):
            out.append(Case(name, d, wide, "stochastic"))
        for o in opts:
            kind = {coverage_spec.COMPUTATION: "option", coverage_spec.RATE: "stochastic"}.get(o.kind)
            if kind is not None:
                out.extend(Case(name, d, wide, kind, o.size, tuple(kw.items())) for kw in o.cases())
    return [c for c in out if c.kind in kinds]


