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
