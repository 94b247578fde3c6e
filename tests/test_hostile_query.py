"""``imdata query`` reads the store's tables and nothing else: no files, no network, no writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from imdata.cli import main

REFUSED = {
    "read-csv": "SELECT * FROM read_csv('/etc/passwd')",
    "read-text": "SELECT * FROM read_text('/etc/passwd')",
    "glob": "SELECT * FROM glob('/root/*')",
    "read-json": "SELECT * FROM read_json_auto('/etc/hostname')",
    "copy-to": "COPY t TO '{dir}/x.csv'",
    "copy-from": "COPY t FROM '/etc/passwd'",
    "export-database": "EXPORT DATABASE '{dir}/exported'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "attach": "ATTACH '{dir}/other.duckdb' AS other",
    "set-unlock": "SET enable_external_access = true",
    "set-home": "SET home_directory = '/'",
    "create": "CREATE TABLE u (a INTEGER)",
    "insert": "INSERT INTO t VALUES (2)",
    "second-statement": "SELECT 1; COPY t TO '{dir}/y.csv'",
}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    import duckdb

    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    return db


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_query_refuses_files_network_and_writes(name: str, store: Path) -> None:
    before = sorted(p.name for p in store.parent.iterdir())
    res = CliRunner().invoke(main, ["query", "--db", str(store), REFUSED[name].format(dir=store.parent)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "root:" not in res.output
    assert res.output.count("\n") == 1 and res.output.startswith(f"Error: --db {store}: the query ")
    assert sorted(p.name for p in store.parent.iterdir()) == before


def test_query_still_reads_the_store(store: Path) -> None:
    res = CliRunner().invoke(main, ["query", "--db", str(store), "SELECT a FROM t", "--format", "csv"])
    assert res.exit_code == 0 and res.output == "a\n1\n"


@pytest.mark.parametrize("sql", ["", "   "])
def test_empty_query_is_one_line(sql: str, store: Path) -> None:
    res = CliRunner().invoke(main, ["query", "--db", str(store), sql])
    assert (
        res.exit_code == 1
        and res.output == 'Error: the query is empty; give SQL, e.g. "SELECT * FROM profile_datasets"\n'
    )
