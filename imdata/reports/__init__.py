"""Stage 6, reports: the mask audit, the released IM code's labels, the dataset card, the span viewer (`show`).

May import every stage below it (selection, profiling, export, labels, templates, data);
not store, engine or the CLI.
"""
