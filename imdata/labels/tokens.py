"""Load tokenizers (a ``tokenizer.json``, a folder, or a hub id) and encode in batches.

The Rust tokenizer's batch API does the work on all cores; imdata adds only what it needs
to know around it: the BOS and EOS strings, whether the tokenizer adds BOS itself, and a
fingerprint for provenance.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imdata.errors import TokenizerError

if TYPE_CHECKING:
    from imdata.labels.tokenbytes import ByteTable
    from imdata.templates.rendered import Template

_EOS_CANDIDATES = (
    "</s>",
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<eos>",
    "<|end|>",
    "<|end_of_text|>",
)


@dataclass(frozen=True)
class TokenizerInfo:
    """A loaded tokenizer and the facts about it that labels depend on."""

    tokenizer: Any
    name: str
    fingerprint: str
    bos: str | None
    eos: str
    adds_bos: bool

    def encode_batch(self, texts: Sequence[str], *, offsets: bool = True) -> list[Any]:
        """Encode texts with special tokens, as a trainer would; BOS is never doubled.

        A text that already starts with the BOS string (some Jinja templates write it) is
        encoded without the tokenizer's own special tokens.
        """
        tok = self.tokenizer
        enc = tok.encode_batch if offsets else tok.encode_batch_fast
        bos = self.bos
        if not (self.adds_bos and bos) or not any(t.startswith(bos) for t in texts):
            return list(enc(list(texts), add_special_tokens=True))
        out: list[Any] = [None] * len(texts)
        with_bos = [i for i, t in enumerate(texts) if t.startswith(bos)]
        plain = [i for i, t in enumerate(texts) if not t.startswith(bos)]
        for idx, flag in ((with_bos, False), (plain, True)):
            if idx:
                for i, e in zip(idx, enc([texts[i] for i in idx], add_special_tokens=flag), strict=True):
                    out[i] = e
        return out

    @cached_property
    def special_ids(self) -> frozenset[int]:
        """Ids of the tokenizer's special added tokens (``</s>``, ``<|im_end|>``, ...)."""
        return frozenset(i for i, t in self.tokenizer.get_added_tokens_decoder().items() if t.special)

    @cached_property
    def _as_text(self) -> Any:
        """A copy of the tokenizer that reads special-token strings as ordinary text."""
        from tokenizers import Tokenizer

        copy = Tokenizer.from_str(self.tokenizer.to_str())
        copy.encode_special_tokens = True
        return copy

    def content_as_text(self, encoding: Any, content: Sequence[tuple[int, int]]) -> tuple[Any, int]:
        """Re-encode special-token strings found inside content as text; how many there were.

        Policy: **content is text, not control tokens.** A literal ``</s>`` or ``<|im_end|>``
        inside a message is tokenized as the characters it is (as it would be in any other
        string), so a control id never comes from content. The tokenizer splits the text at
        an added token anyway, so the neighbours' tokens do not change.
        """
        special = self.special_ids
        if not content or not special:
            return encoding, 0
        # most encodings hold the template's own special tokens (EOS, turn markers): look only
        # at those positions, and rebuild the encoding only when one lies inside content
        all_ids = encoding.ids
        hits = [j for j, tid in enumerate(all_ids) if tid in special]
        if not hits:
            return encoding, 0
        inside = _inside_content(encoding, hits, content)
        if not inside:
            return encoding, 0
        all_offsets, all_mask = encoding.offsets, encoding.special_tokens_mask
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        mask: list[int] = []
        for j, (tid, (s, e), m) in enumerate(zip(all_ids, all_offsets, all_mask, strict=True)):
            if j not in inside:
                ids.append(tid)
                offsets.append((s, e))
                mask.append(m)
                continue
            text = self.tokenizer.id_to_token(tid) or ""
            sub = self._as_text.encode(text, add_special_tokens=False)
            scale = (e - s) / max(len(text), 1)
            for sid, (a, z) in zip(sub.ids, sub.offsets, strict=True):
                ids.append(sid)
                offsets.append((s + round(a * scale), s + round(z * scale)))
                mask.append(0)
        return PlainEncoding(ids, offsets, mask), len(inside)

    @cached_property
    def added_around(self) -> tuple[int, int]:
        """How many tokens the tokenizer adds before and after a text (e.g. ``(1, 0)``: BOS)."""
        mask = self.tokenizer.encode("a", add_special_tokens=True).special_tokens_mask
        before = next((i for i, m in enumerate(mask) if not m), len(mask))
        after = next((i for i, m in enumerate(reversed(mask)) if not m), 0)
        return before, after

    @cached_property
    def byte_table(self) -> ByteTable | None:
        """Source bytes per token id, when this tokenizer's family allows (see :mod:`imdata.labels.tokenbytes`)."""
        from imdata.labels.tokenbytes import byte_table

        return byte_table(self.tokenizer)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Token counts (with special tokens) of each text."""
        return [len(e.ids) for e in self.encode_batch(texts, offsets=False)]


def offsets_array(encoding: Any) -> Any:
    """An encoding's character offsets as an ``(n, 2)`` int64 array.

    Built from a flat iterator: about 2.5x faster than ``np.asarray`` on the list of pairs.
    """
    import itertools

    import numpy as np

    offs = encoding.offsets
    return np.fromiter(itertools.chain.from_iterable(offs), dtype=np.int64, count=2 * len(offs)).reshape(-1, 2)


#: up to this many special-token positions are placed one by one, more in one array pass
_FEW = 16


def _inside_content(encoding: Any, hits: list[int], content: Sequence[tuple[int, int]]) -> set[int]:
    """The positions in ``hits`` whose token lies inside a content range (not added by the tokenizer).

    A few positions are looked up one token at a time (``token_to_chars``); many (a long
    conversation has an EOS a turn) in one pass over the offsets, so the work stays linear.
    """
    import bisect

    mask = encoding.special_tokens_mask
    if len(hits) <= _FEW:
        starts = [a for a, _ in content]
        found = set()
        for j in hits:
            chars = None if mask[j] else encoding.token_to_chars(j)
            if chars is None:  # added by the tokenizer, not read from the text
                continue
            s, e = chars
            k = bisect.bisect_right(starts, s) - 1
            if k >= 0 and content[k][0] <= s and e <= content[k][1] and s < e:
                found.add(j)
        return found
    import numpy as np

    flat = offsets_array(encoding)
    at = np.asarray(hits, dtype=np.int64)
    s, e = flat[at, 0], flat[at, 1]
    bounds = np.asarray(content, dtype=np.int64).reshape(-1, 2)
    k = np.searchsorted(bounds[:, 0], s, side="right") - 1
    kk = np.maximum(k, 0)
    added = np.asarray(mask, dtype=bool)[at]
    ok = (k >= 0) & ~added & (s < e) & (bounds[kk, 0] <= s) & (e <= bounds[kk, 1])
    return set(at[ok].tolist())


@dataclass(frozen=True, slots=True)
class PlainEncoding:
    """The parts of a tokenizers ``Encoding`` that labelling reads."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    special_tokens_mask: list[int]


