"""Stage 5, memorisation: model generations, pairing with training outputs, BLEU, nearest search, report, plots.

Owns `memorize`. May import the stages below it (`export` for prompts, `labels`, `templates`, `data`);
not selection/evaluation (its siblings) or anything above.
"""
