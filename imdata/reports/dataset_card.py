"""``imdata card``: a data card for one instruction dataset, rendered from a template file.

A card says what a dataset is (size, format, licence and source as given), how long its
instructions and outputs are in the paper's words and in tokens, what its
instruction/output ratio and size imply for Instruction Modelling (IM) against Instruction
Tuning (IT), how many tokens each loss mode trains, what common max lengths cut off, and,
when asked, how much it overlaps other sets. It holds statistics and figures only, never
the data, and ends with the input fingerprint and the imdata version that produced it.

Every token figure comes from one pass of the tokenizer: each example is rendered with
the template, encoded once, and its tokens are attributed to span kinds with the labels'
straddling rule; the per-example rows are summarised exactly as ``imdata profile`` does.

>>> c = card("lima_data.jsonl", name="lima", tokenizer="tokenizer.json")  # doctest: +SKIP
>>> write_card(c, "data_cards/lima.md")                                    # doctest: +SKIP
"""

from __future__ import annotations

import array
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdata.data.dataset import Dataset, FormatChoice, OnError, load
from imdata.data.records import Role
from imdata.data.tables import num
from imdata.errors import OptionError, OutputError, TemplateError

if TYPE_CHECKING:
    from imdata.labels.tokens import TokenizerInfo
    from imdata.profiling.summary import DatasetSummary, ProfileReport

#: the max lengths a card reports truncation at (common context sizes)
MAX_LENGTHS = (512, 1024, 2048, 4096)
#: the default template file, inside the package
CARD_TEMPLATE = "card_templates/card.md.j2"
#: the paper's Table 5 (instruction/output ratio of the means in words, examples), for context
PAPER_DATASETS: Mapping[str, tuple[float, int]] = {
    "LIMA": (0.0942, 1030),
    "Less MMLU Chat": (26.3316, 13533),
    "Less Tydiqa": (5.862, 13533),
    "Less BBH ICL": (3.265, 13533),
    "Alpagasus Dolly 3k": (0.6439, 2996),
    "Alpagasus Dolly 9k": (0.2965, 9229),
    "Alpagasus Alpaca 5k": (0.5672, 5305),
    "Tulu V2": (0.5751, 326181),
    "WizardLM": (0.3550, 30000),
    "Sharegpt": (0.2457, 50000),
    "Science Literature": (24.7417, 7544),
    "Stanford Alpaca": (0.4115, 52002),
    "Code Alpaca": (0.8156, 20022),
}
#: imdata's reading of the paper's two factors (the paper gives no thresholds)
LONG_INSTRUCTIONS = 1.0
FEW_EXAMPLES = 10_000


@dataclass(frozen=True, slots=True)
class Truncation:
    """What a trainer with ``max_length`` tokens cuts off."""

    max_length: int
    examples: int  # examples longer than max_length
    tokens: int  # tokens cut off
    lost_it: int  # trained tokens lost under it
    lost_im: int  # trained tokens lost under im


@dataclass(frozen=True, slots=True)
class OverlapResult:
    """How many of the card's examples also occur in another set (``imdata overlap``)."""

    name: str
    examples: int  # the other set's size
    matched: int  # examples of the card's dataset found in it
    exact: int
    near: int


@dataclass(frozen=True)
class DataCard:
    """Everything a card shows; :func:`write_card` renders it."""

    name: str
    input: str  # the path as given
    size_bytes: int
    fingerprint: str
    format: str
    license: str | None
    source: str | None
    description: str | None
    template: str
    words: ProfileReport
    tokens: ProfileReport | None
    truncation: tuple[Truncation, ...]
    overlaps: tuple[OverlapResult, ...]
    imdata_version: str
    #: ``--eot`` and ``--date`` as given (None: the template's own marker, the fixed day)
    eot: str | None = None
    date: str | None = None

    @property
    def word_summary(self) -> DatasetSummary:
        """The summary in the paper's words."""
        return self.words.datasets[0]

    @property
    def token_summary(self) -> DatasetSummary | None:
        """The summary in tokens (``None`` without a tokenizer)."""
        return None if self.tokens is None else self.tokens.datasets[0]

    @property
    def render_flags(self) -> str:
        """``--eot`` and ``--date`` as the provenance line shows them ("" when neither was given)."""
        import json

        eot = (
            f", end-of-turn marker `{json.dumps(self.eot, ensure_ascii=False)}` (`--eot`)"
            if self.eot is not None
            else ""
        )
        return eot + (f", day {self.date} (`--date`)" if self.date else "")

    def implications(self) -> list[str]:
        """What the ratio and the size imply for IM against IT, one sentence each."""
        return implications(self.word_summary, self.token_summary)

    def to_dict(self) -> dict[str, Any]:
        """The card's statistics, JSON-ready (sorted keys when dumped)."""
        return {
            "name": self.name,
            "input": self.input,
            "size_bytes": self.size_bytes,
            "fingerprint": self.fingerprint,
            "format": self.format,
            "license": self.license,
            "source": self.source,
            "template": self.template,
            "eot": self.eot,
            "template_date": self.date,
            "words": self.word_summary.to_dict() | {"path": None},
            "tokens": None if self.token_summary is None else self.token_summary.to_dict() | {"path": None},
            "tokenizer": None if self.tokens is None else self.tokens.tokenizer,
            "tokenizer_fingerprint": None if self.tokens is None else self.tokens.tokenizer_fingerprint,
            "truncation": [_slots(t) for t in self.truncation],
            "overlaps": [_slots(o) for o in self.overlaps],
            "imdata_version": self.imdata_version,
        }


