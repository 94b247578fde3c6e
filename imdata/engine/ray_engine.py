"""Running the per-example stage on Ray Data: read tasks, ``map_batches``, rows spilled to Parquet.

``ray`` reads the inputs with a Ray datasource (any path Ray can read: local files,
``s3://``, ``gs://``; JSONL, JSON, Parquet, CSV, ``.gz``/``.zst``) whose read tasks run the
local reader, runs :func:`imdata.engine.per_example.stage` as ``map_batches`` and writes its
rows as Parquet to the spill folder, which must be empty (or new): only this run's rows are
read back. Ray is imported only here and only for ``--engine ray``. Point it at a cluster
with ``RAY_ADDRESS`` (``ray://head:10001`` or ``auto``); without it a local Ray instance starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from imdata.data import files
from imdata.data.formats import detect_format
from imdata.data.ray_runtime import ray_init
from imdata.engine.batches import RAW_ROWS, datasource, raw_blocks, raw_table
from imdata.engine.per_example import KEYS, StageSpec, stage
from imdata.errors import ImdataError, OptionError

if TYPE_CHECKING:
    import polars as pl


def run_on_ray(path: str, spec: StageSpec, spill: str | None) -> tuple[pl.DataFrame, str]:
    """The stage's rows for one input, in input order, and the format found.

    ``spill``: the folder the rows are written to (default: a temporary folder, removed after).
    """
    ray_init()
    kind = files.kind_of(path)
    if kind == "hub":
        raise OptionError(f"{path}: --engine ray reads files and `datasets` folders, not the hub; use --engine local")
    out = spill or tempfile.mkdtemp(prefix="imdata-ray-")
    try:
        _check_spill(out)
        return _run(path, kind, spec, out)
    finally:
        if spill is None:
            shutil.rmtree(out, ignore_errors=True)


def _run(path: str, kind: str, spec: StageSpec, out: str) -> tuple[pl.DataFrame, str]:
    import polars as pl
    import ray.data

    if kind == "dataset-folder":  # read here by the local reader, in blocks, then staged on Ray
        ds: Any = ray.data.from_arrow(list(raw_blocks(files.iter_raw(path), path)) or [raw_table(path, [])])
    else:
        ds = ray.data.read_datasource(datasource([path]))
    try:
        # a local file's first record is read here; elsewhere Ray reads it (whole first block)
        first = files.iter_raw(path) if os.path.exists(path) else _first_records(ds)
        spec = with_format(spec, first, path)
        rows = ds.map_batches(stage, batch_format="pyarrow", fn_kwargs={"spec": spec}, batch_size=RAW_ROWS)
        rows.write_parquet(out)
    except Exception as e:  # a Ray error wrapping ours becomes ours again
        raise _cause(e) from None
    frame = pl.read_parquet(out if "://" in out else os.path.join(out, "*.parquet"))
    return frame.sort(list(KEYS), maintain_order=True), spec.fmt


def _first_records(ds: Any) -> Iterable[files.RawRecord]:
    from imdata.engine.batches import records_of

    for block in ds.limit(64).iter_batches(batch_format="pyarrow"):
        for _path, rec, _raw in records_of(block):
            yield rec


def with_format(spec: StageSpec, records: Iterable[files.RawRecord], path: str) -> StageSpec:
    """Under ``auto``, the format of the first record that tells one, as the local loader finds it."""
    if spec.fmt != "auto":
        return spec
    for rec in records:
        fmt = None if files.is_bad(rec.value) else detect_format(rec.value)
        if fmt is not None:
            return replace(spec, fmt=fmt, detect=True, fmt_from=rec.index)
    return replace(spec, detect=True, fmt_from=1 << 62)  # no record tells one: each is a bad record


def _check_spill(out: str) -> None:
    """Refuse a spill folder that holds files: its rows would be read back as this run's."""
    import pyarrow.fs as pafs

    try:
        fs, root = pafs.FileSystem.from_uri(out if "://" in out else os.path.abspath(out))
        found = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    except (OSError, ValueError) as e:
        raise OptionError(f"--spill {out}: cannot be listed ({e}); give a folder the cluster can write") from None
    if found:
        raise OptionError(f"--spill {out}: already holds {len(found)} file(s); give an empty or new folder")


def _cause(e: BaseException) -> BaseException:
    """Our own error inside Ray's wrappers (whose text carries a remote traceback), else ``e``."""
    todo: list[BaseException] = [e]
    seen: set[int] = set()
    while todo:
        x = todo.pop(0)
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, ImdataError) and type(x).__module__.startswith("imdata."):
            return x
        todo.extend(c for c in (getattr(x, "cause", None), x.__cause__, x.__context__) if isinstance(c, BaseException))
    return e


__all__ = ["run_on_ray", "with_format"]
