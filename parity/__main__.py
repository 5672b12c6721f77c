"""python -m parity TARGET [TARGET ...]: run the parity checks and print the report.

TARGET is a model name (lenet5), a family (lenet) or ``all``. Exit code 0 only if every
check of every model passed; 1 if one failed; 2 for a usage error; 130 after Ctrl-C,
which prints the summary of the cases done and writes them, marked partial, to --json.

``python -m parity COMMAND ...`` runs a sub-command instead: each lives in its own module
of this package (``parity/cli_<command>.py``, with a ``main(argv) -> int``).

The arguments are parsed and the targets resolved before torch or paddle is imported,
so a usage error or ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import os
import sys
import time
from pathlib import Path

from parity.cases import KINDS  # framework-free (zoo/coverage.py), so --help stays instant

HERE = Path(__file__).resolve().parent


def subcommands() -> dict[str, str]:
    """Sub-command name -> the first line of its module's docstring, read without importing it."""
    found = {}
    for path in sorted(HERE.glob("cli_*.py")):
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        except (OSError, SyntaxError, ValueError):
            doc = ""
        found[path.stem[len("cli_"):]] = doc.strip().splitlines()[0] if doc.strip() else ""
    return found


def is_subcommand(word: str) -> bool:
    """Whether ``word`` names a sub-command: its module exists (no docstring is read, unlike
    ``subcommands``, so the check costs nothing at start-up, where it runs twice)."""
    return word.isidentifier() and (HERE / f"cli_{word}.py").is_file()


def _epilog() -> str:
    lines = ["sub-commands (python -m parity COMMAND --help for each):"]
    for name, doc in subcommands().items():
        # "python -m parity convert --model ...: what it does" -> "what it does"
        summary = doc.split(": ", 1)[1] if doc.startswith("python -m parity") and ": " in doc else doc
        lines.append(f"  {name:<10}{summary}")
    return "\n".join(lines)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m parity", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_epilog(),
        description="Build each model in PyTorch and PaddlePaddle, copy the weights, and check that outputs, "
                    "gradients, BatchNorm statistics, optimizer steps and ONNX exports agree.")
    p.add_argument("targets", nargs="+", metavar="TARGET", help="model name, family name, or 'all'")
    p.add_argument("--dims", type=int, nargs="+", choices=(1, 2), default=[1, 2], help="1D and/or 2D (default both)")
    p.add_argument("--dtype", choices=("both", "float64", "float32"), default="both",
                   help="float64 proves exactness, float32 is what users run (default both)")
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export checks")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--parity-only", action="store_true",
                       help="only the parity-size case of each model, dims and dtype: no other sizes, hot "
                            "activations, live dropout or builder options (see zoo/coverage.py)")
    which.add_argument("--kinds", nargs="+", choices=KINDS, metavar="KIND",
                       help=f"only the cases of these kinds ({', '.join(KINDS)}); hot, stochastic and option "
                            "cases run in float64, or in the one --dtype asked for")
    p.add_argument("--batch", type=_positive, default=None,
                   help="batch size of the test input (default: each model's parity batch, 4 or 2 for the largest)")
    p.add_argument("--size", type=_positive, help="spatial input size (default: each model's parity size)")
    p.add_argument("--brief", action="store_true",
                   help="print only a line as each case starts and ends, and the summary (no per-check tables)")
    p.add_argument("--jobs", type=_positive, metavar="N",
                   help="run the cases in N worker processes with cores/N threads each "
                        "(default: one per core, capped by the number of cases)")
    p.add_argument("--no-bar", action="store_true", help="no progress bar on stderr")
    return p


def _check_size(names: list[str], size: int | None) -> str | None:
    """A usage error for a --size some target cannot take, from the registry (no framework needed)."""
    import zoo

    if size is None:
        return None
    for name in names:
        info = zoo.get(name)
        if size < info.min_size:
            return f"{name} needs an input size of at least {info.min_size}, got --size {size}"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and is_subcommand(argv[0]):
        return importlib.import_module(f"parity.cli_{argv[0]}").main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    from parity.run import INTERRUPTED_EXIT, default_cases, default_jobs, resolve, threads_per_job

    try:
        names = resolve(args.targets)
    except KeyError as exc:
        parser.error(exc.args[0])
    if (problem := _check_size(names, args.size)) is not None:
        parser.error(problem)
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    cases = default_cases(names, args.dims, dtypes, onnx=not args.no_onnx, coverage=not args.parity_only,
                          kinds=args.kinds, batch=args.batch, size=args.size)
    if not cases:
        # --kinds without parity where nothing of those kinds exists (LeNet has no stochastic
        # layer), or with --size, which keeps the parity cases alone.
        why = " (--size runs only the parity cases)" if args.size is not None else ""
        parser.error(f"no case of kind {', '.join(args.kinds or ['parity'])} for {', '.join(args.targets)} "
                     f"in {' and '.join(f'{d}D' for d in args.dims)}{why}")
    jobs = args.jobs or default_jobs(len(cases))
    # A thread count the user set holds for every process; workers set it before torch loads.
    threads = int(os.environ.get("OMP_NUM_THREADS") or threads_per_job(jobs))
    try:
        return _run(args, cases, jobs, threads)
    except KeyboardInterrupt:  # before the first case started (while the frameworks load)
        print("\ninterrupted before any case finished", file=sys.stderr)
        return INTERRUPTED_EXIT


