"""``imdata profile``: per-example lengths and the per-dataset summaries that decide IM.

Each example is rendered once with the chat template and measured in one unit:

- ``words`` (the default without a tokenizer) follows the paper's Table 5: whitespace words
  of each message as the template renders it (see :func:`imdata.profiling.lengths.word_lengths`).
- ``tokens`` (the default with a tokenizer): each text is encoded once, in batches, by the
  Rust tokenizer, and its tokens are counted per span kind with the labels' straddling rule
  (a token belongs to the span holding its first character).
- ``chars``: characters per span kind.

Per example: ``turns`` (messages), ``instruction`` (system + user, all turns), ``output``
(assistant, all turns), ``template``, ``total``, ``ratio`` = instruction / output (null when
the output is empty), and ``trained_it`` / ``trained_im``: what each loss mode trains, in the
same unit (words are attributed to span kinds by their first character, like tokens). With
``max_length`` (tokens only): ``truncated`` tokens cut off and the trained tokens each mode
loses (``lost_it``, ``lost_im``).

>>> report = profile("examples/tiny_alpaca.json")                # doctest: +SKIP
>>> report.datasets[0].ratio                                       # doctest: +SKIP
0.61
"""

from __future__ import annotations

import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdata.choices import UNITS, Unit
from imdata.data.dataset import Dataset, FormatChoice, OnError, SkipLog, dataset_name, iter_examples, no_examples
from imdata.data.records import Example, Role
from imdata.errors import OptionError
from imdata.labels.labelling import KIND_CODE, owner_spans, span_token_bounds, span_trained, token_kinds
from imdata.labels.tokenbytes import ByteTable, token_starts
from imdata.labels.tokens import TokenizerInfo, load_tokenizer, resolve_template
from imdata.profiling.lengths import Lengths, batch_kind_counts, char_lengths, word_lengths
from imdata.profiling.summary import DatasetSummary, ProfileReport, summarise
from imdata.templates.rendered import Rendered, Template

if TYPE_CHECKING:
    import polars as pl

#: per-example columns, in order (``truncated``/``lost_*`` are null without ``max_length``)
COLUMNS = (
    "dataset", "id", "turns", "instruction", "output", "template", "total", "ratio",
    "trained_it", "trained_im", "truncated", "lost_it", "lost_im",
    "empty_output", "assistant_first", "repeated_role",
)  # fmt: skip
#: per-example data-quality flags (see :func:`quality_flags`)
_FLAG_COLUMNS = ("empty_output", "assistant_first", "repeated_role")
_INT_COLUMNS = ("turns", "instruction", "output", "template", "total", "trained_it", "trained_im")
_LOSS_COLUMNS = ("truncated", "lost_it", "lost_im")

_NKINDS = len(KIND_CODE)
_IT = (KIND_CODE["output"], KIND_CODE["eos"])
_IM = (KIND_CODE["system"], KIND_CODE["instruction"], *_IT)
_INSTR = (KIND_CODE["system"], KIND_CODE["instruction"])
_TEMPLATE = KIND_CODE["template"]

#: ``on_progress(dataset name, examples done, total or None)``
Progress = Callable[[str, int, "int | None"], None]
DataArg = str | Path | Dataset


