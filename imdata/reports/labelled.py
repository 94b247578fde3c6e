"""Read pre-tokenized training rows as trainers save them: ``input_ids`` and what carries the loss.

A row is ``input_ids`` with either ``labels`` (-100 where no loss, the Hugging Face
convention; labels are aligned with ``input_ids``, the model shifts them) or a 0/1 mask
column (TRL's ``assistant_masks`` / ``completion_mask``, or any name given as
``mask_column``), 1 where the token carries the loss. Containers: a ``datasets.save_to_disk``
folder, JSONL (or a JSON list), Parquet.

>>> rows = read_labelled("train_im/")  # doctest: +SKIP
>>> rows.column, len(rows.input_ids)    # doctest: +SKIP
('labels', 1030)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imdata.errors import DataError

#: 0/1 loss-mask columns recognised without ``mask_column``, in this order, after ``labels``
MASK_COLUMNS = ("assistant_masks", "completion_mask")
IGNORE_INDEX = -100


@dataclass(frozen=True)
class LabelledRows:
    """The rows of a labels file: token ids and, per position, whether it carries the loss."""

    path: str
    column: str  # ``labels`` or the 0/1 mask column that was read
    ids: tuple[str, ...] | None  # the rows' ``id`` column, when there is one
    input_ids: tuple[np.ndarray, ...]
    trained: tuple[np.ndarray, ...]  # bool per position
    not_input: int  # labelled positions whose label is not the input id there (shifted labels?)

    def __len__(self) -> int:
        return len(self.input_ids)


def read_labelled(path: str | Path, *, mask_column: str | None = None) -> LabelledRows:
    """Read ``input_ids`` and the loss positions of every row of ``path``.

    Args:
        path: a ``datasets.save_to_disk`` folder, a ``.jsonl``/``.json`` file or a ``.parquet`` file.
        mask_column: read this 0/1 column (1 = in the loss) instead of ``labels``; by default
            ``labels``, else the first of :data:`MASK_COLUMNS` the file has.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(str(p), "", "", "does not exist", "pass the labels file or folder a trainer saved")
    columns, rows = _open(p)
    column = _pick_column(str(p), columns, mask_column)
    if "input_ids" not in columns:
        raise DataError(
            str(p), "", "input_ids", f"is missing (columns: {', '.join(sorted(columns))})", "pass pre-tokenized rows"
        )
    idents: list[Any] = []
    input_ids: list[np.ndarray] = []
    trained: list[np.ndarray] = []
    not_input = 0
    for where, ids, lab, ident in rows(column):
        a = _ints(ids, str(p), where, "input_ids")
        b = _ints(lab, str(p), where, column)
        if len(a) != len(b):
            raise DataError(
                str(p), where, column, f"has {len(b)} values and `input_ids` {len(a)}", "they must be aligned"
            )
        if column == "labels":
            t = b != IGNORE_INDEX
            not_input += int((b[t] != a[t]).sum())
        else:
            if b.size and not np.isin(b, (0, 1)).all():
                bad = int(b[~np.isin(b, (0, 1))][0])
                raise DataError(
                    str(p), where, column, f"holds {bad}; a loss mask is 0 or 1", "name the mask with --mask-column"
                )
            t = b == 1
        input_ids.append(a.astype(np.int32) if a.size and a.min() >= 0 and a.max() < 2**31 else a)
        trained.append(t)
        idents.append(ident)
    ids = None
    if "id" in columns and all(isinstance(v, str | int) and not isinstance(v, bool) for v in idents):
        ids = tuple(str(v) for v in idents)
    return LabelledRows(str(p), column, ids, tuple(input_ids), tuple(trained), not_input)


def _pick_column(path: str, columns: Sequence[str], mask_column: str | None) -> str:
    if mask_column is not None:
        if mask_column not in columns:
            raise DataError(
                path,
                "",
                mask_column,
                f"is not a column (columns: {', '.join(sorted(columns))})",
                "choose one of them with --mask-column",
            )
        return mask_column
    for c in ("labels", *MASK_COLUMNS):
        if c in columns:
            return c
    raise DataError(
        path,
        "",
        "labels",
        f"is missing, and so is a loss mask ({', '.join(MASK_COLUMNS)}); columns: {', '.join(sorted(columns))}",
        "name the 0/1 mask column with --mask-column",
    )


