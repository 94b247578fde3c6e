"""The example sets a loss is reported on, side by side: files, and ``imdata split`` folders.

A folder written by ``imdata split`` (it holds a ``manifest.json`` of kind ``split``)
expands into its parts in the manifest's order (``train``, ``holdout``, ratio buckets, ...).
A part file given on its own (``split/holdout.jsonl``) is recognised by the manifest beside
it. The held-out examples that the split's leak check found in the training side (the
manifest's ``leaks.pairs``) are, by ``leaked``:

- ``separate`` (default): reported as their own set, ``holdout-leaked``;
- ``exclude``: left out, and counted in the report's notes;
- ``include``: kept in ``holdout``, with a note.

The paper's own test set overlapped its training data, which is why this matters: a
leaked "held-out" example measures memorisation, not generalisation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdata.choices import LeakedAction
from imdata.data.dataset import Dataset, SkipLog, dataset_name, load
from imdata.data.records import Example, Role
from imdata.errors import DataError, OptionError

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Part:
    """One set of examples in the report."""

    name: str
    path: str
    fingerprint: str
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class Inputs:
    """The sets to report on, what loading skipped per file, and notes about leaks."""

    parts: tuple[Part, ...]
    skipped: Mapping[str, SkipLog]
    notes: tuple[str, ...]


def resolve_inputs(
    data: str | Dataset | Sequence[str | Dataset],
    *,
    fmt: str = "auto",
    role_map: Mapping[str, Role] | None = None,
    fields: Mapping[str, str] | None = None,
    on_error: str = "skip",
    leaked: LeakedAction = "separate",
) -> Inputs:
    """Load every input; split folders become their parts, leaked held-out examples handled by ``leaked``."""
    items = [data] if isinstance(data, str | Dataset) else list(data)
    if not items:
        raise OptionError("give at least one DATA file or split folder")
    parts: list[tuple[str, Part]] = []  # (the folder a split part came from, part)
    skipped: dict[str, SkipLog] = {}
    notes: list[str] = []

    def add(ds: Dataset, folder: str, part: str | None, leaks: set[str]) -> None:
        skipped[ds.path] = ds.skipped
        name = part or ds.name
        exs = ds.examples
        bad = tuple(ex for ex in exs if ex.id in leaks) if part == "holdout" else ()
        if bad and leaked != "include":
            exs = tuple(ex for ex in exs if ex.id not in leaks)
        parts.append((folder, Part(name, ds.path, ds.fingerprint, exs)))
        if not bad:
            return
        where = f"{ds.path}: {len(bad)} of {len(ds.examples)} held-out examples leaked into the training side"
        if leaked == "separate":
            parts.append((folder, Part(f"{name}-leaked", ds.path, ds.fingerprint, bad)))
            notes.append(f"{where} (the split's leak check); reported apart as {name}-leaked")
        elif leaked == "exclude":
            notes.append(f"{where} (the split's leak check); left out (--leaked exclude)")
        else:
            notes.append(f"{where} (the split's leak check); kept in {name} (--leaked include)")

    for item in items:
        if isinstance(item, Dataset):
            add(item, "", None, set())
            continue
        path = Path(item)
        manifest = _split_manifest(path if path.is_dir() else path.parent)
        if path.is_dir() and manifest is not None:
            for name, file in _files(manifest, path).items():
                add(_load(str(path / file), fmt, role_map, fields, on_error), str(path), name, _leaks(manifest))
            continue
        part = None
        if manifest is not None:
            part = next((p for p, f in _files(manifest, path.parent).items() if f == path.name), None)
        ds = _load(item, fmt, role_map, fields, on_error)
        add(ds, str(path.parent) if part else "", part, _leaks(manifest) if manifest and part else set())
    return Inputs(_unique(parts), skipped, tuple(notes))


def _load(
    path: str, fmt: str, role_map: Mapping[str, Role] | None, fields: Mapping[str, str] | None, on_error: str
) -> Dataset:
    return load(path, format=fmt, role_map=role_map, fields=fields, on_error=on_error)  # type: ignore[arg-type]


def _split_manifest(folder: Path) -> dict[str, Any] | None:
    file = folder / MANIFEST
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(str(file), "", "", f"is not valid JSON ({e})", "is it an imdata split manifest?") from None
    return data if isinstance(data, dict) and data.get("kind") == "split" else None


def _files(manifest: Mapping[str, Any], folder: Path) -> dict[str, str]:
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise DataError(
            str(folder / MANIFEST), "", "files", "is missing or not a map of part to file", "rerun imdata split"
        )
    # the training side first, then the manifest's order: train reads left of holdout
    return {str(k): v for k, v in sorted(files.items(), key=lambda kv: kv[0] != "train")}


def _leaks(manifest: Mapping[str, Any]) -> set[str]:
    leaks = manifest.get("leaks") or {}
    pairs = leaks.get("pairs", []) if isinstance(leaks, dict) else []
    return {str(p["a"]) for p in pairs if isinstance(p, dict) and "a" in p}


def _unique(parts: list[tuple[str, Part]]) -> tuple[Part, ...]:
    """Part names made unique: a clash is qualified by its split folder or its path."""
    names = [p.name for _, p in parts]
    out = []
    for folder, p in parts:
        if names.count(p.name) > 1:
            qualified = f"{Path(folder).name}/{p.name}" if folder else dataset_name(p.path) + f" ({p.path})"
            p = Part(qualified, p.path, p.fingerprint, p.examples)
        out.append(p)
    seen = [p.name for p in out]
    dup = next((n for n in seen if seen.count(n) > 1), None)
    if dup is not None:
        raise OptionError(f"two inputs are both called {dup!r}; give each DATA once")
    return tuple(out)


__all__ = ["Inputs", "Part", "resolve_inputs"]