def profile(
    datasets: DataArg | Sequence[DataArg],
    *,
    unit: Unit | None = None,
    tokenizer: str | TokenizerInfo | None = None,
    template: str = "tulu",
    max_length: int | None = None,
    names: Sequence[str] | None = None,
    format: FormatChoice = "auto",
    role_map: Mapping[str, Role] | None = None,
    on_error: OnError = "skip",
    on_progress: Progress | None = None,
    batch_size: int = 256,
    fields: Mapping[str, str] | None = None,
    eot: str | None = None,
    date: str | None = None,
) -> ProfileReport:
    """Profile one or more datasets side by side.

    Args:
        datasets: paths (streamed, so memory stays flat) or loaded :class:`Dataset` objects.
        unit: ``words``, ``tokens`` or ``chars`` (default: ``tokens`` with a tokenizer, else
            ``words``).
        tokenizer: a ``tokenizer.json``, a folder, a hub id, or a loaded tokenizer.
        template: the chat template the lengths are measured in.
        max_length: (tokens only) count examples a trainer would truncate and what they lose.
        names: one name per dataset (default: the file name without extensions).
        format: the record format of path inputs (``auto`` detects it).
        role_map: source role -> system/user/assistant, for path inputs.
        on_error: ``raise`` or ``skip`` bad records of path inputs (skips are counted).
        on_progress: called with (dataset name, examples done) after each batch.
        batch_size: examples per tokenizer batch.
        fields: the inputs' own field names by kind (``--field``), e.g. ``{"instruction": "question"}``.
        eot: the end-of-turn marker (``--eot``), as :func:`imdata.spans` takes it.
        date: the day ``strftime_now`` reports in Jinja templates (``--date``).
    """
    items = _items(datasets, names)
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    unit = _check_unit(unit, tok, max_length)
    tpl = resolve_template(template, tok, eot=eot, date=date)
    sources = _sources(items, names, format, role_map, on_error, fields)

    import polars as pl

    measured = [_profile_one(src, tpl, unit, tok, max_length, batch_size, on_progress) for src in sources]
    return ProfileReport(
        unit=unit,
        template=tpl.name,
        template_fingerprint=tpl.fingerprint,
        tokenizer=None if tok is None else tok.name,
        tokenizer_fingerprint=None if tok is None else tok.fingerprint,
        max_length=max_length,
        datasets=tuple(summary for _, summary in measured),
        examples=pl.concat([frame for frame, _ in measured], how="vertical"),
        skip_logs=tuple(src.log for src in sources),
    )


def _items(datasets: DataArg | Sequence[DataArg], names: Sequence[str] | None) -> list[DataArg]:
    """The inputs as a list, at least one, with one name each if names are given."""
    items: list[DataArg] = [datasets] if isinstance(datasets, str | Path | Dataset) else list(datasets)
    if not items:
        raise OptionError("profile: give at least one dataset")
    if names is not None and len(names) != len(items):
        raise OptionError(
            f"--name was given {len(names)} times for {len(items)} datasets; give one per dataset or none"
        )
    return items


def _check_unit(unit: Unit | None, tok: TokenizerInfo | None, max_length: int | None) -> Unit:
    """The unit (default: tokens with a tokenizer, else words), checked against the other options."""
    unit = unit or ("tokens" if tok is not None else "words")
    if unit not in UNITS:
        raise OptionError(f"unit {unit!r}: expected one of {', '.join(UNITS)}")
    if unit == "tokens" and tok is None:
        raise OptionError("--unit tokens needs a tokenizer; pass --tokenizer tokenizer.json (or use --unit words)")
    if max_length is not None and unit != "tokens":
        raise OptionError("--max-length counts tokens; pass --tokenizer (and --unit tokens)")
    if max_length is not None and max_length < 1:
        raise OptionError(f"--max-length {max_length}: must be at least 1")
    return unit


def _sources(
    items: Sequence[DataArg],
    names: Sequence[str] | None,
    format: FormatChoice,
    role_map: Mapping[str, Role] | None,
    on_error: OnError,
    fields: Mapping[str, str] | None,
) -> list[_Source]:
    """One source per input, each with its own name."""
    sources = [
        _Source.of(item, None if names is None else names[i], format, role_map, on_error, fields)
        for i, item in enumerate(items)
    ]
    seen: set[str] = set()
    for src in sources:
        if src.name in seen:
            raise OptionError(f"two datasets are named {src.name!r}; give each a --name")
        seen.add(src.name)
    return sources


