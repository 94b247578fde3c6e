"""Load inputs into canonical examples, counting and explaining every record left out.

>>> ds = load("examples/tiny.jsonl")                      # doctest: +SKIP
>>> ds.name, len(ds.examples), ds.skipped.total           # doctest: +SKIP
('tiny', 24, 0)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from imdata.data import files
from imdata.data.formats import DEFAULT_ROLE_MAP, FORMATS, FormatName
from imdata.data.output_names import check_name
from imdata.data.reading import Ids, format_of, record_examples, record_warnings
from imdata.data.reading import OnError as OnError
from imdata.data.records import Example, Role, content_id, json_default
from imdata.errors import DataError, ImdataError, TemplateError

#: ``on_progress(input name, records read, total records or None)``
Progress = Callable[[str, int, "int | None"], None]
_PROGRESS_EVERY = 512

ON_ERROR: tuple[str, ...] = get_args(OnError)
FormatChoice = Literal["auto", "alpaca", "dolly", "sharegpt", "messages", "prompt", "lima", "seed"]
FORMAT_CHOICES: tuple[str, ...] = ("auto", *FORMATS)


@dataclass(frozen=True, slots=True)
class Rejected:
    """One record left out: where it was, why, and the raw value."""

    path: str
    where: str
    reason: str
    message: str
    raw: Any


@dataclass
class SkipLog:
    """Counts skipped records by reason and keeps them for a rejects file."""

    rejected: list[Rejected] = field(default_factory=list)
    #: records kept but worth a look (empty turns), with the same detail as rejects
    warnings: list[Rejected] = field(default_factory=list)
    #: the record format found (or given) while reading
    format: str = "auto"

    def add(self, err: DataError, raw: Any) -> None:
        """Record a skipped record."""
        self.rejected.append(Rejected(err.path, err.where, err.reason, str(err), raw))

    def warn(self, err: DataError) -> None:
        """Record a kept record with a problem worth reporting."""
        self.warnings.append(Rejected(err.path, err.where, err.reason, str(err), None))

    @property
    def warning_counts(self) -> dict[str, int]:
        """Kept-but-flagged records per reason."""
        return dict(Counter(r.reason for r in self.warnings).most_common())

    @property
    def counts(self) -> dict[str, int]:
        """Skipped records per reason, most frequent first."""
        return dict(Counter(r.reason for r in self.rejected).most_common())

    @property
    def total(self) -> int:
        """How many records were skipped."""
        return len(self.rejected)

    def summary(self) -> str:
        """One line for stderr, e.g. ``skipped 3 records: empty-output 2, duplicate-id 1``."""
        out = "skipped 0 records"
        if self.rejected:
            parts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
            out = f"skipped {self.total} record{'s' if self.total != 1 else ''}: {parts}"
        if self.warnings:
            parts = ", ".join(f"{k} {v}" for k, v in self.warning_counts.items())
            out += f"; kept with warnings: {parts} (first: {self.warnings[0].message})"
        return out

    def write(self, path: str, *, force: bool = False) -> None:
        """Write the rejected records as JSONL: ``{"path", "where", "reason", "message", "record"}``."""
        check_rejects_name(path)
        with files.atomic_output(path, force=force) as fh:
            for r in self.rejected:
                raw = r.raw if not files.is_bad(r.raw) else None
                row = {
                    "path": r.path,
                    "where": r.where,
                    "reason": r.reason,
                    "message": r.message,
                    "record": raw,
                }
                fh.write(json.dumps(row, ensure_ascii=False, default=json_default) + "\n")


@dataclass(frozen=True)
class Dataset:
    """A loaded input: its examples, the format found, its fingerprint and what was skipped."""

    name: str
    path: str
    format: str
    examples: tuple[Example, ...]
    fingerprint: str
    skipped: SkipLog

    def __len__(self) -> int:
        return len(self.examples)


def check_rejects_name(path: str) -> None:
    """Refuse a rejects file name that says a format other than JSONL, before any work."""
    check_name(path, option="--rejects", writes="the rejects file is JSONL", fix="name it .jsonl or .jsonl.gz")


def dataset_name(path: str) -> str:
    """The default name of an input: its file name without extensions.

    >>> dataset_name("data/lima_data.jsonl.gz")
    'lima_data'
    """
    name = Path(path.rstrip("/")).name
    for suffix in (".gz", ".zst", ".jsonl", ".ndjson", ".json", ".csv", ".parquet"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or path


def parse_role_map(items: Iterable[str]) -> dict[str, Role]:
    """Parse ``from=to`` pairs into a role map on top of the default one.

    >>> parse_role_map(["narrator=system"])["narrator"]
    'system'
    """
    out: dict[str, Role] = dict(DEFAULT_ROLE_MAP)
    for item in items:
        src, sep, dst = item.partition("=")
        if not sep or dst not in ("system", "user", "assistant") or not src:
            raise ImdataError(f"--role-map {item!r}: expected FROM=system|user|assistant")
        out[src.lower()] = dst  # type: ignore[assignment]
    return out


def iter_examples(
    path: str,
    *,
    format: FormatChoice = "auto",
    role_map: Mapping[str, Role] | None = None,
    on_error: OnError = "skip",
    log: SkipLog | None = None,
    check: Callable[[Example], object] | None = None,
    fields: Mapping[str, str] | None = None,
    on_progress: Progress | None = None,
) -> Iterator[Example]:
    """Stream the examples of one input; bad records raise or go to ``log``.

    ``check`` (e.g. rendering with the chat template) may raise :class:`TemplateError` for
    an example: that record is then a bad record like any other, named by file, line and id.

    Exact duplicate records are data: each is kept, with an id unique in the file (a record
    without an id gets its content hash, the ``k``-th copy ``<hash>-k``), and counted in
    ``log`` as ``duplicate-record``. A record reusing another's id with other content is
    ``duplicate-id``: an error under ``on_error="raise"``, else kept as ``<id>-k``.
    ``fields`` maps field kinds to the file's own names (see :func:`imdata.data.formats.parse_fields`).
    """
    reader = _Reader(path, format, role_map or DEFAULT_ROLE_MAP, fields, on_error, log or SkipLog(), check)
    name, total, n = dataset_name(path), record_count(path) if on_progress else None, 0
    for rec in files.iter_raw(path):
        n += 1
        if on_progress is not None and n % _PROGRESS_EVERY == 0:
            on_progress(name, n, total)
        try:
            kept = reader.read(rec)
        except DataError as err:
            if on_error == "raise":
                raise
            reader.log.add(err, rec.value)
            continue
        yield from kept
    if on_progress is not None:
        on_progress(name, n, n)


class _Reader:
    """One input's records read in order, by the functions ``--engine ray`` runs too (:mod:`imdata.data.reading`)."""

    def __init__(
        self,
        path: str,
        format: FormatChoice,
        role_map: Mapping[str, Role],
        fields: Mapping[str, str] | None,
        on_error: OnError,
        log: SkipLog,
        check: Callable[[Example], object] | None,
    ) -> None:
        self.path, self.role_map, self.fields, self.on_error, self.log, self.check = (
            path, role_map, fields, on_error, log, check)  # fmt: skip
        self.given: FormatName | None = None if format == "auto" else format
        self.found: FormatName | None = None  # under auto, the format of the first record that told one
        log.format = format
        self.ids = Ids()

    def read(self, rec: files.RawRecord) -> list[Example]:
        """The examples of one record, taken whole or not at all (a seed task's instances are all checked first)."""
        fmt = format_of(rec, self.given, self.found, self.path, self.fields)
        if self.given is None and self.found is None:
            self.found = self.log.format = fmt
        made = record_examples(rec, fmt, path=self.path, role_map=self.role_map, fields=self.fields)
        kept = []
        for ex in made:
            # Python's own hash of the messages tells a repeated record from a reused id; it is
            # only compared within this run, and costs far less than content_id on every record
            ident = ex.id or content_id(ex.messages)
            new, warning = self.ids.assign(ident, bool(ex.id), hash(ex.messages), self.path, rec.where, self.on_error)
            if warning is not None:
                self.log.warn(warning)
            out = ex if new == ex.id else replace(ex, id=new)
            if self.check is not None:
                check_example(self.check, out, self.path, rec.where)
            kept.append(out)
        for _, w in record_warnings(kept, self.path, rec.where):
            self.log.warn(w)
        return kept


