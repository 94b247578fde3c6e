"""Stage 4, export: span JSONL, Hugging Face rows and `datasets` folders, generation prompts.

Owns `spans`, `to_hf_dataset` and `prompts`. May import `imdata.labels`, `imdata.templates`,
`imdata.data`; not `profiling` (its sibling at this stage) or anything above.
"""