def _profile_one(
    src: _Source,
    tpl: Template,
    unit: Unit,
    tok: TokenizerInfo | None,
    max_length: int | None,
    batch_size: int,
    on_progress: Progress | None,
) -> tuple[pl.DataFrame, DatasetSummary]:
    """One input's per-example frame and its summary."""
    cols = Columns(max_length is not None)
    total = src.total() if on_progress is not None else None
    for n, (ex, lengths, trained_it, trained_im, lost) in enumerate(
        measure(src.examples(), tpl, unit, tok, max_length, batch_size), 1
    ):
        cols.add(ex, lengths, trained_it, trained_im, lost)
        if on_progress is not None and n % batch_size == 0:
            on_progress(src.name, n, total)
    if not cols.ids:
        raise no_examples(src.path, src.log)
    if on_progress is not None:
        on_progress(src.name, len(cols.ids), len(cols.ids))
    frame = cols.frame(src.name)
    summary = summarise(
        frame,
        name=src.name,
        path=src.path,
        fingerprint=src.fingerprint(),
        format=src.log.format,
        unit=unit,
        log=src.log,
        max_length=max_length,
    )
    return frame, summary


@dataclass
class _Source:
    """One input: a path streamed from disk or an already loaded dataset."""

    name: str
    path: str
    log: SkipLog
    dataset: Dataset | None
    format: FormatChoice
    role_map: Mapping[str, Role] | None
    on_error: OnError
    fields: Mapping[str, str] | None = None

    @classmethod
    def of(
        cls,
        item: DataArg,
        name: str | None,
        fmt: FormatChoice,
        role_map: Mapping[str, Role] | None,
        on_error: OnError,
        fields: Mapping[str, str] | None = None,
    ) -> _Source:
        if isinstance(item, Dataset):
            return cls(name or item.name, item.path, item.skipped, item, fmt, role_map, on_error, fields)
        path = str(item)
        return cls(name or dataset_name(path), path, SkipLog(), None, fmt, role_map, on_error, fields)

    def examples(self) -> Iterable[Example]:
        if self.dataset is not None:
            return self.dataset.examples
        return iter_examples(
            self.path,
            format=self.format,
            role_map=self.role_map,
            on_error=self.on_error,
            log=self.log,
            fields=self.fields,
        )

    def total(self) -> int | None:
        from imdata.data.dataset import record_count

        return len(self.dataset) if self.dataset is not None else record_count(self.path)

    def fingerprint(self) -> str:
        from imdata.data import files

        return self.dataset.fingerprint if self.dataset is not None else files.fingerprint(self.path)


Row = tuple[Example, Lengths, int, int, "tuple[int, int, int] | None"]


def measure(
    examples: Iterable[Example],
    tpl: Template,
    unit: Unit,
    tok: TokenizerInfo | None,
    max_length: int | None,
    batch_size: int,
) -> Iterator[Row]:
    if unit == "tokens":
        assert tok is not None  # checked by profile()
        yield from _token_rows(examples, tpl, tok, max_length, batch_size)
        return
    for ex in examples:
        r = tpl.render(ex)
        if unit == "words":
            lengths = word_lengths(r, [m.role for m in ex.messages])
            amounts = word_span_counts(r)
        else:
            lengths = char_lengths(r)
            amounts = [s.end - s.start for s in r.spans]
        off = ex.untrained_turns  # turns with weight 0 / train: false train nothing
        kinds = [KIND_CODE[s.kind] if not off or span_trained(s, off) else -1 for s in r.spans]
        it = sum(a for k, a in zip(kinds, amounts, strict=True) if k in _IT)
        yield ex, lengths, it, sum(a for k, a in zip(kinds, amounts, strict=True) if k in _IM), None


def word_span_counts(rendered: Rendered) -> list[int]:
    """Words per span; a word belongs to the span holding its first character."""
    text = rendered.text
    out = []
    for s in rendered.spans:
        n = len(text[s.start : s.end].split())
        if n and s.start > 0 and not text[s.start].isspace() and not text[s.start - 1].isspace():
            n -= 1  # the first word started in the previous span
        out.append(n)
    return out