def check_example(check: Callable[[Example], object], ex: Example, path: str, where: str) -> None:
    """Call ``check`` on ``ex``: what it refuses is a bad record named by file and place (both engines)."""
    try:
        check(ex)
    except DataError as err:  # a check names the field; the record's place is known here
        if err.path:
            raise
        raise DataError(path, where, err.field, err.problem, err.fix, reason=err.reason) from None
    except TemplateError as err:
        if err.reason == "template-stopped":  # a template that hangs would hang on every record
            raise
        raise DataError(
            path,
            where,
            "messages",
            f"of record {ex.id!r} cannot be rendered: {err}",
            "fix the record or choose another template; --on-error skip leaves such records out "
            "(--rejects FILE keeps them)",
            reason=err.reason,
        ) from None


def record_count(path: str) -> int | None:
    """How many records an input holds, where that is known without reading it (Parquet, ``datasets`` folders)."""
    try:
        kind = files.kind_of(path)
        if kind == "parquet" and not path.endswith((".gz", ".zst")):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if kind == "dataset-folder":
            import pyarrow as pa

            rows = 0
            for f in sorted(Path(path).glob("*.arrow")):
                with pa.memory_map(str(f)) as mm:
                    rows += pa.ipc.open_stream(mm).read_all().num_rows
            return rows or None
    except (OSError, ValueError, ImdataError):
        return None
    return None