def _slots(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__slots__}


def card(
    data: str | Path | Dataset,
    *,
    name: str | None = None,
    license: str | None = None,
    source: str | None = None,
    description: str | None = None,
    tokenizer: str | TokenizerInfo | None = None,
    template: str = "tulu",
    max_lengths: Sequence[int] = MAX_LENGTHS,
    overlap: Sequence[str | Dataset] = (),
    eot: str | None = None,
    date: str | None = None,
    format: FormatChoice = "auto",
    role_map: Mapping[str, Role] | None = None,
    on_error: OnError = "skip",
    fields: Mapping[str, str] | None = None,
) -> DataCard:
    """Measure one dataset for its card.

    Args:
        data: a path imdata can load, or a loaded dataset.
        name: the card's name (default: the file name without extensions).
        license: the licence, as the user states it (the card prints it as given).
        source: where the data comes from (a URL), as given.
        description: one paragraph on what the data is.
        tokenizer: a tokenizer for the token figures (the paper used LLaMA-2's); without
            one the card has words only.
        template: the chat template lengths are measured in (the paper's is ``tulu``).
        max_lengths: the max lengths truncation is reported at.
        overlap: other sets to look for this dataset's examples in.
        eot: the end-of-turn marker (``--eot``), as ``spans`` takes it; default: found in the template.
        date: the day ``strftime_now`` reports (``--date``).
        format: the record format of path inputs.
        role_map: source role -> system/user/assistant, for path inputs.
        on_error: ``raise`` or ``skip`` bad records (skips are counted on the card).
        fields: the file's own field names by kind (``--field``).
    """
    from imdata import __version__
    from imdata.labels.tokens import load_tokenizer
    from imdata.profiling.profiler import profile

    check_options(template, eot=eot, date=date, max_lengths=max_lengths)
    ds = data if isinstance(data, Dataset) else load(str(data), format=format, role_map=role_map, on_error=on_error,
                                                      fields=fields)  # fmt: skip
    ds = Dataset(name or ds.name, ds.path, ds.format, ds.examples, ds.fingerprint, ds.skipped)
    tok = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    words = profile(ds, unit="words", template=template, eot=eot, date=date)
    cuts = sorted(set(max_lengths))
    tokens, truncation = (None, []) if tok is None else _token_profile(ds, tok, template, cuts, eot=eot, date=date)
    others = tuple(_overlap(ds, o, format=format, role_map=role_map) for o in overlap)
    path = Path(ds.path)
    return DataCard(
        name=ds.name, input=str(data) if not isinstance(data, Dataset) else ds.path,
        size_bytes=path.stat().st_size if path.is_file() else 0, fingerprint=ds.fingerprint, format=ds.format,
        license=license, source=source, description=description, template=words.template, words=words,
        tokens=tokens, truncation=tuple(truncation), overlaps=others, imdata_version=__version__, eot=eot, date=date,
    )  # fmt: skip


def check_options(template: str, *, eot: str | None, date: str | None, max_lengths: Sequence[int]) -> None:
    """Fail on a max length, template, ``--eot`` or ``--date`` the card cannot use, before any data is read.

    The template is resolved as the card's word profile resolves it (without the tokenizer).
    """
    from imdata.templates.builtin import get_template

    if any(m < 1 for m in max_lengths):
        raise OptionError(f"max lengths {list(max_lengths)}: each must be at least 1")
    get_template(template, eot=eot, date=date)


