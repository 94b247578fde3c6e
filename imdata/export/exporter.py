"""Write span-annotated JSONL and trainer formats, verified before anything is written.

``spans`` (default)  the span JSONL (schema in ``imdata/schemas/spans.schema.json``); with a
                     tokenizer it also carries ``mode``, ``input_ids`` and ``labels``
``hf``               ``{"id", "input_ids", "labels"}`` per line, or a ``datasets.save_to_disk``
                     folder when the output has no ``.jsonl``/``.json`` suffix
``axolotl``          axolotl's ``input_output`` form: ``{"segments": [{"text", "label"}]}``
``messages``         open-instruct's ``{"dataset", "id", "messages"}``

Every output is written to a temporary file and renamed, with a ``.manifest.json`` beside
it holding the counts, the parameters and the provenance.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from imdata import __version__
from imdata.choices import EXPORT_FORMATS, ExportFormat
from imdata.data.atomic import Outputs, check_destinations
from imdata.data.dataset import Dataset, SkipLog, Stream
from imdata.data.output_names import check_name, container
from imdata.data.records import Example, Message, json_default
from imdata.errors import OptionError
from imdata.labels.labelling import IGNORE_INDEX, LossMode, Tokenized, tokenize_examples, truncate
from imdata.labels.tokens import TokenizerInfo, load_tokenizer, resolve_template
from imdata.labels.verify import check_tiling, check_tokens, full_check_due, marker_in_content, turns_without_eot
from imdata.templates.rendered import Rendered, Template

SCHEMA_VERSION = 1
DUMP = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote, and what it noticed on the way."""

    output: str
    to: str
    mode: str | None
    template: str
    tokenizer: str | None
    examples: int
    tokens: int
    trained_tokens: int
    zero_trained: list[str]
    truncated_examples: int
    truncated_trained_tokens: int
    straddling_tokens: int
    marker_examples: list[str]
    skipped: dict[str, int]
    warnings: dict[str, int]
    provenance: dict[str, Any] = field(default_factory=dict)
    #: assistant turns the template closes with no end-of-turn marker (the model never learns to stop there)
    turns_without_eot: int = 0
    examples_without_eot: list[str] = field(default_factory=list)
    #: special-token strings (``</s>``, ``<|im_end|>``) inside message content, encoded as text
    content_special_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (sorted when dumped)."""
        return asdict(self)


def spans(
    data: Dataset | Sequence[Dataset] | Sequence[Example] | Stream,
    *,
    output: str | os.PathLike[str],
    template: str | Template = "tulu",
    tokenizer: str | TokenizerInfo | None = None,
    mode: LossMode = "im",
    to: ExportFormat = "spans",
    max_length: int | None = None,
    force: bool = False,
    batch_size: int = 256,
    eot: str | None = None,
    date: str | None = None,
) -> ExportReport:
    """Render, label, verify and write examples in one of the export formats.

    Args:
        data: one or more loaded datasets, examples, or a :class:`~imdata.data.dataset.Stream`
            (read lazily: memory stays flat however large the inputs, except for a
            ``datasets`` folder output, which is built in memory).
        output: the output file (or folder, for ``to="hf"`` without a ``.jsonl`` suffix).
        template: a built-in template name, a Jinja template path, or a template object.
        tokenizer: a tokenizer spec or a loaded one; required for ``to="hf"``.
        mode: which span kinds carry the loss (``it``, ``im``, ``all``).
        to: the export format.
        max_length: truncate token sequences to this many tokens (the cut is reported).
        force: overwrite an existing output.
        batch_size: examples per tokenizer batch.
        eot: the end-of-turn marker (``--eot``); default: found in the template.
        date: the day ``strftime_now`` reports (``--date``); default a fixed day.
    """
    _check_options(to, tokenizer, max_length)
    check_spans_name(output, to=to, option="output")
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    tmpl = resolve_template(template, tok, eot=eot, date=date)
    if isinstance(data, Stream):
        checked = _Checked(tmpl)
        data.check = checked.check
        tmpl = checked
    examples, names, inputs, logs = _source(data)
    prov = provenance(tmpl, tok, inputs, eot=eot, date=date)
    out = Path(output)
    as_folder = to == "hf" and not _is_file_name(out)
    manifest = out.with_name(out.name + ".manifest.json")
    check_destinations({"-o": out, "manifest": manifest}, force=force, folders=("-o",) if as_folder else ())
    with Outputs(force=force) as group:
        stats = ExportStats()
        rows = span_rows(examples, tmpl, tok, mode, max_length, to, names, prov, stats, batch_size)
        if as_folder:
            _write_hf_folder(rows, group.folder(out))
        else:
            _write_jsonl(rows, group.file(out, binary=True))
        report = _report(out, to, mode, tmpl, tok, stats, logs(), prov)
        group.file(manifest, binary=True).write(
            orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
        )
    return report


def _check_options(to: str, tokenizer: str | TokenizerInfo | None, max_length: int | None) -> None:
    """Fail on options that need a tokenizer without one, before anything is read."""
    if to == "hf" and tokenizer is None:
        raise OptionError("--to hf writes token ids and labels, so it needs --tokenizer")
    if max_length is not None and tokenizer is None:
        raise OptionError("--max-length counts tokens, so it needs --tokenizer")
    if max_length is not None and max_length < 1:
        raise OptionError(f"--max-length must be at least 1, not {max_length}")


def provenance(
    tmpl: Template, tok: TokenizerInfo | None, inputs: dict[str, str], *, eot: str | None, date: str | None
) -> dict[str, Any]:
    """What made the export: imdata, the template (and its day and marker), the tokenizer, the inputs."""
    from imdata.templates.jinja import DEFAULT_DATE

    return {
        "imdata": __version__,
        "template": tmpl.name,
        "template_fingerprint": tmpl.fingerprint,
        "template_date": date or DEFAULT_DATE,
        "eot": eot,
        "tokenizer": tok.name if tok else None,
        "tokenizer_fingerprint": tok.fingerprint if tok else None,
        "inputs": inputs,
    }


def _report(
    out: Path,
    to: str,
    mode: str,
    tmpl: Template,
    tok: TokenizerInfo | None,
    stats: ExportStats,
    logs: Sequence[SkipLog],
    prov: dict[str, Any],
) -> ExportReport:
    return ExportReport(
        output=str(out),
        to=to,
        mode=mode if tok is not None or to == "axolotl" else None,
        template=tmpl.name,
        tokenizer=tok.name if tok else None,
        examples=stats.examples,
        tokens=stats.tokens,
        trained_tokens=stats.trained,
        zero_trained=stats.zero_trained,
        truncated_examples=stats.truncated,
        truncated_trained_tokens=stats.truncated_trained,
        straddling_tokens=stats.straddling,
        marker_examples=stats.markers,
        turns_without_eot=stats.without_eot,
        examples_without_eot=stats.without_eot_ids,
        content_special_tokens=stats.content_specials,
        skipped=merge_reports(log.counts for log in logs),
        warnings=merge_reports(log.warning_counts for log in logs),
        provenance=prov,
    )


class _Checked:
    """A template whose renders are made (and refusals raised) as records are read.

    The stream calls :meth:`check` on each example inside its bad-record handling, so a
    record the template refuses is skipped, counted and written to ``--rejects`` like any
    other bad record; :meth:`render` then hands back the render already made.
    """

    def __init__(self, inner: Template) -> None:
        self.inner = inner
        self.name = inner.name
        self.fingerprint = inner.fingerprint
        self.eos = getattr(inner, "eos", None)
        self._done: dict[int, tuple[Example, Rendered]] = {}

    def check(self, ex: Example) -> None:
        self._done[id(ex)] = (ex, self.inner.render(ex))

    def render(self, example: Example) -> Rendered:
        hit = self._done.pop(id(example), None)
        if hit is not None and hit[0] is example:
            return hit[1]
        return self.inner.render(example)

    def render_prompt(self, messages: Sequence[Message]) -> str:
        return self.inner.render_prompt(messages)


def _source(data: Any) -> tuple[Iterable[Example], dict[str, str], dict[str, str], Callable[[], list[SkipLog]]]:
    """Examples to export, path -> dataset name, name -> fingerprint, and the skip logs."""
    if isinstance(data, Stream):
        return data, data.names, data.fingerprints(), lambda: list(data.logs.values())
    sets = [data] if isinstance(data, Dataset) else list(data)
    if sets and all(isinstance(d, Dataset) for d in sets):
        examples = (ex for ds in sets for ex in ds.examples)
        return (
            examples,
            {ds.path: ds.name for ds in sets},
            {ds.name: ds.fingerprint for ds in sets},
            lambda: [ds.skipped for ds in sets],
        )
    return [ex for ex in sets if isinstance(ex, Example)], {}, {}, lambda: []


def _is_file_name(path: Path) -> bool:
    return container(path) in ("jsonl", "json")


def check_spans_name(output: str | os.PathLike[str], *, to: str, option: str) -> None:
    """Refuse an output name that says a format other than JSONL (or, for ``hf``, a folder), before any work."""
    if to == "hf":
        check_name(output, option=option, writes="spans --to hf writes token-id JSONL or a datasets folder",
                   fix="name it .jsonl or .jsonl.gz, or give a folder name with no suffix")  # fmt: skip
    else:
        writes = "spans writes span JSONL" if to == "spans" else f"spans --to {to} writes {to} JSONL"
        check_name(output, option=option, writes=writes,
                   fix="name it .jsonl or .jsonl.gz, or use --to hf for a datasets folder")  # fmt: skip


def merge_reports(counts: Iterator[dict[str, int]] | Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


@dataclass
class ExportStats:
    examples: int = 0
    tokens: int = 0
    trained: int = 0
    truncated: int = 0
    truncated_trained: int = 0
    straddling: int = 0
    zero_trained: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    without_eot: int = 0
    without_eot_ids: list[str] = field(default_factory=list)
    content_specials: int = 0

    def look_at(self, ex: Example, r: Rendered, eos: str | None) -> None:
        check_tiling(r, ex.id)
        if marker_in_content(r, eos) is not None:
            self.markers.append(ex.id)
        missing = turns_without_eot(r)
        if missing:
            self.without_eot += missing
            if len(self.without_eot_ids) < 100:
                self.without_eot_ids.append(ex.id)


def span_rows(
    examples: Iterable[Example],
    tmpl: Template,
    tok: TokenizerInfo | None,
    mode: LossMode,
    max_length: int | None,
    to: str,
    names: dict[str, str],
    prov: dict[str, Any],
    stats: ExportStats,
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    if tok is None:
        for ex in examples:
            r = tmpl.render(ex)
            stats.look_at(ex, r, getattr(tmpl, "eos", None))
            stats.examples += 1
            yield _row(ex, r, None, to, mode, names, prov, None)
        return
    for whole in tokenize_examples(examples, tmpl, tok, mode=mode, batch_size=batch_size):
        tz = whole if max_length is None else truncate(whole, max_length)
        stats.look_at(tz.example, tz.rendered, tok.eos)
        chk = check_tokens(tz, full=full_check_due(stats.examples))
        stats.examples += 1
        stats.tokens += len(tz.input_ids)
        stats.straddling += chk.straddling
        stats.content_specials += whole.content_specials
        trained = tz.trained
        stats.trained += trained
        if tz.truncated:
            stats.truncated += 1
            stats.truncated_trained += whole.trained - trained
        if trained == 0:
            stats.zero_trained.append(tz.example.id)
        yield _row(tz.example, tz.rendered, tz, to, mode, names, prov, tok.bos if tok.adds_bos else None)


def _row(
    ex: Example,
    r: Rendered,
    tz: Tokenized | None,
    to: str,
    mode: LossMode,
    names: dict[str, str],
    prov: dict[str, Any],
    bos: str | None,
) -> dict[str, Any]:
    source = names.get(ex.source, ex.source)
    if to == "hf":
        assert tz is not None  # guaranteed by the option check above
        return {"id": ex.id, "input_ids": tz.input_ids, "labels": tz.labels}
    if to == "messages":
        return {"dataset": source, "id": ex.id, "messages": [m.to_dict() for m in ex.messages]}
    off_turns = ex.untrained_turns  # a walk over the messages: once per example, not once per span
    if to == "axolotl":
        return {"id": ex.id, "segments": _segments(r, mode, bos, off_turns)}
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "id": ex.id,
        "source": source,
        "text": r.text,
        "spans": [_span(s, off_turns) for s in r.spans],
        "provenance": prov,
    }
    if ex.meta:
        row["meta"] = dict(ex.meta)
    if tz is not None:
        row["mode"] = mode
        row["input_ids"] = tz.input_ids
        row["labels"] = tz.labels
    return row


def _span(s: Any, off_turns: frozenset[int]) -> dict[str, Any]:
    from imdata.labels.labelling import span_trained

    d: dict[str, Any] = {"start": s.start, "end": s.end, "kind": s.kind, "turn": s.turn}
    if off_turns and not span_trained(s, off_turns):
        d["trained"] = False
    return d


def _segments(
    r: Rendered, mode: LossMode, bos: str | None, off_turns: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """Segments for axolotl's ``input_output`` dataset type.

    axolotl tokenizes each segment alone and adds no special tokens, so the BOS the
    tokenizer would add comes first, untrained.
    """
    from imdata.labels.labelling import TRAINED_KINDS, span_trained

    trained = TRAINED_KINDS[mode]
    segs: list[dict[str, Any]] = [{"label": False, "text": bos}] if bos else []
    for s in r.spans:
        label = s.kind in trained and span_trained(s, off_turns)
        piece = r.text[s.start : s.end]
        if segs and segs[-1]["label"] == label:
            segs[-1]["text"] += piece
        else:
            segs.append({"label": label, "text": piece})
    return segs


def _write_jsonl(rows: Iterator[dict[str, Any]], fh: IO[bytes]) -> None:
    for row in rows:
        fh.write(orjson.dumps(row, option=DUMP, default=json_default))


def _write_hf_folder(rows: Iterator[dict[str, Any]], tmp: Path) -> None:
    """Write the rows as a ``datasets`` folder into ``tmp`` (a folder of :class:`Outputs`), batch by batch."""
    from imdata.export.arrow_folder import fill_dataset_folder

    fill_dataset_folder(rows, tmp, [("id", "string"), ("input_ids", "list<int32>"), ("labels", "list<int32>")])


__all__ = [
    "EXPORT_FORMATS",
    "ExportFormat",
    "ExportReport",
    "IGNORE_INDEX",
    "SCHEMA_VERSION",
    "check_spans_name",
    "spans",
]