def resolve_template(
    template: str | Template, tok: TokenizerInfo | None, *, eot: str | None = None, date: str | None = None
) -> Template:
    """The chat template ``template`` names, writing ``tok``'s EOS and BOS strings (its own without a tokenizer).

    A :class:`~imdata.templates.rendered.Template` object is returned as it is; ``eot`` and
    ``date`` are ``--eot`` and ``--date`` (see :func:`imdata.templates.builtin.get_template`).
    """
    from imdata.templates.builtin import get_template

    if not isinstance(template, str):
        return template
    return get_template(template, eos=tok.eos if tok else None, bos=tok.bos if tok else None, eot=eot, date=date)


def load_tokenizer(spec: str) -> TokenizerInfo:
    """Load a tokenizer from a ``tokenizer.json``, a folder holding one, or a hub id.

    >>> load_tokenizer("../shared/data/tokenizers/llama2/tokenizer.json").eos  # doctest: +SKIP
    '</s>'
    """
    from tokenizers import Tokenizer

    p = Path(spec).expanduser()
    if p.is_dir():
        p = p / "tokenizer.json"
        if not p.is_file():
            model = p.parent / "tokenizer.model"
            if model.is_file():
                raise TokenizerError(_sentencepiece(model))
            raise TokenizerError(f"{spec}: this folder has no tokenizer.json; pass the file, or a folder holding one")
    if p.is_file():
        if _is_sentencepiece(p):
            raise TokenizerError(_sentencepiece(p))
        try:
            tok = Tokenizer.from_file(str(p))
        except Exception as e:  # the Rust error types are not exported
            raise TokenizerError(
                f"{p}: not a tokenizers `tokenizer.json` ({str(e)[:200]}); pass a tokenizer.json"
            ) from None
        raw = p.read_bytes()
        config = _read_config(p.parent / "tokenizer_config.json")
        return _info(tok, spec, hashlib.sha256(raw).hexdigest()[:16], config)
    if looks_like_path(spec):
        raise TokenizerError(f"{spec}: no such tokenizer file or folder; check the path (a hub id is owner/name)")
    return _from_hub(spec)


