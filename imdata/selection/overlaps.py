r"""Find the examples of one dataset that also occur in another, exactly or as near-duplicates.

Both sides are **normalised** (case folded, punctuation turned into spaces, whitespace
collapsed) and split into an instruction (every system and user turn, with its context)
and an output (every assistant turn).

- **exact**: the normalised instruction and output are equal.
- **near**: word n-gram **containment** is at least ``threshold`` in *every* chosen field
  (instruction and output by default): the n-grams the two examples share in that field,
  divided by the n-grams of the *smaller* of the two. Because the smaller side is the
  denominator, text added around the same content on one side (a prompt wrapper such as
  ``"Instruction: ..."`` or ``"Plase answer the following request: ...\nAnswer:"``) does
  not lower the score; n-grams never span a line break, so a label put between an
  instruction and its input (``"\nInput: ..."``) breaks none either. The pair's score
  is its lowest field containment: a shared passage with a different answer is no match
  unless only ``fields=("instruction",)`` are compared.

Candidates are never all pairs: an inverted index maps each n-gram that is rare in B (in
at most ``max_df`` examples) to the examples holding it; each example of A votes for the
examples of B that share its rare n-grams, and only the ``top`` best-voted are scored.
Examples made only of common n-grams are still found when they match exactly.

>>> from imdata.data.records import Example
>>> a = [Example.from_pairs("a1", [("user", "Instruction: Name three primary colours.\n"),
...                                ("assistant", "Red, yellow and blue.")])]
>>> b = [Example.from_pairs("b1", [("user", "Name three primary colours."),
...                                ("assistant", "red yellow and blue")])]
>>> rep = overlap(a, b)
>>> rep.matched, rep.pairs[0].kind, rep.pairs[0].score
(1, 'near', 1.0)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from imdata.data.records import Example
from imdata.errors import OptionError
from imdata.selection.manifest import Data, pool

OverlapField = Literal["instruction", "output"]
OVERLAP_FIELDS: tuple[str, ...] = get_args(OverlapField)
DEFAULT_THRESHOLD = 0.8
_PUNCT = re.compile(r"[^\w\s]+|_")

Shingles = tuple[frozenset[tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class Pair:
    """An example of A found in B, with its containment per field and overall."""

    a: str
    b: str
    b_input: str
    kind: str
    score: float
    #: per-field containment; ``None`` for a field left out of the comparison
    instruction: float | None
    output: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "a": self.a,
            "b": self.b,
            "b_input": self.b_input,
            "kind": self.kind,
            "score": self.score,
            "instruction": self.instruction,
            "output": self.output,
        }


@dataclass(frozen=True)
class OverlapReport:
    """Which examples of A occur in B. ``matched`` counts examples of A, not pairs."""

    a: str
    b: tuple[str, ...]
    examples: int
    b_examples: int
    matched: int
    exact: int
    near: int
    b_matched: int
    pairs: tuple[Pair, ...]
    threshold: float
    ngram: int
    fields: tuple[str, ...]
    candidates_scored: int

    @property
    def naive_pairs(self) -> int:
        """How many pairs comparing every example with every other would score."""
        return self.examples * self.b_examples

    @property
    def matched_ids(self) -> list[str]:
        """The ids of A's matched examples, in A's order of first appearance in ``pairs``."""
        return list(dict.fromkeys(p.a for p in self.pairs))

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: ``{"matched", "examples", "pairs", ...}`` (dump with sorted keys)."""
        return {
            "a": self.a,
            "b": list(self.b),
            "examples": self.examples,
            "b_examples": self.b_examples,
            "matched": self.matched,
            "exact": self.exact,
            "near": self.near,
            "b_matched": self.b_matched,
            "matched_fraction": round(self.matched / self.examples, 4) if self.examples else 0.0,
            "b_matched_fraction": round(self.b_matched / self.b_examples, 4) if self.b_examples else 0.0,
            "threshold": self.threshold,
            "ngram": self.ngram,
            "fields": list(self.fields),
            "candidates_scored": self.candidates_scored,
            "naive_pairs": self.naive_pairs,
            "pairs": [p.to_dict() for p in self.pairs],
        }

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row: the headline figures."""
        d = self.to_dict()
        keys = (
            "a",
            "examples",
            "matched",
            "matched_fraction",
            "exact",
            "near",
            "b_examples",
            "b_matched",
            "b_matched_fraction",
            "candidates_scored",
            "naive_pairs",
        )
        row = {k: d[k] for k in keys}
        row["b"] = ", ".join(self.b)
        return [row]


def normalise(text: str) -> str:
    r"""Case-fold, turn punctuation into spaces, collapse whitespace.

    >>> normalise("  Hello,   World!\nIt's  me. ")
    'hello world it s me'
    """
    return " ".join(_PUNCT.sub(" ", text.casefold()).split())


def example_fields(ex: Example) -> tuple[str, str]:
    """The normalised instruction (system and user turns) and output (assistant turns)."""
    instr = " ".join(m.full_content() for m in ex.messages if m.role != "assistant")
    out = " ".join(m.content for m in ex.messages if m.role == "assistant")
    return normalise(instr), normalise(out)


def shingles(text: str, n: int) -> frozenset[tuple[str, ...]]:
    """Word n-grams of a normalised text; a text shorter than ``n`` words is one shingle.

    >>> sorted(shingles("a b c d", 3))
    [('a', 'b', 'c'), ('b', 'c', 'd')]
    """
    w = text.split()
    if len(w) < n:
        return frozenset([tuple(w)]) if w else frozenset()
    return frozenset(zip(*(w[i:] for i in range(n)), strict=False))


def overlap(
    a: Data,
    b: Data,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    ngram: int = 3,
    fields: Sequence[OverlapField] = ("instruction", "output"),
    max_df: int = 50,
    top: int = 5,
) -> OverlapReport:
    """Find the examples of ``a`` that occur in ``b`` (several inputs on either side are pooled).

    Args:
        a: the examples to look for (e.g. a held-out set, a benchmark).
        b: where to look (e.g. the training data).
        threshold: the containment at or above which a pair is a near-duplicate.
        ngram: n-gram length in words.
        fields: which fields the containment is computed over.
        max_df: n-grams in more than this many examples of ``b`` do not nominate candidates.
        top: how many of the best-voted candidates of each example are scored.
    """
    fields = _check(threshold, ngram, fields, max_df, top)
    pa, pb = pool(a), pool(b)
    which = [OVERLAP_FIELDS.index(f) for f in fields]
    ta, tb = _texts(pa.examples), _texts(pb.examples)
    sa, sb = _shingles(ta, ngram, which), _shingles(tb, ngram, which)
    exact = _exact(ta, tb, fields)
    cand = _candidates(sa, sb, exact, max_df, top)
    scores = _scores(cand, _shared(cand, sa, sb), _sizes(sa), _sizes(sb), which)
    near = scores.filter(scores["score"] >= threshold)
    b_input = [i.name for i in pb.inputs for _ in range(i.examples)]
    pairs = _pairs(pa.examples, pb.examples, b_input, exact, near)
    matched = len({p.a for p in pairs})
    exact_a = len({p.a for p in pairs if p.kind == "exact"})
    return OverlapReport(
        a=", ".join(info.name for info in pa.inputs),
        b=tuple(info.name for info in pb.inputs),
        examples=len(pa.examples),
        b_examples=len(pb.examples),
        matched=matched,
        exact=exact_a,
        near=matched - exact_a,
        b_matched=len({(p.b_input, p.b) for p in pairs}),
        pairs=tuple(pairs),
        threshold=threshold,
        ngram=ngram,
        fields=fields,
        candidates_scored=cand.height,
    )


def _check(
    threshold: float, ngram: int, fields: Sequence[OverlapField], max_df: int, top: int
) -> tuple[OverlapField, ...]:
    """Fail on an option out of range; return the fields, each once."""
    if not 0 < threshold <= 1:
        raise OptionError(f"--threshold {threshold}: must be in (0, 1]")
    if ngram < 1 or max_df < 1 or top < 1:
        raise OptionError("--ngram, --max-df and --top must be at least 1")
    fields = tuple(dict.fromkeys(fields))
    if not fields or any(f not in OVERLAP_FIELDS for f in fields):
        raise OptionError(f"--fields {','.join(fields)}: choose from {', '.join(OVERLAP_FIELDS)}")
    return fields


def _exact(ta: Any, tb: Any, fields: Sequence[str]) -> Any:
    """``a, b`` pairs whose chosen normalised fields are all equal."""
    import polars as pl

    return ta.join(tb, on=list(fields), how="inner", suffix="_b").select(
        pl.col("doc").alias("a"), pl.col("doc_b").alias("b")
    )


def _candidates(sa: Any, sb: Any, exact: Any, max_df: int, top: int) -> Any:
    """``a, b`` pairs worth scoring: each ``a``'s ``top`` best-voted ``b`` by shared rare n-grams, less exact ones."""
    import polars as pl

    df = sb.group_by("f", "h").agg(pl.col("doc").alias("b"), pl.len().alias("df"))
    rare = df.filter(pl.col("df") <= max_df).drop("df").explode("b")
    # (a, b) packed into one u64 so that grouping is on a single key; the rank key orders
    # by votes, then by the smaller b, so the top candidates do not depend on thread timing
    ab = pl.col("doc").cast(pl.UInt64) * _SHIFT + pl.col("b").cast(pl.UInt64)
    votes = sa.join(rare, on=["f", "h"], how="inner").group_by(ab.alias("ab")).len("votes")
    rank_key = pl.col("votes").cast(pl.UInt64) * _SHIFT + (_SHIFT - 1 - pl.col("ab") % _SHIFT)
    return (
        votes.with_columns(
            (pl.col("ab") // _SHIFT).cast(pl.UInt32).alias("a"),
            (pl.col("ab") % _SHIFT).cast(pl.UInt32).alias("b"),
            rank_key.alias("rk"),
        )
        .filter(pl.col("rk").rank("ordinal", descending=True).over("a") <= top)
        .select("a", "b")
        .join(exact, on=["a", "b"], how="anti")
    )


def _shared(cand: Any, sa: Any, sb: Any) -> Any:
    """``a, b, f, shared``: how many n-grams of field ``f`` each candidate pair shares."""
    import polars as pl

    key = ((pl.col("h") * _MULT + pl.col("f").cast(pl.UInt64)) * _MULT + pl.col("b").cast(pl.UInt64)).alias("k")
    b_keys = sb.rename({"doc": "b"}).select(key)
    return (
        cand.join(sa.rename({"doc": "a"}), on="a")
        .with_columns(key)
        .join(b_keys, on="k", how="semi")
        .group_by("a", "b", "f")
        .len("shared")
    )


def _texts(examples: Sequence[Example]) -> Any:
    """A frame of ``doc``, each field normalised (as :func:`normalise`) and its ``*_lines`` form.

    The lines form keeps line breaks (and message and context boundaries) as a ``|`` word,
    so that n-grams never span them: a wrapper that puts ``Input:`` between an instruction
    and its context then breaks no n-gram of the unwrapped text.
    """
    import polars as pl

    instr, out = [], []
    for ex in examples:
        instr.append("\n".join(m.full_content() for m in ex.messages if m.role != "assistant"))
        out.append("\n".join(m.content for m in ex.messages if m.role == "assistant"))

    def lines(c: str) -> Any:
        return (
            pl.col(c)
            .str.to_lowercase()
            .str.replace_all(r"[^\w\s]+|_", " ")
            .str.replace_all(r"\s*\n\s*", " | ")
            .str.replace_all(r"\s+", " ")
            .str.strip_chars()
            .alias(f"{c}_lines")
        )

    def flat(c: str) -> Any:
        return pl.col(f"{c}_lines").str.replace_all(r"\| ?", "").str.replace_all(r"\s+", " ").str.strip_chars()

    frame = pl.DataFrame(
        {
            "doc": pl.Series(range(len(examples)), dtype=pl.UInt32),
            "instruction": instr,
            "output": out,
        }
    )
    return frame.with_columns(lines("instruction"), lines("output")).with_columns(
        flat("instruction").alias("instruction"), flat("output").alias("output")
    )


def _shingles(texts: Any, n: int, which: Sequence[int]) -> Any:
    """Unique hashed word n-grams per example and field: ``doc, f, h``.

    n-grams stay within a line; a field with no line of ``n`` words is one shingle (its whole
    normalised text), and an empty field has none.
    """
    import polars as pl

    frames = []
    for f in which:
        name = OVERLAP_FIELDS[f]
        words = (
            texts.select("doc", pl.col(f"{name}_lines").str.split(" ").alias("w"))
            .explode("w")
            .filter(pl.col("w").str.len_bytes() > 0)
            .with_columns(pl.col("w").hash(seed=0).alias("wh"), (pl.col("w") == "|").alias("sep"))
        )
        h, ok = pl.col("wh"), ~pl.col("sep")
        for k in range(1, n):
            # a global shift is much faster than one per example; n-grams running into the
            # next example are dropped by the doc check
            h = h * _MULT + pl.col("wh").shift(-k)
            ok = ok & ~pl.col("sep").shift(-k)
        ok = ok & (pl.col("doc").shift(-(n - 1)) == pl.col("doc"))
        long_ = words.with_columns(h.alias("h")).filter(ok).select("doc", "h")
        short = (
            texts.select("doc", pl.col(name).alias("t"))
            .join(long_.select("doc").unique(), on="doc", how="anti")
            .filter(pl.col("t").str.len_bytes() > 0)
            .select("doc", pl.col("t").hash(seed=1).alias("h"))
        )
        frames.append(pl.concat([long_, short]).unique().with_columns(pl.lit(f, dtype=pl.UInt8).alias("f")))
    return pl.concat(frames).select("doc", "f", "h")


_SHIFT = 1 << 32
_MULT = 1_000_003  # odd multiplier: hashes combine by wrapping u64 arithmetic, order-sensitive


def _sizes(s: Any) -> Any:
    return s.group_by("doc", "f").len("size")


def _scores(cand: Any, shared: Any, size_a: Any, size_b: Any, which: Sequence[int]) -> Any:
    """Containment per field (of the smaller set in the larger); the score is the lowest of them."""
    import polars as pl

    grid = cand.join(pl.DataFrame({"f": pl.Series(which, dtype=pl.UInt8)}), how="cross")
    grid = (
        grid.join(shared, on=["a", "b", "f"], how="left")
        .join(size_a.rename({"doc": "a", "size": "na"}), on=["a", "f"], how="left")
        .join(size_b.rename({"doc": "b", "size": "nb"}), on=["b", "f"], how="left")
        .fill_null(0)
    )
    lo = pl.min_horizontal("na", "nb")
    per = (
        pl.when(lo > 0)
        .then(pl.col("shared") / lo)
        .otherwise(pl.when(pl.col("na") == pl.col("nb")).then(1.0).otherwise(0.0))
    )
    out = (
        grid.with_columns(per.alias("per"))
        .group_by("a", "b")
        .agg(
            pl.col("per").min().alias("score"),
            per.filter(pl.col("f") == 0).first().alias("instruction"),
            per.filter(pl.col("f") == 1).first().alias("output"),
        )
    )
    return out.with_columns(pl.col("score", "instruction", "output").fill_nan(0.0).round(4)).sort("a", "b")


def _pairs(ea: Sequence[Example], eb: Sequence[Example], b_input: Sequence[str], exact: Any, near: Any) -> list[Pair]:
    """Pairs in A's order, best first within each example of A."""
    out: list[Pair] = []
    for i, j in exact.iter_rows():
        out.append(Pair(ea[i].id, eb[j].id, b_input[j], "exact", 1.0, 1.0, 1.0))
    for i, j, score, ins, outp in near.select("a", "b", "score", "instruction", "output").iter_rows():
        out.append(
            Pair(
                ea[i].id,
                eb[j].id,
                b_input[j],
                "near",
                score,
                ins,
                outp,
            )
        )
    pos = {ex.id: k for k, ex in enumerate(ea)}
    return sorted(out, key=lambda p: (pos[p.a], -p.score, p.kind != "exact", p.b_input, p.b))
