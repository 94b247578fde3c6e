"""The DuckDB store: per-example rows and summaries of profiles and memorisation reports.

One embedded file, no server. Rows are keyed by what produced them (input fingerprint,
unit, tokenizer, template, ...), so running the same analysis again replaces its rows
instead of duplicating them. SQL lives in named constants with bound parameters.

Tables are documented in the README ("The DuckDB store"). Each analysis adds its own DDL
constants and a ``save_*`` function below its marker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def connect(path: str | Path) -> Any:
    """Open (or create) the store at ``path``."""
    import duckdb

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path))


# --- profile tables -----------------------------------------------------------------------

# --- memorisation tables ------------------------------------------------------------------

MEMO_DDL = (
    """CREATE TABLE IF NOT EXISTS memo_runs (
        analysis VARCHAR, run VARCHAR, match VARCHAR, train_paths VARCHAR, train_fingerprints VARCHAR,
        outputs_path VARCHAR, outputs_fingerprint VARCHAR, records BIGINT, pairs BIGINT,
        bleu_mean DOUBLE, bleu_median DOUBLE, bleu_p90 DOUBLE, above_50 DOUBLE, above_80 DOUBLE,
        corpus_bleu DOUBLE, exact_matches BIGINT, overlap_mean DOUBLE, overlap_max BIGINT,
        unmatched_train BIGINT, problems VARCHAR, sacrebleu_sentence VARCHAR, sacrebleu_corpus VARCHAR,
        imdata_version VARCHAR, PRIMARY KEY (analysis, run))""",
    """CREATE TABLE IF NOT EXISTS memo_pairs (
        analysis VARCHAR, run VARCHAR, key VARCHAR, output_id VARCHAR, "where" VARCHAR,
        train_id VARCHAR, bleu DOUBLE, overlap_words BIGINT, exact BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS memo_comparisons (
        analysis VARCHAR, baseline VARCHAR, run VARCHAR, shared BIGINT, mean_baseline DOUBLE,
        mean_run DOUBLE, difference DOUBLE, ci_low DOUBLE, ci_high DOUBLE, significant BOOLEAN,
        bootstrap BIGINT, seed BIGINT, confidence DOUBLE, PRIMARY KEY (analysis, baseline, run))""",
)
MEMO_DELETE_RUN = "DELETE FROM memo_runs WHERE analysis = ? AND run = ?"
MEMO_DELETE_PAIRS = "DELETE FROM memo_pairs WHERE analysis = ? AND run = ?"
MEMO_DELETE_COMPARISON = "DELETE FROM memo_comparisons WHERE analysis = ? AND baseline = ? AND run = ?"
MEMO_INSERT_RUN = "INSERT INTO memo_runs VALUES (" + ", ".join(["?"] * 23) + ")"
MEMO_INSERT_PAIRS = """INSERT INTO memo_pairs SELECT ?, ?, key, output_id, "where", train_id, bleu,
    overlap_words, exact FROM memo_pairs_in"""
MEMO_INSERT_COMPARISON = "INSERT INTO memo_comparisons VALUES (" + ", ".join(["?"] * 13) + ")"


def memo_analysis_key(report: Any) -> str:
    """What identifies a memorisation analysis: the pairing and the training side."""
    import hashlib

    parts = [report.match, report.template, *report.train.fingerprints]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def save_memorization(con: Any, report: Any) -> str:
    """Store a :class:`~imdata.memorization.MemorizationReport`; a rerun replaces its rows.

    Returns the analysis key the rows are filed under.
    """
    import json

    from imdata import __version__

    key = memo_analysis_key(report)
    for ddl in MEMO_DDL:
        con.execute(ddl)
    t = report.train
    con.execute("BEGIN TRANSACTION")
    try:
        for r in report.runs:
            con.execute(MEMO_DELETE_RUN, [key, r.name])
            con.execute(MEMO_DELETE_PAIRS, [key, r.name])
            con.execute(MEMO_INSERT_RUN, [
                key, r.name, report.match, json.dumps(list(t.paths)), json.dumps(list(t.fingerprints)),
                r.path, r.fingerprint, r.records, r.pairs, r.bleu.mean, r.bleu.median, r.bleu.p90,
                r.bleu.above_50, r.bleu.above_80, r.corpus_bleu, r.exact_matches, r.overlap_mean,
                r.overlap_max, r.unmatched_train, json.dumps(dict(r.problems), sort_keys=True),
                report.signatures.sentence, report.signatures.corpus, __version__,
            ])
            con.register("memo_pairs_in", r.pairs_frame.to_arrow())
            con.execute(MEMO_INSERT_PAIRS, [key, r.name])
            con.unregister("memo_pairs_in")
        for c in report.comparisons:
            con.execute(MEMO_DELETE_COMPARISON, [key, c.baseline, c.run])
            con.execute(MEMO_INSERT_COMPARISON, [
                key, c.baseline, c.run, c.shared, c.mean_baseline, c.mean_run, c.difference, c.ci_low,
                c.ci_high, c.significant, report.bootstrap, report.seed, report.confidence,
            ])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return key
