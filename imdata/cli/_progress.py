"""The one progress display of every command: tqdm on stderr.

On a terminal: a bar with the total and an ETA where the input's size is known up front
(Parquet, ``datasets`` folders, inputs already loaded), else a running count and rate.
When stderr is not a terminal (nohup, Slurm, CI logs): one plain line every
``IMDATA_PROGRESS_SECONDS`` seconds (default 10) with the count and rate, and one at the end,
so a log shows that the job is alive without filling up (no line at the start, when there is
nothing to count yet). ``--quiet`` silences it.
"""

from __future__ import annotations

import os
import sys
import weakref
from typing import IO, Any

_QUIET = False
#: every display with an open bar, so that :func:`close_all` can end them before an error
_OPEN: weakref.WeakSet[Progress] = weakref.WeakSet()


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) progress for this process; ``--quiet`` calls it."""
    global _QUIET
    _QUIET = quiet


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into whole lines (for logs).

    Left out: the first line, tqdm's "0 done, rate ?" drawn when the bar opens, and a line
    whose count the previous one already showed (the closing redraw after the last update).
    """

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.opened = False
        self.last = ""

    def write(self, s: str) -> None:
        text = s.replace("\r", "").replace("\x1b[A", "").strip()
        count = text.split(" [", 1)[0]
        if text and not self.opened:
            self.opened = True
        elif text and count != self.last:
            self.fh.write(text + "\n")
            self.last = count

    def flush(self) -> None:
        self.fh.flush()


class Progress:
    """Called as ``progress(name, done, total)`` by the library; one bar per input name."""

    def __init__(self, label: str, *, unit: str = "records") -> None:
        self.label, self.unit = label, unit
        self.bar: Any = None
        self.name: str | None = None
        self.disabled = _QUIET

    def __call__(self, name: str, done: int, total: int | None = None) -> None:
        if self.disabled:
            return
        if name != self.name:
            self.close()
            self.bar = self._open(name, total)
            self.name = name
            _OPEN.add(self)
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def _open(self, name: str, total: int | None) -> Any:
        from tqdm import tqdm

        tty = sys.stderr.isatty()
        common: dict[str, Any] = {
            "total": total,
            "desc": f"{self.label} {name}",
            "unit": f" {self.unit}",
            "unit_scale": False,
            "smoothing": 0.05,
            "leave": True,
        }
        if tty:
            return tqdm(file=sys.stderr, dynamic_ncols=True, mininterval=0.5, delay=0.5, **common)
        seconds = float(os.environ.get("IMDATA_PROGRESS_SECONDS", "10"))
        fmt = "{desc}: {n_fmt}" + ("/{total_fmt}" if total else "") + "{unit} [{elapsed}, {rate_fmt}]"
        return tqdm(file=_Lines(sys.stderr), mininterval=seconds, maxinterval=seconds, bar_format=fmt, **common)

    def close(self) -> None:
        """End the current bar (its last line stays on stderr)."""
        _OPEN.discard(self)
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.name = None


def close_all() -> None:
    """End every open bar, so that what is said next (an error, a summary) is the last on stderr."""
    for display in list(_OPEN):
        display.close()
