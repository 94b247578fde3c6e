"""Run SQL against the DuckDB store (read-only) and render the rows.

>>> result = query("p.duckdb", "SELECT name, ratio FROM profile_datasets")  # doctest: +SKIP
>>> print(result.render("markdown"))                                        # doctest: +SKIP
| name | ratio |
|---|---:|
| lima_data | 0.0942 |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdata.data.escape import csv_safe
from imdata.data.tables import csv_table, json_rows, markdown_table, text_table
from imdata.errors import ImdataError

TABLES_SQL = "SELECT table_name FROM information_schema.tables ORDER BY table_name"
#: the store is opened read-only, cut off from files and the network, and this cannot be undone
#: by the query (``SET``, ``INSTALL``, ``LOAD``, ``ATTACH``, ``COPY``, ``read_csv`` are refused)
LOCKED_DOWN: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


@dataclass(frozen=True)
class QueryResult:
    """The columns and rows a query returned."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per row; a repeated column name gets a ``_2``, ``_3`` suffix."""
        names: list[str] = []
        for c in self.columns:
            name, k = c, 2
            while name in names:
                name, k = f"{c}_{k}", k + 1
            names.append(name)
        return [dict(zip(names, r, strict=True)) for r in self.rows]

    def render(self, fmt: str = "table") -> str:
        """``table``, ``markdown``, ``csv`` or ``json`` (a list of row objects, sorted keys)."""
        if fmt == "json":
            return json_rows(self.to_dicts(), default=str)
        if fmt == "csv":
            return csv_table(self.columns, [["" if v is None else csv_safe(v) for v in r] for r in self.rows])
        cells = [[_cell(v) for v in r] for r in self.rows]
        return (markdown_table if fmt == "markdown" else text_table)(self.columns, cells)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else f"{v:.4g}"
    return str(v)


def query(db: str | Path, sql: str) -> QueryResult:
    """Run ``sql`` against the store at ``db``: read-only, with no access to other files or the network."""
    import duckdb

    if not sql.strip():
        raise ImdataError('the query is empty; give SQL, e.g. "SELECT * FROM profile_datasets"')
    if not Path(db).is_file():
        raise ImdataError(f"--db {db}: no such store; create it with `imdata profile DATA --db {db}`")
    try:
        con = duckdb.connect(str(db), read_only=True, config=LOCKED_DOWN)
    except duckdb.Error as e:
        raise ImdataError(f"--db {db}: cannot open it as a DuckDB file ({e})") from None
    try:
        cur = con.execute(sql)
        if cur.description is None:
            return QueryResult((), ())
        cols = tuple(d[0] for d in cur.description)
        return QueryResult(cols, tuple(cur.fetchall()))
    except duckdb.Error as e:
        msg = str(e).strip().splitlines()[0]
        if not isinstance(e, duckdb.PermissionException) and "locked" not in msg and "read-only" not in msg:
            raise _failed(db, con, msg) from None
        raise ImdataError(
            f"--db {db}: the query was refused ({msg}); `imdata query` only reads the store's own tables, "
            "never other files, extensions or the network"
        ) from None
    finally:
        con.close()


def _failed(db: str | Path, con: Any, msg: str) -> ImdataError:
    tables = ", ".join(r[0] for r in con.execute(TABLES_SQL).fetchall()) or "none yet"
    return ImdataError(f"--db {db}: the query failed: {msg}; the store is read-only here and has the tables {tables}")


__all__ = ["QueryResult", "query"]
