"""The DuckDB store: per-example rows and summaries of profiles and memorisation reports.

One embedded file, no server. Rows are keyed by what produced them (input fingerprint,
unit, tokenizer, template, ...), so running the same analysis again replaces its rows
instead of duplicating them. SQL lives in named constants with bound parameters.

Tables are documented in the README ("The DuckDB store"). Each analysis adds its own DDL
constants and a ``save_*`` function below its marker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from imdata.errors import OutputError

#: how long a writer waits for another process to release the store before it gives up
LOCK_WAIT_SECONDS = 60.0


_HEADER_BYTES = 3 * 4096  # a DuckDB file's headers: smaller than this, it is still being created


def _size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def check_store(path: str | Path) -> None:
    """Refuse, before any work, a ``--db`` that cannot be written: a folder, a device, a read-only folder."""
    from imdata.data.atomic import check_folder_writable

    p = Path(path)
    if p.exists() and not p.is_file():
        raise OutputError(f"--db {p}: is not a regular file; give the path of a DuckDB file")
    check_folder_writable(p.parent, f"--db {p}")


def connect(path: str | Path, *, wait: float | None = None) -> Any:
    """Open (or create) the store at ``path``, waiting up to ``wait`` seconds for another writer.

    DuckDB lets one process write a file at a time; a second one waits here (the work it
    is about to store is kept), and after the bound gets one clear error.
    """
    import duckdb

    check_store(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    bound = LOCK_WAIT_SECONDS if wait is None else wait
    deadline = time.monotonic() + bound
    made_by = time.monotonic() + 5.0  # a header takes milliseconds to write; a short junk file is an error
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as e:
            # a file another writer is creating right now has no header yet: wait for it too
            being_made = "not a valid duckdb database" in str(e).lower() and _size(path) < _HEADER_BYTES
            if "lock" not in str(e).lower() and not (being_made and time.monotonic() < min(deadline, made_by)):
                raise OutputError(f"--db {path}: cannot open it ({str(e).splitlines()[0]})") from None
            if time.monotonic() >= deadline:
                raise OutputError(
                    f"--db {path}: another process is writing this store and held it for over {bound:g} s; "
                    "run again when it is done, or use another --db file"
                ) from None
            time.sleep(0.2)
        except duckdb.Error as e:
            raise OutputError(f"--db {path}: cannot open it as a DuckDB file ({str(e).splitlines()[0]})") from None


# --- profile tables -----------------------------------------------------------------------

#: the four columns that identify a profile: re-profiling the same input the same way replaces it
PROFILE_KEY = ("input_fingerprint", "unit", "tokenizer_fingerprint", "template_fingerprint")
_STATS_COLS = ", ".join(
    f"{m}_{s} {'BIGINT' if s in ('max', 'sum') else 'DOUBLE'}"
    for m in ("instruction", "output", "total", "template", "turns")
    for s in ("mean", "sd", "median", "p90", "p99", "max", "sum")
)
PROFILE_DDL = (
    """CREATE TABLE IF NOT EXISTS profile_examples (
        input_fingerprint VARCHAR, unit VARCHAR, tokenizer_fingerprint VARCHAR,
        template_fingerprint VARCHAR, dataset VARCHAR, id VARCHAR, turns BIGINT,
        instruction BIGINT, output BIGINT, template BIGINT, total BIGINT, ratio DOUBLE,
        trained_it BIGINT, trained_im BIGINT, truncated BIGINT, lost_it BIGINT, lost_im BIGINT,
        empty_output BOOLEAN, assistant_first BOOLEAN, repeated_role BOOLEAN)""",
    f"""CREATE TABLE IF NOT EXISTS profile_datasets (
        input_fingerprint VARCHAR, unit VARCHAR, tokenizer_fingerprint VARCHAR,
        template_fingerprint VARCHAR, name VARCHAR, path VARCHAR, format VARCHAR,
        tokenizer VARCHAR, template_name VARCHAR, examples BIGINT, {_STATS_COLS},
        ratio DOUBLE, median_ratio DOUBLE, output_empty BIGINT, trained_it BIGINT,
        trained_im BIGINT, im_over_it DOUBLE, max_length BIGINT, truncated BIGINT,
        truncated_tokens BIGINT, lost_it BIGINT, lost_im BIGINT, skipped BIGINT, warnings BIGINT,
        skipped_reasons VARCHAR, warning_reasons VARCHAR, imdata_version VARCHAR,
        quality_duplicates BIGINT, quality_empty_turns BIGINT, quality_empty_outputs BIGINT,
        quality_assistant_first BIGINT, quality_repeated_roles BIGINT,
        quality_instruction_outliers BIGINT, quality_output_outliers BIGINT, quality_skipped BIGINT,
        quality VARCHAR,
        PRIMARY KEY (input_fingerprint, unit, tokenizer_fingerprint, template_fingerprint))""",
)
PROFILE_DELETE_EXAMPLES = """DELETE FROM profile_examples WHERE input_fingerprint = ? AND unit = ?
    AND tokenizer_fingerprint = ? AND template_fingerprint = ?"""
PROFILE_DELETE_DATASET = """DELETE FROM profile_datasets WHERE input_fingerprint = ? AND unit = ?
    AND tokenizer_fingerprint = ? AND template_fingerprint = ?"""
PROFILE_INSERT_EXAMPLES = """INSERT INTO profile_examples SELECT ?, ?, ?, ?, dataset, id, turns,
    instruction, output, template, total, ratio, trained_it, trained_im, truncated, lost_it, lost_im,
    empty_output, assistant_first, repeated_role FROM profile_examples_in WHERE dataset = ?"""
PROFILE_INSERT_DATASET = "INSERT INTO profile_datasets BY NAME SELECT * FROM profile_datasets_in"


def save_profile(con: Any, report: Any) -> int:
    """Store a :class:`~imdata.profiling.summary.ProfileReport`; re-profiling replaces, never duplicates.

    Rows are keyed by :data:`PROFILE_KEY`; the tokenizer fingerprint is ``""`` without a
    tokenizer. Returns how many per-example rows were written.
    """
    import json

    import polars as pl

    from imdata import __version__

    for ddl in PROFILE_DDL:
        con.execute(ddl)
    tok_fp = report.tokenizer_fingerprint or ""
    rows = 0
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("profile_examples_in", report.examples.to_arrow())
        for d in report.datasets:
            key = [d.fingerprint, report.unit, tok_fp, report.template_fingerprint]
            con.execute(PROFILE_DELETE_EXAMPLES, key)
            con.execute(PROFILE_DELETE_DATASET, key)
            con.execute(PROFILE_INSERT_EXAMPLES, [*key, d.name])
            flat = d.flat()
            flat.pop("fingerprint")
            row = (
                dict(zip(PROFILE_KEY, key, strict=True))
                | flat
                | {
                    "tokenizer": report.tokenizer,
                    "template_name": report.template,
                    "skipped_reasons": json.dumps(dict(d.skipped), sort_keys=True),
                    "warning_reasons": json.dumps(dict(d.warnings), sort_keys=True),
                    "quality": json.dumps(dict(d.quality), sort_keys=True),
                    "imdata_version": __version__,
                }
            )
            summary = pl.DataFrame([row], infer_schema_length=None)
            con.register("profile_datasets_in", summary.to_arrow())
            con.execute(PROFILE_INSERT_DATASET)
            con.unregister("profile_datasets_in")
            rows += d.examples
        con.unregister("profile_examples_in")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return rows


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
    """Store a :class:`~imdata.memorisation.memorization.MemorizationReport`; a rerun replaces its rows.

    Returns the analysis key the rows are filed under.
    """
    key = memo_analysis_key(report)
    for ddl in MEMO_DDL:
        con.execute(ddl)
    con.execute("BEGIN TRANSACTION")
    try:
        for r in report.runs:
            con.execute(MEMO_DELETE_RUN, [key, r.name])
            con.execute(MEMO_DELETE_PAIRS, [key, r.name])
            con.execute(MEMO_INSERT_RUN, _memo_run_row(key, report, r))
            con.register("memo_pairs_in", r.pairs_frame.to_arrow())
            con.execute(MEMO_INSERT_PAIRS, [key, r.name])
            con.unregister("memo_pairs_in")
        for c in report.comparisons:
            con.execute(MEMO_DELETE_COMPARISON, [key, c.baseline, c.run])
            con.execute(
                MEMO_INSERT_COMPARISON,
                [key, c.baseline, c.run, c.shared, c.mean_baseline, c.mean_run, c.difference, c.ci_low,
                 c.ci_high, c.significant, report.bootstrap, report.seed, report.confidence],
            )  # fmt: skip
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return key


def _memo_run_row(key: str, report: Any, r: Any) -> list[Any]:
    """A ``memo_runs`` row: the run's numbers are :data:`~imdata.memorisation.report.RUN_NUMBERS`."""
    import json

    from imdata import __version__
    from imdata.memorisation.report import run_numbers

    t = report.train
    numbers = [v for k, v in run_numbers(r).items() if k != "left_out"]
    return [
        key, r.name, report.match, json.dumps(list(t.paths)), json.dumps(list(t.fingerprints)), r.path,
        r.fingerprint, *numbers, json.dumps(dict(r.problems), sort_keys=True), report.signatures.sentence,
        report.signatures.corpus, __version__,
    ]  # fmt: skip


