r"""Make data safe to look at: no terminal control sequences, no spreadsheet formulas.

A dataset is text from strangers. Printed as is, ``\x1b]0;...\x07`` retitles the terminal,
``\x1b[2J`` clears it and OSC 8 hides a link: the very view used to check a mask by eye
could be repainted. Opened in a spreadsheet, a cell that begins with ``=`` runs as a formula.

>>> terminal_safe("ok\x1b[2Jgone\u202e")
'ok\\x1b[2Jgone\\u202e'
>>> csv_safe('=HYPERLINK("http://x")'), csv_safe("-0.5"), csv_safe(-0.5)
('\'=HYPERLINK("http://x")', "'-0.5", -0.5)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

# C0 controls but tab and newline, DEL, C1 controls, and the bidi overrides that reorder text
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: a cell beginning with one of these is a formula to Excel, LibreOffice and Google Sheets
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def terminal_safe(text: str) -> str:
    """``text`` with every control character shown as its escape (a backslash form), so nothing is executed."""
    return _CONTROL.sub(_escaped, text)


def _escaped(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def csv_safe(value: Any) -> Any:
    """A string cell that a spreadsheet would run as a formula gets a leading ``'``; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`csv_safe` on every string column of a polars frame."""
    import polars as pl

    starts = "^[" + re.escape("".join(FORMULA_START)) + "]"
    cols = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(starts)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in cols
    )


__all__ = ["FORMULA_START", "csv_safe", "csv_safe_frame", "terminal_safe"]
