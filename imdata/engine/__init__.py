"""Stage 8, engine: running profile and span export on the local engine or Ray (`--engine`).

May import every stage below it; only the CLI imports it.
"""
