"""Keep the frameworks' own noise, and every network use, out of the project's runs.

``before_imports()`` runs in parity/__init__.py before torch, paddle or onnxruntime is
imported, ``import_paddle()`` imports paddle right after it, and ``onnxruntime_loaded(ort)``
runs in parity/onnx_check.py once onnxruntime is imported:

- onnxruntime 1.32 on Linux sends usage telemetry (1DS) to mobile.events.data.microsoft.com
  and keeps a store under ~/.cache/Microsoft/DeveloperTools. ``ORT_DISABLE_TELEMETRY=1``,
  read when the library loads, turns all of it off; ``disable_telemetry_events()`` alone
  does not (it was tried). This one is not undone by ZOO_VERBOSE: a run makes no network
  lookup, ever.
- onnxruntime logs a yellow "Removing initializer ..." warning for files paddle2onnx writes:
  its log level is set to errors.
- paddle warns "No ccache found" (a UserWarning) and prints "OMP_NUM_THREADS set to N, not 1"
  when imported; ``GLOG_minloglevel=2`` keeps its C++ INFO and WARNING lines out.

``ZOO_VERBOSE=1`` in the environment leaves the libraries' messages as they are.
A script that imports paddle before parity (or paddle_impl) gets paddle's import messages
before any of this runs: import parity first.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from types import ModuleType
from typing import Any, Iterator

PADDLE_IMPORT_LINES = ("WARNING: OMP_NUM_THREADS set to", "PLEASE USE OMP_NUM_THREADS WISELY")
ORT_LOG_ERRORS = 3  # onnxruntime severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal


def verbose() -> bool:
    """True when ZOO_VERBOSE asks for the libraries' own messages."""
    return os.environ.get("ZOO_VERBOSE", "") not in ("", "0")


def before_imports() -> None:
    """Environment and warning filters that must be in place before the frameworks load."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    if verbose():
        return
    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", message="No ccache found")


@contextlib.contextmanager
def _drop_stderr_lines(prefixes: tuple[str, ...]) -> Iterator[None]:
    """Python-level writes to sys.stderr, minus lines starting with ``prefixes``, passed on afterwards."""
    saved, buffer = sys.stderr, io.StringIO()
    sys.stderr = buffer
    try:
        yield
    finally:
        sys.stderr = saved
        kept = [ln for ln in buffer.getvalue().splitlines(keepends=True) if not ln.startswith(prefixes)]
        if kept:
            saved.write("".join(kept))


def import_paddle() -> ModuleType:
    """``import paddle`` without its import-time OMP_NUM_THREADS lines (other output passes)."""
    if "paddle" in sys.modules or verbose():
        import paddle

        return paddle
    with _drop_stderr_lines(PADDLE_IMPORT_LINES):
        import paddle
    return paddle


def onnxruntime_loaded(ort: Any) -> None:
    """Settings made once onnxruntime is imported (imported before ``before_imports`` ran, its
    telemetry events are at least switched off)."""
    ort.disable_telemetry_events()
    if not verbose():
        ort.set_default_logger_severity(ORT_LOG_ERRORS)