def word_kind_counts(rendered: Rendered) -> list[int]:
    """Words per span-kind code; a word belongs to the span holding its first character.

    >>> from imdata.data.records import Example
    >>> from imdata.templates.builtin import get_template
    >>> ex = Example.from_pairs("x", [("user", "Hi you"), ("assistant", "Yo")])
    >>> word_kind_counts(get_template("tulu").render(ex))  # "Yo</s>" is one (output) word
    [2, 0, 2, 1, 0]

    The codes are template, system, instruction, output, eos.
    """
    out = [0] * _NKINDS
    for s, n in zip(rendered.spans, word_span_counts(rendered), strict=True):
        out[KIND_CODE[s.kind]] += n
    return out


# --- tokens ---------------------------------------------------------------------------------


def _token_rows(
    examples: Iterable[Example],
    tpl: Template,
    tok: TokenizerInfo,
    max_length: int | None,
    batch_size: int,
) -> Iterator[Row]:
    table = tok.byte_table
    for batch, encodings in _encoded(_rendered_batches(examples, tpl, batch_size), tok, offsets=table is None):
        fast = None if table is None else _batch_counts(batch, encodings, tok, table, max_length)
        for i, ((ex, r), enc) in enumerate(zip(batch, encodings, strict=True)):
            if fast is not None and fast[2][i]:
                counts, lost = fast[0][i].tolist(), fast[1][i].tolist()
            else:
                if table is not None:  # this text does not fit the byte model: encode it again, with offsets
                    enc = tok.encode_batch([r.text])[0]
                counts, lost = span_token_counts(r, enc, max_length)
            instr = sum(counts[k] for k in _INSTR)
            out = sum(counts[k] for k in _IT)
            lengths = Lengths(instr, out, counts[_TEMPLATE], len(enc))
            loss = None
            if max_length is not None:
                loss = (
                    max(0, len(enc) - max_length),
                    sum(lost[k] for k in _IT),
                    sum(lost[k] for k in _IM),
                )
            if ex.untrained_turns:  # turns with weight 0 / train: false: what the labels train
                yield ex, lengths, *_weighted(ex, tpl, tok, max_length, loss)
                continue
            yield ex, lengths, out, instr + out, loss


def _weighted(
    ex: Example, tpl: Template, tok: TokenizerInfo, max_length: int | None, loss: tuple[int, int, int] | None
) -> tuple[int, int, tuple[int, int, int] | None]:
    """Trained tokens of each mode (and those past ``max_length``) from the labels ``spans`` writes.

    Only for an example with untrained turns: its labels leave those turns' content out.
    """
    from imdata.labels.labelling import tokenize_examples, trained_masks

    (tz,) = tokenize_examples([ex], tpl, tok, mode="im", batch_size=1)
    it, im = trained_masks(tz)
    if loss is not None and max_length is not None:
        loss = (loss[0], int(it[max_length:].sum()), int(im[max_length:].sum()))
    return int(it.sum()), int(im.sum()), loss


def _rendered_batches(
    examples: Iterable[Example], tpl: Template, size: int
) -> Iterator[list[tuple[Example, Rendered]]]:
    batch: list[tuple[Example, Rendered]] = []
    for ex in examples:
        batch.append((ex, tpl.render(ex)))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _encoded(
    batches: Iterator[list[tuple[Example, Rendered]]], tok: TokenizerInfo, *, offsets: bool, depth: int = 3
) -> Iterator[tuple[list[tuple[Example, Rendered]], list[Any]]]:
    """Encode batches on worker threads while this thread reads, renders and counts.

    The Rust tokenizer releases the GIL and spreads each batch over all cores; keeping a
    few batches in flight hides the Python work (parsing, rendering, counting) behind it
    and fills the cores at each batch's tail. At most ``depth`` batches are held at once.
    """
    pending: deque[tuple[list[tuple[Example, Rendered]], Future[list[Any]]]] = deque()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="imdata-encode") as pool:
        try:
            for batch in batches:
                pending.append((batch, pool.submit(tok.encode_batch, [r.text for _, r in batch], offsets=offsets)))
                if len(pending) >= depth:
                    done, fut = pending.popleft()
                    yield done, fut.result()
            while pending:
                done, fut = pending.popleft()
                yield done, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


