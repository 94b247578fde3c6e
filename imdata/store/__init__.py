"""Stage 7, store: the DuckDB store of profile, memorisation and loss runs, and `query` over it.

May import every stage below it (it reads their reports); nothing imports it but the engine and the CLI.
"""