def _ints(value: Any, path: str, where: str, field: str) -> np.ndarray:
    if value is None or isinstance(value, str | bytes | dict):
        raise DataError(path, where, field, "is not a list of integers", "pass pre-tokenized rows")
    try:
        arr = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(path, where, field, "is not a list of integers", "pass pre-tokenized rows") from None
    if arr.ndim != 1:
        raise DataError(path, where, field, f"has {arr.ndim} dimensions; expected one row", "pass one row per example")
    return arr


Rows = Callable[[str], Iterator[tuple[str, Any, Any, Any]]]


def _open(p: Path) -> tuple[list[str], Rows]:
    """The column names, and a reader of ``(where, input_ids, column, id)`` row by row.

    Rows are read one at a time (Arrow in batches), so memory holds the arrays kept, not
    the parsed file.
    """
    if p.is_dir():
        return _arrow(_folder_table(p))
    name = p.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(p)
        except Exception as e:  # pyarrow raises several unrelated types
            raise DataError(str(p), "", "", f"is not a readable Parquet file ({str(e)[:160]})") from None
        return _arrow(table)
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return _json(p)
    raise DataError(
        str(p), "", "", "is not a datasets folder, .jsonl, .json or .parquet file", "save the labels in one of those"
    )


def _arrow(table: Any) -> tuple[list[str], Rows]:
    names = list(table.column_names)

    def rows(column: str) -> Iterator[tuple[str, Any, Any, Any]]:
        n = 0
        for batch in table.to_batches(max_chunksize=1024):
            cols = {c: batch.column(c).to_pylist() for c in {"input_ids", column, "id"} if c in names}
            ident = cols.get("id", [None] * batch.num_rows)
            for ids, lab, i in zip(cols["input_ids"], cols[column], ident, strict=True):
                n += 1
                yield f"row {n}", ids, lab, i

    return names, rows


def _folder_table(p: Path) -> Any:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except (FileNotFoundError, ValueError) as e:
        raise DataError(str(p), "", "", f"is not a datasets.save_to_disk folder ({str(e)[:160]})") from None
    if isinstance(ds, datasets.DatasetDict):
        splits = list(ds)
        if len(splits) != 1 and "train" not in splits:
            raise DataError(
                str(p), "", "", f"holds several splits ({', '.join(splits)}) and none is `train`", "save one split"
            )
        ds = ds["train"] if "train" in splits else ds[splits[0]]
    return ds.data.table


def _json(p: Path) -> tuple[list[str], Rows]:
    import orjson

    with p.open("rb") as fh:
        head = fh.read(4096).lstrip()
    if head[:1] == b"[":
        try:
            records = orjson.loads(p.read_bytes())
        except orjson.JSONDecodeError as e:
            raise DataError(str(p), "", "", f"is not valid JSON ({e})") from None
        numbered: Any = ((f"record {i + 1}", r) for i, r in enumerate(records))
        first = records[0] if records else {}
    else:
        numbered = _lines(p)
        first = next(_lines(p), ("", {}))[1]
    names = list(first) if isinstance(first, dict) else []

    def rows(column: str) -> Iterator[tuple[str, Any, Any, Any]]:
        for where, rec in numbered:
            if not isinstance(rec, dict):
                raise DataError(str(p), where, "", "is not a JSON object", "write one object per row")
            yield where, rec.get("input_ids"), rec.get(column), rec.get("id")

    return names, rows


def _lines(p: Path) -> Iterator[tuple[str, Any]]:
    import orjson

    with p.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {n}", orjson.loads(line)
            except orjson.JSONDecodeError:
                raise DataError(str(p), f"line {n}", "", "is not valid JSON", "fix or remove the line") from None


__all__ = ["IGNORE_INDEX", "MASK_COLUMNS", "LabelledRows", "read_labelled"]