def _batch_counts(
    batch: list[tuple[Example, Rendered]],
    encodings: list[Any],
    tok: TokenizerInfo,
    table: ByteTable,
    max_length: int | None,
) -> tuple[Any, Any, Any]:
    import numpy as np

    added = tok.added_around
    texts = [r.text for _, r in batch]
    spans = []
    for _, r in batch:
        codes = np.array([KIND_CODE[s.kind] for s in r.spans], dtype=np.int64)
        if r.text.isascii():
            ends = np.array([s.end for s in r.spans], dtype=np.int64)
        else:
            ends = np.cumsum([len(r.text[s.start : s.end].encode("utf-8")) for s in r.spans], dtype=np.int64)
        spans.append((ends, codes))
    # a text that already starts with BOS is encoded without the tokenizer's own tokens
    around = [(0, 0) if tok.adds_bos and tok.bos and t.startswith(tok.bos) else added for t in texts]
    return batch_kind_counts(table, encodings, texts, spans, around, _NKINDS, max_length)


def counts_from_bytes(
    rendered: Rendered, encoding: Any, max_length: int | None, table: ByteTable, added: tuple[int, int]
) -> tuple[list[int], list[int]] | None:
    """:func:`span_token_counts` from token ids alone (see :mod:`imdata.labels.tokenbytes`); None if it does not apply.

    ``added`` is how many tokens the tokenizer puts before and after the text
    (:attr:`~imdata.labels.tokens.TokenizerInfo.added_around`).
    """
    import numpy as np

    ids = np.asarray(encoding.ids, dtype=np.int64)
    special = np.zeros(ids.size, dtype=bool)
    special[: added[0]] = True
    if added[1]:
        special[ids.size - added[1] :] = True
    text = rendered.text
    spans = rendered.spans
    ascii_text = text.isascii()
    starts = token_starts(table, ids, special, len(text) if ascii_text else len(text.encode("utf-8")))
    if starts is None or not spans:
        return None
    if ascii_text:
        ends = np.array([s.end for s in spans], dtype=np.int64)
    else:
        ends = np.cumsum([len(text[s.start : s.end].encode("utf-8")) for s in spans])
    codes = np.array([KIND_CODE[s.kind] for s in spans], dtype=np.int64)
    n_bytes = len(text) if ascii_text else len(text.encode("utf-8"))
    kinds = codes[owner_spans(starts, np.append(starts[1:], n_bytes), ends, codes)]
    real = ~special
    counts = np.bincount(kinds[real], minlength=_NKINDS)
    lost = [0] * _NKINDS
    if max_length is not None and ids.size > max_length:
        real[:max_length] = False
        lost = [int(x) for x in np.bincount(kinds[real], minlength=_NKINDS)]
    return [int(x) for x in counts], lost


def span_token_counts(rendered: Rendered, encoding: Any, max_length: int | None = None) -> tuple[list[int], list[int]]:
    """Tokens per span-kind code, and those at or past ``max_length``, from one encoding.

    Same rule as :func:`imdata.labels.labelling.token_kinds` (a token belongs to the content it
    touches; tokens the tokenizer adds are in no span), from the token at each span
    boundary (:func:`imdata.labels.labelling.span_token_bounds`); where the tokenizer added tokens
    inside the sequence it counts from :func:`token_kinds`.
    """
    found = span_token_bounds(rendered, encoding)
    bounds = None if found is None else found.tolist()
    counts = [0] * _NKINDS
    lost = [0] * _NKINDS
    if bounds is None:
        import numpy as np

        kinds = token_kinds(rendered, encoding).astype(np.int64)
        c = np.bincount(kinds[kinds >= 0], minlength=_NKINDS)
        counts = [int(x) for x in c]
        if max_length is not None:
            tail = kinds[max_length:]
            lost = [int(x) for x in np.bincount(tail[tail >= 0], minlength=_NKINDS)]
        return counts, lost
    for s, a, b in zip(rendered.spans, bounds, bounds[1:], strict=False):
        k = KIND_CODE[s.kind]
        counts[k] += b - a
        if max_length is not None and b > max_length:
            lost[k] += b - max(a, max_length)
    return counts, lost


