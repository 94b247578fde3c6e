"""Stage 1, data: records and record formats, readers and loaders (`load`, `Dataset`), fingerprints, atomic writers.

Owns `Example`/`Message`, every input format, the file layer (`files`), output escaping, the one table
renderer and number formatter (`tables`), figure saving (`figures`) and starting Ray.
May import only `imdata.errors` and `imdata.choices`.
"""
