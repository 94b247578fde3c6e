"""Stage 4, profiling: per-example lengths by span kind, dataset summaries, the profile report and its plots.

Owns `profile` and `ProfileReport`. May import `imdata.labels`, `imdata.templates`, `imdata.data`;
not `export` (its sibling at this stage) or anything above.
"""