# --- columns ----------------------------------------------------------------------------------


class Columns:
    """Per-example values in compact arrays (8 bytes a value), not Python objects."""

    def __init__(self, with_loss: bool) -> None:
        self.ids: list[str] = []
        self.ints = {c: array.array("q") for c in _INT_COLUMNS}
        self.loss = {c: array.array("q") for c in _LOSS_COLUMNS} if with_loss else None
        self.flags = {c: array.array("b") for c in _FLAG_COLUMNS}

    def add(
        self,
        ex: Example,
        lengths: Lengths,
        trained_it: int,
        trained_im: int,
        loss: tuple[int, int, int] | None,
    ) -> None:
        self.ids.append(ex.id)
        values = (
            len(ex.messages),
            lengths.instruction,
            lengths.output,
            lengths.template,
            lengths.total,
            trained_it,
            trained_im,
        )
        for c, v in zip(_INT_COLUMNS, values, strict=True):
            self.ints[c].append(v)
        for c, flag in zip(_FLAG_COLUMNS, quality_flags(ex), strict=True):
            self.flags[c].append(flag)
        if self.loss is not None and loss is not None:
            for c, v in zip(_LOSS_COLUMNS, loss, strict=True):
                self.loss[c].append(v)

    def frame(self, name: str) -> pl.DataFrame:
        import numpy as np
        import polars as pl

        n = len(self.ids)
        data: dict[str, Any] = {
            "dataset": pl.Series("dataset", [name] * n, dtype=pl.String),
            "id": pl.Series("id", self.ids, dtype=pl.String),
        }
        for c in _INT_COLUMNS:
            data[c] = pl.Series(c, np.frombuffer(self.ints[c], dtype=np.int64) if n else [], dtype=pl.Int64)
        for c in _LOSS_COLUMNS:
            vals = np.frombuffer(self.loss[c], dtype=np.int64) if self.loss is not None and n else None
            data[c] = (
                pl.Series(c, vals, dtype=pl.Int64) if vals is not None else pl.Series(c, [None] * n, dtype=pl.Int64)
            )
        for c in _FLAG_COLUMNS:
            flags: Any = np.frombuffer(self.flags[c], dtype=np.int8).astype(bool) if n else []
            data[c] = pl.Series(c, flags, dtype=pl.Boolean)
        df = pl.DataFrame(data)
        ratio = pl.when(pl.col("output") > 0).then(pl.col("instruction") / pl.col("output")).otherwise(None)
        return df.with_columns(ratio.cast(pl.Float64).alias("ratio")).select(COLUMNS)


def quality_flags(ex: Example) -> tuple[bool, bool, bool]:
    """``(empty_output, assistant_first, repeated_role)`` of one example.

    ``empty_output``: no assistant turn has any text (the ratio is undefined);
    ``assistant_first``: the first non-system turn is the assistant's (a ShareGPT
    conversation cut at its start); ``repeated_role``: two turns in a row have one role.

    >>> from imdata.data.records import Example
    >>> quality_flags(Example.from_pairs("a", [("assistant", "Hi"), ("user", "q"), ("user", "q2")]))
    (False, True, True)
    """
    msgs = ex.messages
    empty = not any(m.content.strip() for m in msgs if m.role == "assistant")
    first = next((m.role for m in msgs if m.role != "system"), None)
    repeated = any(a.role == b.role for a, b in zip(msgs, msgs[1:], strict=False))
    return empty, first == "assistant", repeated


__all__ = [
    "COLUMNS",
    "UNITS",
    "ProfileReport",
    "Unit",
    "profile",
    "counts_from_bytes",
    "span_token_counts",
    "word_kind_counts",
]