# --- loss tables --------------------------------------------------------------------------

LOSS_DDL = (
    """CREATE TABLE IF NOT EXISTS loss_results (
        analysis VARCHAR, model VARCHAR, model_source VARCHAR, model_fingerprint VARCHAR,
        tokenizer_fingerprint VARCHAR, dataset VARCHAR, dataset_path VARCHAR, dataset_fingerprint VARCHAR,
        kind VARCHAR, kinds VARCHAR, examples BIGINT, truncated BIGINT, tokens BIGINT, loss DOUBLE,
        ppl DOUBLE, ci_low DOUBLE, ci_high DOUBLE, template VARCHAR, template_fingerprint VARCHAR,
        max_length BIGINT, device VARCHAR, dtype VARCHAR, bootstrap BIGINT, seed BIGINT,
        confidence DOUBLE, imdata_version VARCHAR, PRIMARY KEY (analysis, model, dataset, kind))""",
    """CREATE TABLE IF NOT EXISTS loss_differences (
        analysis VARCHAR, dataset VARCHAR, kind VARCHAR, baseline VARCHAR, model VARCHAR,
        examples BIGINT, difference DOUBLE, ci_low DOUBLE, ci_high DOUBLE, significant BOOLEAN,
        bootstrap BIGINT, seed BIGINT, confidence DOUBLE,
        PRIMARY KEY (analysis, dataset, kind, baseline, model))""",
    """CREATE TABLE IF NOT EXISTS loss_examples (
        analysis VARCHAR, model VARCHAR, dataset VARCHAR, id VARCHAR, kind VARCHAR,
        loss_sum DOUBLE, tokens BIGINT)""",
)
LOSS_DELETE_RESULTS = "DELETE FROM loss_results WHERE analysis = ? AND model = ?"
LOSS_DELETE_EXAMPLES = "DELETE FROM loss_examples WHERE analysis = ? AND model = ?"
LOSS_DELETE_DIFFERENCE = (
    "DELETE FROM loss_differences WHERE analysis = ? AND dataset = ? AND kind = ? AND baseline = ? AND model = ?"
)
LOSS_INSERT_RESULT = "INSERT INTO loss_results VALUES (" + ", ".join(["?"] * 26) + ")"
LOSS_INSERT_DIFFERENCE = "INSERT INTO loss_differences VALUES (" + ", ".join(["?"] * 13) + ")"
LOSS_INSERT_EXAMPLES = """INSERT INTO loss_examples SELECT ?, model, dataset, id, kind, loss_sum, tokens
    FROM loss_examples_in WHERE model = ?"""