def _run(args: argparse.Namespace, cases, jobs: int, threads: int) -> int:
    # Before paddle is imported: it sets OMP_NUM_THREADS=1 when unset, which would also slow
    # torch in this process; torch takes its thread count from it too.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    from parity.display import Display
    from parity.run import INTERRUPTED_EXIT, RETIRE_ABOVE_MB, run_cases

    start = time.perf_counter()
    print(f"{len(cases)} cases, {jobs} job{'s' if jobs > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}",
          flush=True)
    # With --jobs this process never loads the frameworks: a report unpickles from parity.results.
    display = Display(cases, block=None if args.brief else _report_block, bar=not args.no_bar)
    try:
        result = run_cases(cases, jobs=jobs, threads=threads, listener=display,
                           stop_on=lambda o: o.error_type == "ValueError")
    finally:
        display.close()
    usage = [o for o in result.outcomes if o.error_type == "ValueError"]
    if usage:  # e.g. an input size the architecture does not accept
        print(f"error: {usage[0].message}", file=sys.stderr)
        return 2
    from parity.report import format_summary, write_json

    reports = [_report_of(o) for o in result.outcomes]
    if result.interrupted:
        print(f"\ninterrupted: {len(reports)} of {result.total} cases finished")
    print(format_summary(reports))
    if result.retired:
        print(f"{result.retired} worker{'s' if result.retired > 1 else ''} replaced after a case that left more "
              f"than {RETIRE_ABOVE_MB / 1024:g} GB resident behind it")
    print(f"wall time {time.perf_counter() - start:.1f}s")
    if args.json:
        try:
            write_json(reports, args.json, partial=result.interrupted, total=result.total)
        except OSError as exc:
            print(f"error: cannot write {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.json}{' (partial)' if result.interrupted else ''}")
    if result.interrupted:
        return INTERRUPTED_EXIT
    return 0 if all(r.ok for r in reports) else 1


def _report_block(outcome) -> str:
    from parity.report import format_report

    return format_report(outcome.report)


def _report_of(outcome):
    """The case's report; for a case that raised, a failed one whose ``error`` check says what."""
    if outcome.error is None:
        return outcome.report
    from parity.results import Check, Report

    return Report(outcome.case.name, outcome.case.dims, outcome.case.dtype, seconds=outcome.seconds,
                  checks=[Check("error", False, detail=f"{outcome.error_type}: {outcome.message}")])


def needs_huge_pages(argv: list[str]) -> bool:
    """Whether this command line is worth huge pages (parity/hugepages.py): a sub-command, or a
    run with a registry-heavy target. A run of light models only loses by them: the first
    huge-page allocations of each process cost more than their page faults would
    (``python -m parity lenet`` 9.5-9.8 s without, 10.9-11.1 s with; squeezenet and
    mobilenet_v2 20.4-20.7 s against 23.0-23.1 s; two rounds in turn, 2026-12-05). Decided
    from the words of the command line that name targets, before any parsing: the
    others (a --dims value, a --json path) resolve to nothing and are skipped."""
    if not argv or is_subcommand(argv[0]):
        return True
    import zoo
    from parity.run import resolve

    names: list[str] = []
    for word in argv:
        if word.startswith("-"):
            continue
        try:
            names.extend(resolve([word]))
        except KeyError:
            continue
    return any(zoo.get(n).heavy for n in names)


if __name__ == "__main__":
    # Huge pages for this process and its workers where they pay (parity/hugepages.py). glibc
    # reads its tunable only when a process starts, so the first start begins again, once, with it.
    from parity import hugepages

    if needs_huge_pages(sys.argv[1:]) and (again := hugepages.restart_argv(hugepages.enable())) is not None:
        os.execv(again[0], again)
    from parity.run import leave

    leave(main())  # without the teardown of torch and paddle, where this process loaded them