def no_examples(path: str, log: SkipLog) -> ImdataError:
    """The error for an input that gave no example: what was skipped, and the first reason in full."""
    if not log.total:
        return ImdataError(f"{path}: no usable examples; is the file empty?")
    return ImdataError(f"{path}: no usable examples ({log.summary()}; first: {log.rejected[0].message})"
                       "; see them all with --rejects FILE")  # fmt: skip


def load(
    path: str,
    *,
    format: FormatChoice = "auto",
    role_map: Mapping[str, Role] | None = None,
    on_error: OnError = "skip",
    name: str | None = None,
    fields: Mapping[str, str] | None = None,
    on_progress: Progress | None = None,
    check: Callable[[Example], object] | None = None,
) -> Dataset:
    """Load one input completely.

    Args:
        path: a file, a ``datasets`` folder, or a hub id.
        format: the record format, or ``"auto"`` to read each record in the format its fields show
            (see :func:`imdata.data.formats.record_format`).
        role_map: how source roles map to system/user/assistant (ShareGPT's odd roles are
            mapped by default).
        on_error: ``"skip"`` (the default) leaves a bad record out and counts it by reason in
            ``Dataset.skipped``; ``"raise"`` stops at the first.
        name: the dataset's name in reports (default: the file name without extensions).
        fields: the file's own field names by kind, e.g. ``{"instruction": "question",
            "output": "answer"}`` (``--field``).
        on_progress: called as ``(name, records read, total or None)`` every few hundred records.
        check: called on every example; a :class:`DataError` it raises (path left empty) makes
            the record a bad record at its place, raised or skipped as ``on_error`` says.
    """
    log = SkipLog()
    examples = tuple(
        iter_examples(
            path,
            format=format,
            role_map=role_map,
            on_error=on_error,
            log=log,
            fields=fields,
            on_progress=on_progress,
            check=check,
        )  # fmt: skip
    )
    if not examples:
        raise no_examples(path, log)
    return Dataset(name or dataset_name(path), path, log.format, examples, files.fingerprint(path), log)


@dataclass
class Stream:
    """Inputs read lazily, example by example, so memory does not grow with the data.

    Iterating yields the examples of each path in order; ``logs`` fills as it goes (one
    :class:`SkipLog` per path), so skips are known once iteration ends. A path with no
    usable example is an error, as in :func:`load`.
    """

    paths: tuple[str, ...]
    format: FormatChoice = "auto"
    role_map: Mapping[str, Role] | None = None
    on_error: OnError = "skip"
    logs: dict[str, SkipLog] = field(default_factory=dict)
    #: called on every example as it is read (see :func:`iter_examples`)
    check: Callable[[Example], object] | None = None
    fields: Mapping[str, str] | None = None
    on_progress: Progress | None = None

    @property
    def names(self) -> dict[str, str]:
        """Path -> dataset name."""
        return {p: dataset_name(p) for p in self.paths}

    def fingerprints(self) -> dict[str, str]:
        """Dataset name -> sha256 of the input as stored (reads each file once)."""
        return {dataset_name(p): files.fingerprint(p) for p in self.paths}

    def __iter__(self) -> Iterator[Example]:
        for path in self.paths:
            log = self.logs.setdefault(path, SkipLog())
            n = 0
            for ex in iter_examples(
                path,
                format=self.format,
                role_map=self.role_map,
                on_error=self.on_error,
                log=log,
                fields=self.fields,
                on_progress=self.on_progress,
                check=self.check,
            ):
                n += 1
                yield ex
            if n == 0:
                raise no_examples(path, log)
