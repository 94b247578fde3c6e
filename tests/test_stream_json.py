"""JSON lists are read record by record, whatever the chunk boundaries, with exact errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import shared
from hypothesis import given, settings
from hypothesis import strategies as st

import imdata.data.files as io
import imdata.data.readers as readers
from imdata.errors import DataError

records = st.lists(
    st.dictionaries(st.sampled_from(["instruction", "input", "output", "id"]), st.text(max_size=30), min_size=1),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(rows=records, chunk=st.integers(1, 40), indent=st.sampled_from([None, 2]))
def test_any_chunking_gives_the_records_json_load_gives(rows: list[dict[str, str]], chunk: int,
                                                        indent: int | None, tmp_path_factory: pytest.TempPathFactory,
                                                        ) -> None:  # fmt: skip
    p = tmp_path_factory.mktemp("s") / "rows.json"
    p.write_text(json.dumps(rows, indent=indent, ensure_ascii=False), encoding="utf-8")
    old = readers._CHUNK
    readers._CHUNK = chunk
    try:
        got = [r.value for r in io.iter_raw(str(p))]
    finally:
        readers._CHUNK = old
    assert got == rows


def test_errors_name_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_CHUNK", 5)
    p = tmp_path / "bad.json"
    p.write_text('[\n{"instruction": "a", "output": "b"},\n{"instruction": "c" "output": "d"}\n]')
    it = io.iter_raw(str(p))
    assert next(it).value == {"instruction": "a", "output": "b"}
    with pytest.raises(DataError, match=r"bad.json, line 3, column 21: is not valid JSON"):
        next(it)
    p.write_text('[{"instruction": "a", "output": "b"}')
    with pytest.raises(DataError, match="the list is not closed"):
        list(io.iter_raw(str(p)))


def test_wrapped_lists_and_single_conversations_still_load(tmp_path: Path) -> None:
    p = tmp_path / "wrapped.json"
    p.write_text(json.dumps({"data": [{"instruction": "a", "output": "b"}]}))
    assert [r.value for r in io.iter_raw(str(p))] == [{"instruction": "a", "output": "b"}]
    turns = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    p.write_text(json.dumps(turns))
    assert [r.value for r in io.iter_raw(str(p))] == [{"conversations": turns}]


@pytest.mark.slow
def test_real_sharegpt_streams_identically() -> None:
    path = shared("sharegpt/sharegpt_v3_unfiltered_cleaned_split.first17671.json.gz")
    with gzip.open(path) as fh:
        want = json.load(fh)
    n = 0
    for rec, row in zip(io.iter_raw(str(path)), want, strict=True):
        assert rec.value == row
        n += 1
    assert n == 17671
