"""The profile tables of the DuckDB store: keys, replacement, and what the README documents."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from conftest import EXAMPLES
from polars.testing import assert_frame_equal

from imdata.profiling.profiler import COLUMNS, profile
from imdata.store import database as store


def test_rows_round_trip_and_rerun_replaces(tmp_path: Path) -> None:
    report = profile([EXAMPLES / "tiny_chat.jsonl", EXAMPLES / "tiny_alpaca.json"])
    con = store.connect(tmp_path / "s.duckdb")
    assert store.save_profile(con, report) == report.examples.height
    assert store.save_profile(con, report) == report.examples.height
    back = con.sql("SELECT * FROM profile_examples").pl()
    assert isinstance(back, pl.DataFrame)
    assert back.height == report.examples.height
    assert set(back["unit"]) == {"words"} and set(back["tokenizer_fingerprint"]) == {""}
    assert_frame_equal(back.select(COLUMNS), report.examples, check_dtypes=False)
    (n,) = con.execute("SELECT count(*) FROM profile_datasets").fetchone()
    assert n == 2
    con.close()


def test_key_is_input_unit_tokenizer_template(tmp_path: Path) -> None:
    con = store.connect(tmp_path / "s.duckdb")
    path = EXAMPLES / "tiny_chat.jsonl"
    store.save_profile(con, profile(path))
    store.save_profile(con, profile(path, template="alpaca"))
    store.save_profile(con, profile(path, unit="chars"))
    store.save_profile(con, profile(path, names=["renamed"]))  # same key: replaces the first
    rows = con.execute("SELECT name, unit, template_name FROM profile_datasets ORDER BY unit, template_name").fetchall()
    assert rows == [
        ("tiny_chat", "chars", "tulu"),
        ("tiny_chat", "words", "alpaca"),
        ("renamed", "words", "tulu"),
    ]
    (dupes,) = con.execute(
        "SELECT count(*) FROM (SELECT id, unit, template_fingerprint FROM profile_examples "
        "GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    assert dupes == 0
    con.close()


def test_readme_documents_every_column() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The DuckDB store", 1)[1].split("\n## ", 1)[0]
    con = store.connect(":memory:")
    for ddl in store.PROFILE_DDL:
        con.execute(ddl)
    for table in ("profile_examples", "profile_datasets"):
        assert f"`{table}`" in section
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        missing = [c for c in cols if f"`{c}`" not in section and not _stat_col(c, section)]
        assert not missing, (table, missing)


def _stat_col(col: str, section: str) -> bool:
    # the 30 spread columns are documented as one pattern
    parts = col.rsplit("_", 1)
    return (
        len(parts) == 2
        and parts[1] in {"mean", "sd", "median", "p90", "p99", "max", "sum"}
        and "`{measure}_{stat}`" in section
    )
