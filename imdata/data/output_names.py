"""What an output's name says it holds: a compression and a container, written as named or refused.

``x.jsonl.gz`` is gzip and ``x.jsonl.zst`` zstandard, the two compressions imdata reads
(:func:`imdata.data.readers.decompressed`), so every output gains them through the one
writer. ``x.parquet`` is Parquet where the writer can produce it (copies of selected
records). A name whose suffix is a format a writer cannot produce (``.csv``, ``.arrow``,
``.xlsx``, ``.bz2`` ...) is refused before any work; a name with no suffix, or one imdata
does not know, is written as JSONL, so ``-o out`` keeps working.

>>> compression("train.jsonl.ZST"), container("train.jsonl.zst"), container("out")
('zstd', 'jsonl', None)
>>> check_name("sub.csv", option="-o", writes="prompts writes prompt JSONL", fix="name it .jsonl")
Traceback (most recent call last):
imdata.errors.OutputError: -o sub.csv: prompts writes prompt JSONL, not CSV; name it .jsonl
"""

from __future__ import annotations

import os
from pathlib import PurePath

from imdata.errors import OutputError

#: the compressions imdata reads, by suffix; it writes exactly these
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
#: compressions imdata does not read, so it does not write them either
_OTHER_COMPRESSIONS = (".bz2", ".xz", ".lzma", ".lz4", ".br", ".zip", ".7z", ".tar", ".tgz")
_JSON = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
#: suffixes that name a container other than JSON, with the name a user knows it by
_OTHER = {
    ".parquet": "Parquet",
    ".pq": "Parquet",
    ".csv": "CSV",
    ".tsv": "TSV",
    ".arrow": "Arrow",
    ".feather": "Arrow (Feather)",
    ".ipc": "Arrow",
    ".xlsx": "Excel",
    ".xls": "Excel",
    ".ods": "a spreadsheet",
    ".avro": "Avro",
    ".orc": "ORC",
    ".h5": "HDF5",
    ".hdf5": "HDF5",
    ".pkl": "a pickle",
    ".pickle": "a pickle",
    ".npy": "NumPy",
    ".npz": "NumPy",
    ".db": "a database",
    ".duckdb": "a database",
    ".sqlite": "a database",
}


def compression(path: str | os.PathLike[str]) -> str | None:
    """``gzip``, ``zstd`` or ``None``, by the name's last suffix (any case)."""
    return COMPRESSIONS.get(PurePath(path).suffix.lower())


def bare_name(path: str | os.PathLike[str]) -> str:
    """The lower-case file name without its compression suffix: ``X.JSONL.gz`` -> ``x.jsonl``."""
    name = PurePath(path).name.lower()
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def container(path: str | os.PathLike[str]) -> str | None:
    """``jsonl``, ``json``, ``parquet``, another known format's name (``CSV``), or ``None`` if unknown."""
    suffix = PurePath(bare_name(path)).suffix
    if suffix in _JSON:
        return _JSON[suffix]
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return _OTHER.get(suffix)


def check_name(
    path: str | os.PathLike[str], *, option: str, writes: str, fix: str, allowed: tuple[str, ...] = ("jsonl", "json")
) -> None:
    """Refuse ``path`` when its name says a format or compression the writer does not produce.

    ``writes`` says what the writer produces (``spans writes span JSONL``), ``fix`` how to name
    it; ``allowed`` are the containers it can write. Unknown suffixes pass (written as JSONL).
    """
    name = PurePath(path).name.lower()
    for suffix in _OTHER_COMPRESSIONS:
        if name.endswith(suffix):
            raise OutputError(
                f"{option} {path}: imdata compresses outputs as .gz or .zst only (the compressions it reads), "
                f"not {suffix}; {fix}"
            )
    kind = container(path)
    if kind is None or kind in allowed:
        return
    label = {"jsonl": "JSON lines", "json": "a JSON list", "parquet": "Parquet"}.get(kind, kind)
    raise OutputError(f"{option} {path}: {writes}, not {label}; {fix}")


__all__ = ["COMPRESSIONS", "bare_name", "check_name", "compression", "container"]
