"""Records as parsed, written as a Parquet file: one column per field, in the order fields first appear.

A column keeps the Arrow type its Parquet input gave it (dates, bytes, decimals, nested
lists and structs); other columns get the type Arrow infers from the values. A field whose
values no single column type holds (a number in one record and text in another, as a JSON
input may have) is an :class:`~imdata.errors.OutputError` naming the output, the field and
the fix, raised before anything is written.

>>> table = records_table([{"a": 1, "b": "x"}, {"a": 2}], output="sub.parquet")
>>> table.column_names, table.column("b").to_pylist()
(['a', 'b'], ['x', None])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import IO, Any

from imdata.errors import ImdataError, OutputError


def parquet_types(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """The Arrow type of every top-level column of the Parquet files among ``paths`` (the first input wins)."""
    import pyarrow.parquet as pq

    from imdata.data.files import kind_of, open_binary

    types: dict[str, Any] = {}
    for path in paths:
        p = str(path)
        try:
            if not p or kind_of(p) != "parquet":
                continue
            with open_binary(p) as fh:
                seekable = fh.seekable() and not hasattr(fh, "_fp")
                schema = pq.read_schema(fh if seekable else _buffer(fh))
        except (ImdataError, OSError, ValueError):
            continue  # the file was read once already; a type lost here is inferred from the values
        for field in schema:
            types.setdefault(field.name, field.type)
    return types


def _buffer(fh: IO[bytes]) -> Any:
    import io

    return io.BytesIO(fh.read())


def records_table(
    records: Sequence[Mapping[str, Any]], *, output: str | os.PathLike[str], types: Mapping[str, Any] | None = None
) -> Any:
    """A ``pyarrow.Table`` of ``records``; ``types`` gives known column types by field name."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    columns = {name: _column([r.get(name) for r in records], name, output, (types or {}).get(name)) for name in names}
    return pa.table(columns) if columns else pa.table({})


def write_parquet(table: Any, fh: IO[bytes], *, output: str | os.PathLike[str]) -> None:
    """Write ``table`` to ``fh`` as Parquet, one clear error if Parquet cannot hold it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(table, fh)
    except (pa.ArrowException, ValueError) as e:
        raise OutputError(f"{output}: Parquet cannot hold these records ({_first_line(e)}); {_fix(output)}") from None


def _column(values: list[Any], name: str, output: str | os.PathLike[str], known: Any) -> Any:
    import pyarrow as pa

    bad = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError)
    if known is not None:
        try:
            return pa.array(values, type=known)
        except bad:
            pass  # the record holds something else now (a JSON string decoded to a list): infer
    try:
        return pa.array(values)
    except bad as e:
        kinds = sorted({_kind(v) for v in values if v is not None})
        what = (
            " and ".join(kinds) if len(kinds) > 1 else f"values one column type cannot hold ({_first_line(e)})"
        )  # fmt: skip
        raise OutputError(f"{output}: field {name!r} holds {what}, which Parquet cannot keep in one column; "
                          f"{_fix(output)}") from None  # fmt: skip


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "numbers"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "lists"
    if isinstance(value, dict):
        return "objects"
    return type(value).__name__


def _fix(output: str | os.PathLike[str]) -> str:
    name = PurePath(output).name
    stem = name[: -len(".parquet")] if name.lower().endswith(".parquet") else PurePath(name).stem
    return f"write JSONL instead (-o {stem}.jsonl), which keeps every record as it is"


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__


__all__ = ["parquet_types", "records_table", "write_parquet"]
