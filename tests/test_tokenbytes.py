"""Token positions rebuilt from ids equal the tokenizer's own offsets, or are not used."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared

from imdata.data.dataset import load
from imdata.labels.tokenbytes import token_starts
from imdata.labels.tokens import load_tokenizer
from imdata.profiling.profiler import counts_from_bytes, span_token_counts
from imdata.templates.builtin import BUILTIN_TEMPLATES, get_template


@pytest.mark.parametrize("name", ["llama2", "mistral", "gpt2"])
def test_counts_from_ids_equal_counts_from_offsets(name: str) -> None:
    tok = load_tokenizer(str(shared(f"tokenizers/{name}/tokenizer.json")))
    assert tok.byte_table is not None, f"{name} is one of the modelled families"
    data = load(str(shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz")), on_error="skip")
    sample = list(data.examples[:300]) + list(load(str(shared("instruction_modelling/lima_data.jsonl"))).examples[:100])
    for tname in BUILTIN_TEMPLATES:
        tmpl = get_template(tname, eos=tok.eos, bos=tok.bos)
        rendered = [tmpl.render(ex) for ex in sample]
        fast = tok.encode_batch([r.text for r in rendered], offsets=False)
        slow = tok.encode_batch([r.text for r in rendered])
        for r, f, s in zip(rendered, fast, slow, strict=True):
            got = counts_from_bytes(r, f, 256, tok.byte_table, tok.added_around)
            assert got is not None, (name, tname)
            assert got == span_token_counts(r, s, 256), (name, tname)


def test_lengths_that_do_not_add_up_are_refused(llama2_tokenizer: object) -> None:
    tok = load_tokenizer(str(llama2_tokenizer))
    enc = tok.encode_batch(["Hello world"], offsets=False)[0]
    ids, special = np.asarray(enc.ids), np.asarray(enc.special_tokens_mask, dtype=bool)
    assert tok.byte_table is not None
    assert token_starts(tok.byte_table, ids, special, len(b"Hello world")) is not None
    assert token_starts(tok.byte_table, ids, special, len(b"Hello world!")) is None


@pytest.mark.parametrize("name", ["llama2", "gpt2"])
def test_batch_counts_equal_per_example_counts(name: str) -> None:
    from imdata.profiling.profiler import _batch_counts

    tok = load_tokenizer(str(shared(f"tokenizers/{name}/tokenizer.json")))
    assert tok.byte_table is not None
    data = load(str(shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz")), on_error="skip")
    tmpl = get_template("tulu", eos=tok.eos)
    batch = [(ex, tmpl.render(ex)) for ex in data.examples[:400]]
    texts = [r.text for _, r in batch]
    # one text that starts with BOS (a Jinja template may write it) is encoded without special tokens
    if tok.bos:
        batch[5] = (batch[5][0], type(batch[5][1])(tok.bos + batch[5][1].text, batch[5][1].spans))
        texts[5] = batch[5][1].text
    encs = tok.encode_batch(texts, offsets=False)
    counts, lost, ok = _batch_counts(batch, encs, tok, tok.byte_table, 300)
    slow = tok.encode_batch(texts)
    for i, (_, r) in enumerate(batch):
        assert ok[i]
        assert (counts[i].tolist(), lost[i].tolist()) == span_token_counts(r, slow[i], 300)
