"""What ``python -m parity`` shows while it runs: a line as each case starts and ends, the
full report block of each (unless ``--brief``), and a tqdm bar with an ETA over the cases on
stderr whose text names the check each long-running case is in."""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Sequence, TextIO

from parity.run import Case, Listener, Outcome

# A running case shows its check on the bar once it has run this long.
SHOW_PHASE_AFTER_S = 3.0
# How often the bar is redrawn when stderr is a file or a pipe (a CI log): every redraw
# there is another line's worth of text.
LOG_REDRAW_S = 30.0


def verdict(outcome: Outcome) -> str:
    """PASS, FAIL or ERROR (the case raised instead of reporting)."""
    if outcome.error is not None:
        return "ERROR"
    return "PASS" if outcome.report.ok else "FAIL"


class Display(Listener):
    """Prints start and end lines to ``out`` and keeps a progress bar on ``err``.

    ``block`` makes the text printed after an end line (the report table); None prints
    none (``--brief``)."""

    def __init__(self, cases: Sequence[Case], *, block: Callable[[Outcome], str] | None = None,
                 out: TextIO | None = None, err: TextIO | None = None, bar: bool = True) -> None:
        from tqdm import tqdm

        self.cases = cases
        self.block = block
        self.out = out or sys.stdout
        self._width = len(str(len(cases)))
        self._running: dict[int, tuple[float, str]] = {}  # index -> (start time, check)
        self._lock = threading.Lock()
        err = self.err = err or sys.stderr
        self._redraw_s = 0.0 if err.isatty() else LOG_REDRAW_S
        self._drawn = 0.0
        self.bar = tqdm(total=len(cases), unit="case", file=err, disable=not bar, mininterval=1.0 + self._redraw_s,
                        dynamic_ncols=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}")

    def _tag(self, index: int) -> str:
        return f"[{index + 1:>{self._width}}/{len(self.cases)}]"

    def _write(self, text: str) -> None:
        self.bar.write(text, file=self.out)
        self.out.flush()

    def started(self, index: int, case: Case) -> None:
        with self._lock:
            self._running[index] = (time.perf_counter(), "start")
            self._write(f"start {self._tag(index)} {case.title}")

    def phase(self, index: int, name: str) -> None:
        with self._lock:
            if index in self._running:
                self._running[index] = (self._running[index][0], name)
        self.tick()

    def ended(self, index: int, outcome: Outcome) -> None:
        with self._lock:
            self._running.pop(index, None)
            line = f"{verdict(outcome):<5} {self._tag(index)} {outcome.case.title}  {outcome.seconds:.1f}s"
            if outcome.error is not None:
                line += f"  {outcome.error_type}: {outcome.message}"
            elif not outcome.report.ok:
                line += "  failed: " + ", ".join(c.name for c in outcome.report.failed())
            self._write(line)
            if outcome.error is not None and outcome.error_type != "ValueError":
                self.bar.write(outcome.error.rstrip(), file=self.err)
            if self.block is not None and outcome.report is not None:
                self._write(self.block(outcome) + "\n")
            self.bar.update(1)
        self.tick()

    def tick(self) -> None:
        """Name the check of every case that has run longer than SHOW_PHASE_AFTER_S."""
        now = time.perf_counter()
        with self._lock:
            if now - self._drawn < self._redraw_s:
                return
            self._drawn = now
            shown = [f"{self.cases[i].title}: {check} {now - t0:.0f}s" for i, (t0, check) in sorted(self._running.items())
                     if now - t0 >= SHOW_PHASE_AFTER_S]
            self.bar.set_postfix_str(" | ".join(shown), refresh=True)

    def close(self) -> None:
        self.bar.close()
