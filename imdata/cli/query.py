"""``imdata query``: run SQL against the DuckDB store and print the rows in the usual formats."""

from __future__ import annotations

import click

from imdata.cli._common import report_format_option


@click.command()
@click.argument("sql")
@click.option("--db", type=click.Path(dir_okay=False), required=True, help="The DuckDB file written by --db.")
@report_format_option("fmt")
def query(sql: str, db: str, fmt: str) -> None:
    """Run SQL (read-only) against the store written by ``--db``, for example.

    imdata query --db p.duckdb "SELECT name, ratio FROM profile_datasets ORDER BY ratio"

    Tables: profile_examples, profile_datasets (see the README), memo_* (imdata memorize).
    """
    from imdata.store.queries import query as run_query

    click.echo(run_query(db, sql).render(fmt))