def loss_analysis_key(report: Any) -> str:
    """What identifies a loss analysis: the sets, the template, the kind groups and the length cut."""
    import hashlib
    import json

    parts = {
        "sets": [[d["name"], d["fingerprint"], d["examples"]] for d in report.datasets],
        "template": report.template_fingerprint,
        "kinds": {g.name: sorted(g.kinds) for g in report.kinds},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def save_loss(con: Any, report: Any) -> str:
    """Store a :class:`~imdata.evaluation.LossReport`; rerunning a model replaces its rows.

    Returns the analysis key the rows are filed under.
    """
    import json

    import polars as pl

    from imdata import __version__

    key = loss_analysis_key(report)
    for ddl in LOSS_DDL:
        con.execute(ddl)
    sets = {d["name"]: d for d in report.datasets}
    ckpts = {c.name: c for c in report.checkpoints}
    groups = {g.name: json.dumps(sorted(g.kinds)) for g in report.kinds}
    long = report.examples.unpivot(
        index=["model", "dataset", "id"], on=[f"{g}_loss" for g in groups], variable_name="kind", value_name="loss_sum"
    ).with_columns(pl.col("kind").str.strip_suffix("_loss"))
    tokens = report.examples.unpivot(
        index=["model", "dataset", "id"], on=[f"{g}_tokens" for g in groups], variable_name="kind", value_name="tokens"
    ).with_columns(pl.col("kind").str.strip_suffix("_tokens"))
    frame = long.join(tokens, on=["model", "dataset", "id", "kind"], how="left", maintain_order="left")
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("loss_examples_in", frame.to_arrow())
        for name in ckpts:
            con.execute(LOSS_DELETE_RESULTS, [key, name])
            con.execute(LOSS_DELETE_EXAMPLES, [key, name])
            con.execute(LOSS_INSERT_EXAMPLES, [key, name])
        for r in report.results:
            c, d = ckpts[r.model], sets[r.dataset]
            for kind, v in r.kinds.items():
                con.execute(
                    LOSS_INSERT_RESULT,
                    [
                        key, r.model, c.source, c.fingerprint, c.tokenizer_fingerprint, r.dataset, d["path"],
                        d["fingerprint"], kind, groups[kind], r.examples, r.truncated, v.tokens, v.loss, v.ppl,
                        v.ci_low, v.ci_high, report.template, report.template_fingerprint, c.max_length,
                        report.device, report.dtype, report.bootstrap, report.seed, report.confidence, __version__,
                    ],
                )  # fmt: skip
        for x in report.differences:
            ident = [key, x.dataset, x.kind, x.baseline, x.model]
            con.execute(LOSS_DELETE_DIFFERENCE, ident)
            con.execute(
                LOSS_INSERT_DIFFERENCE,
                [*ident, x.examples, x.difference, x.ci_low, x.ci_high, x.significant]
                + [report.bootstrap, report.seed, report.confidence],
            )
        con.unregister("loss_examples_in")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return key