def _token_profile(
    ds: Dataset, tok: TokenizerInfo, template: str, max_lengths: list[int], *, eot: str | None, date: str | None
) -> tuple[ProfileReport, list[Truncation]]:
    """One tokenizer pass: the per-example token frame (as ``profile`` makes it) and truncation."""
    import polars as pl

    from imdata.labels.tokens import resolve_template
    from imdata.profiling.profiler import COLUMNS
    from imdata.profiling.summary import ProfileReport, summarise

    tpl = resolve_template(template, tok, eot=eot, date=date)
    data, cut = _token_counts(ds, tok, tpl, max_lengths)
    frame = pl.DataFrame(data).with_columns(
        ratio=pl.when(pl.col("output") > 0).then(pl.col("instruction") / pl.col("output")).cast(pl.Float64),
        truncated=pl.lit(None, dtype=pl.Int64),
        lost_it=pl.lit(None, dtype=pl.Int64),
        lost_im=pl.lit(None, dtype=pl.Int64),
    )
    frame = frame.select(COLUMNS)
    summary = summarise(frame, name=ds.name, path=ds.path, fingerprint=ds.fingerprint, format=ds.format,
                        unit="tokens", log=ds.skipped, max_length=None)  # fmt: skip
    report = ProfileReport(
        unit="tokens",
        template=tpl.name,
        template_fingerprint=tpl.fingerprint,
        tokenizer=tok.name,
        tokenizer_fingerprint=tok.fingerprint,
        max_length=None,
        datasets=(summary,),
        examples=frame,
    )
    trunc = [Truncation(m, *(int(x) for x in row)) for m, row in zip(max_lengths, cut, strict=True)]
    return report, trunc


def _token_counts(ds: Dataset, tok: TokenizerInfo, tpl: Any, max_lengths: list[int]) -> tuple[dict[str, Any], Any]:
    """Per example: id, token counts by kind and quality flags; per max length: what cutting there loses."""
    import numpy as np
    import polars as pl

    from imdata.labels.labelling import KIND_CODE, tokenize_examples, trained_masks
    from imdata.profiling.profiler import quality_flags

    instr_codes = [KIND_CODE["system"] + 1, KIND_CODE["instruction"] + 1]
    out_codes = [KIND_CODE["output"] + 1, KIND_CODE["eos"] + 1]
    cols = {c: array.array("q") for c in ("turns", "instruction", "output", "template", "total", "trained_it",
                                          "trained_im")}  # fmt: skip
    ids: list[str] = []
    flags: list[tuple[bool, bool, bool]] = []
    cut = np.zeros((len(max_lengths), 4), dtype=np.int64)  # examples, tokens, lost it, lost im
    for tz in tokenize_examples(ds.examples, tpl, tok, mode="im"):
        k = tz.kinds.astype(np.int64) + 1  # 0 = a token the tokenizer added (BOS)
        counts = np.bincount(k, minlength=len(KIND_CODE) + 1)
        ids.append(tz.example.id)
        flags.append(quality_flags(tz.example))
        cols["turns"].append(len(tz.example.messages))
        cols["instruction"].append(int(counts[instr_codes].sum()))
        cols["output"].append(int(counts[out_codes].sum()))
        cols["template"].append(int(counts[KIND_CODE["template"] + 1]))
        cols["total"].append(len(k))
        it_keep, im_keep = trained_masks(tz)
        cols["trained_it"].append(int(it_keep.sum()))
        cols["trained_im"].append(int(im_keep.sum()))
        for i, m in enumerate(max_lengths):
            if len(k) > m:
                cut[i] += (1, len(k) - m, int(it_keep[m:].sum()), int(im_keep[m:].sum()))
    data: dict[str, Any] = {"dataset": [ds.name] * len(ids), "id": ids}
    for c, v in cols.items():
        data[c] = pl.Series(c, np.frombuffer(v, dtype=np.int64) if ids else [], dtype=pl.Int64)
    for j, c in enumerate(("empty_output", "assistant_first", "repeated_role")):
        data[c] = pl.Series(c, [f[j] for f in flags], dtype=pl.Boolean)
    return data, cut


def _overlap(
    ds: Dataset, other: str | Dataset, *, format: FormatChoice, role_map: Mapping[str, Role] | None
) -> OverlapResult:
    from imdata.selection.overlaps import overlap

    b = other if isinstance(other, Dataset) else load(other, format=format, role_map=role_map, on_error="skip")
    rep = overlap(ds, b)
    return OverlapResult(b.name, rep.b_examples, rep.matched, rep.exact, rep.near)


