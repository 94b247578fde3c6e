r"""The one table renderer and number formatter of every report: aligned text, markdown, CSV, JSON.

Text tables put the first ``left`` columns (names) left and the rest (numbers) right, two
spaces apart, with no trailing spaces; markdown escapes ``|`` in every cell so a name or a
text that holds one cannot break the table; CSV and JSON are for programs.

>>> print(text_table(["run", "mean"], [["a|b", "1.50"], ["c", "12.00"]]))
run   mean
---  -----
a|b   1.50
c    12.00
>>> print(markdown_table(["run", "mean"], [["a|b", "1.50"]]))
| run | mean |
|---|---:|
| a\|b | 1.50 |
>>> num(1234), num(0.5), num(None), num(2.0, 4, missing="", grouping=False)
('1,234', '0.50', '-', '2.0000')
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any


def num(x: float | int | None, digits: int = 2, *, missing: str = "-", grouping: bool = True) -> str:
    """A number as a table shows it: ints whole, floats with ``digits`` decimals, ``missing`` for None."""
    if x is None:
        return missing
    comma = "," if grouping else ""
    if isinstance(x, int):
        return f"{x:{comma}}"
    return f"{x:{comma}.{digits}f}"


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1, rule: bool = True) -> str:
    """Aligned text: the first ``left`` columns left, the others right; ``rule`` draws dashes under the head."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    dashes = ["  ".join("-" * w for w in widths)] if rule else []
    return "\n".join([line(head), *dashes, *(line(r) for r in rows)])


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """A GitHub markdown table: the first ``left`` columns left-aligned, the others right; ``|`` escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join("---" if i < left else "---:" for i in range(len(head))) + "|"
    return "\n".join([line(head), rule, *(line(r) for r in rows)])


def csv_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header row, newline line ends and no final newline; None is an empty cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(rows)
    return buf.getvalue().rstrip("\n")


def json_rows(rows: Sequence[Mapping[str, Any]], *, default: Any = None) -> str:
    """Rows as a JSON list of objects: sorted keys, two-space indent, UTF-8 as is."""
    import orjson

    return orjson.dumps(list(rows), default=default, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()


def render_rows(rows: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """Rows as an aligned ``table`` (every column left), ``csv``, ``markdown`` or ``json`` (sorted keys).

    >>> print(render_rows([{"part": "train", "examples": 9}], "markdown"))
    | part | examples |
    |---|---|
    | train | 9 |
    """
    if fmt == "json":
        return json_rows(rows)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [["" if r.get(c) is None else str(r.get(c)) for c in cols] for r in rows]
    if fmt == "csv":
        return csv_table(cols, cells)
    if fmt == "markdown":
        return markdown_table(cols, cells, left=len(cols))
    return text_table(cols, cells, left=len(cols), rule=False)


__all__ = ["csv_table", "json_rows", "markdown_table", "num", "render_rows", "text_table"]
