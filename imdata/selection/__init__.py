"""Stage 5, selection: pooling, `subset`, `split`, `overlap` and the manifests they write.

May import the stages below it (`profiling`, `export`, `labels`, `templates`, `data`);
not memorisation/evaluation (its siblings) or anything above.
"""