def implications(words: DatasetSummary, tokens: DatasetSummary | None = None) -> list[str]:
    """The paper's two factors (instruction/output ratio, number of examples) read for one dataset."""
    r, n = words.ratio, words.examples
    out: list[str] = []
    if r is None:
        return ["Every output is empty, so the ratio is undefined and IT would train nothing."]
    near = sorted(PAPER_DATASETS.items(), key=lambda kv: abs(math.log(kv[1][0]) - math.log(r)))[:2]
    ref = " and ".join(f"{k} ({v[0]:.2f}, {v[1]:,} examples)" for k, v in near)
    if r >= LONG_INSTRUCTIONS:
        regime = "Instructions are longer than outputs: the regime where the paper reports IM's largest gains"
    elif r >= 0.4:
        regime = "Instructions are a substantial share of each example, though shorter than outputs"
    else:
        regime = "Outputs dominate, so IM adds few loss tokens over IT and should behave much like it"
    out.append(f"Instruction/output ratio {r:.2f} (mean words). {regime}. Nearest in the paper's Table 5: {ref}.")
    s = tokens or words
    if s.im_over_it is not None:
        out.append(
            f"IM trains {s.im_over_it:.2f}x the {s.unit} IT trains ({s.trained_im:,} against {s.trained_it:,}): "
            f"the instruction adds {100 * (s.im_over_it - 1):.0f}% to the loss."
        )
    if n <= FEW_EXAMPLES:
        out.append(
            f"{n:,} examples: a low-resource set, where the paper (the Superficial Alignment Hypothesis) "
            "found IM helps most."
        )
    else:
        out.append(f"{n:,} examples: beyond the low-resource regime, where the paper found IM's advantage smaller.")
    favour = (r >= LONG_INSTRUCTIONS) + (n <= FEW_EXAMPLES)
    verdict = {
        2: "Both factors favour IM: it is the first loss to try.",
        1: "One of the two factors favours IM: compare IM with IT on a held-out split.",
        0: "Neither factor favours IM: expect IM and IT to perform alike.",
    }[favour]
    out.append(
        f"{verdict} (imdata reads 'long instructions' as a ratio of at least {LONG_INSTRUCTIONS:g} and "
        f"'few examples' as at most {FEW_EXAMPLES:,}; the paper gives no thresholds.)"
    )
    return out


def write_card(
    c: DataCard,
    output: str | os.PathLike[str],
    *,
    template_file: str | os.PathLike[str] | None = None,
    plots: bool = True,
    force: bool = False,
) -> list[Path]:
    """Render the card to ``output`` (markdown) and its figures to a folder named after it.

    ``data_cards/lima.md`` gets its figures in ``data_cards/lima/``. Returns the paths written.
    """
    from imdata.data import files
    from imdata.profiling.plots import plot_paths, profile_plots

    out = Path(output)
    if out.is_dir():
        raise OutputError(f"-o {out}: is a folder; give the card's file name, e.g. {out / (c.name + '.md')}")
    files.check_writable(out, force=force)
    folder = out.with_suffix("") if out.suffix else out.with_name(out.name + "_figures")
    planned = plot_paths(folder, force=force) if plots else []
    # the card is rendered before any figure is drawn: a template that fails leaves nothing behind
    text = render_card(c, template_file=template_file, figures=[f"{p.parent.name}/{p.name}" for p in planned])
    figures = profile_plots(c.tokens or c.words, folder, force=force) if plots else []
    with files.atomic_output(out, force=force) as fh:
        fh.write(text)
    return [out, *figures]


def render_card(
    c: DataCard, *, template_file: str | os.PathLike[str] | None = None, figures: Sequence[str] = ()
) -> str:
    """The card as markdown, from ``template_file`` (default: the package's ``card.md.j2``)."""
    import jinja2

    from imdata.templates.sandbox import render_bounded, sandbox_environment

    if template_file is None:
        from importlib.resources import files

        source = files("imdata").joinpath(CARD_TEMPLATE).read_text(encoding="utf-8")
    else:
        p = Path(template_file)
        if not p.is_file():
            raise OptionError(f"--card-template {p}: no such file; give a Jinja markdown template")
        source = p.read_text(encoding="utf-8")
    # a card template from a file is a stranger's code: sandboxed and bounded, like chat templates
    env = sandbox_environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True
    )
    name = f"card template {template_file or CARD_TEMPLATE}"
    try:
        tpl = env.from_string(source)
    except jinja2.TemplateError as e:
        raise TemplateError(f"{name}: {e}; fix the template") from None
    context = {"card": c, "w": c.word_summary, "t": c.token_summary, "figures": list(figures), "num": num}
    text = render_bounded(tpl, context, name=name)
    return text.rstrip("\n") + "\n"


__all__ = [
    "CARD_TEMPLATE",
    "MAX_LENGTHS",
    "PAPER_DATASETS",
    "DataCard",
    "OverlapResult",
    "Truncation",
    "card",
    "implications",
    "render_card",
    "write_card",
]