def looks_like_path(spec: str) -> bool:
    """Whether a tokenizer argument names a local path, so that it is never sent to the hub.

    A hub id is ``owner/name``: one slash, no file suffix. Anything else that has a path
    separator, starts like a path, ends like a file, or whose first part is a local folder
    is a path (a mistyped one, if it does not exist).

    >>> looks_like_path("meta-llama/Llama-2-7b-hf"), looks_like_path("no/such/folder")
    (False, True)
    >>> looks_like_path("./llama2"), looks_like_path("tokenizer.json"), looks_like_path("gpt2")
    (True, True, False)
    """
    if os.path.exists(os.path.expanduser(spec)):
        return True
    if spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") > 1:
        return True
    if spec.lower().endswith((".json", ".model", ".txt", ".jinja")):
        return True
    owner = spec.split("/", 1)[0]
    return "/" in spec and os.path.isdir(owner)


def _is_sentencepiece(p: Path) -> bool:
    if p.suffix == ".model":
        return True
    with p.open("rb") as fh:
        head = fh.read(64).lstrip()
    return not head.startswith((b"{", b"[")) and b"\x00" in head


def _sentencepiece(p: Path) -> str:
    beside = p.parent / "tokenizer.json"
    if beside.is_file():
        hint = f"pass {beside} (beside it) instead"
    else:
        hint = (
            'convert it once with transformers: python -c "from transformers import AutoTokenizer; '
            f"AutoTokenizer.from_pretrained('{p.parent}').save_pretrained('OUT')\" and pass OUT/tokenizer.json"
        )
    return f"{p}: is a SentencePiece model, not a tokenizers `tokenizer.json`; {hint}"


def _from_hub(spec: str) -> TokenizerInfo:
    from tokenizers import Tokenizer

    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise TokenizerError(
            f"{spec}: is a hub id and the hub is switched off (HF_HUB_OFFLINE=1); pass a local tokenizer.json or folder"
        )
    try:
        tok = Tokenizer.from_pretrained(spec)
    except Exception as e:
        raise TokenizerError(
            f"{spec}: could not load it from the hub ({_first_line(e)}); "
            "if you are offline or meant a local folder, pass the path to a tokenizer.json or its folder"
        ) from None
    fp = hashlib.sha256(tok.to_str().encode()).hexdigest()[:16]
    return _info(tok, spec, fp, {})


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " ..."


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _token(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _info(tok: Any, name: str, fp: str, config: dict[str, Any]) -> TokenizerInfo:
    empty = tok.encode("", add_special_tokens=True)
    added_first = empty.ids[0] if empty.ids else None
    bos = _token(config.get("bos_token"))
    if bos is None and added_first is not None:
        bos = tok.id_to_token(added_first)
    specials = {t.content for t in tok.get_added_tokens_decoder().values() if t.special}
    eos = _token(config.get("eos_token")) or next((c for c in _EOS_CANDIDATES if c in specials), None)
    if eos is None:
        raise TokenizerError(
            f"{name}: cannot tell this tokenizer's EOS token (no tokenizer_config.json beside it "
            "and none of the usual EOS tokens); put a tokenizer_config.json with `eos_token` beside it"
        )
    adds_bos = added_first is not None and bos is not None and tok.id_to_token(added_first) == bos
    return TokenizerInfo(tok, name, fp, bos, eos, adds_bos)
