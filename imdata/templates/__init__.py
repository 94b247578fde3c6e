"""Stage 2, templates: rendering an example into text plus spans of a kind (`Rendered`, `Span`).

Owns the built-in templates, Jinja chat templates and the sandbox they render in.
May import `imdata.data` (and errors/choices), nothing above.
"""
