"""Stage 3, labels: tokenizers, token kinds and IT/IM loss labels from spans, token-byte tables, verification.

Owns `load_tokenizer`, `tokenize_examples` and the kind codes every later stage counts with.
May import `imdata.templates` and `imdata.data`, nothing above.
"""
