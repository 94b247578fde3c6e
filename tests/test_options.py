"""The selection options travel as one frozen object: the keyword form and the object form agree."""

from __future__ import annotations

import dataclasses

import pytest

import imdata
from imdata.data.records import Example
from imdata.errors import OptionError


def _examples() -> list[Example]:
    pairs = [[("user", "q " * i), ("assistant", "a " * (1 + i % 3))] for i in range(1, 13)]
    return [Example.from_pairs(f"e{i}", p) for i, p in enumerate(pairs, 1)]


def test_subset_options_object_gives_the_keyword_result() -> None:
    exs = _examples()
    by_keywords = imdata.subset(exs, n=[3, 5], strategy="longest", command="c")
    by_object = imdata.subset(exs, imdata.SubsetOptions(n=[3, 5], strategy="longest"), command="c")
    # three-word outputs (e2, e5, e8, e11) first, ties by id as text (e11 < e2), then e1 of the two-word ones
    assert (
        [s.ids for s in by_object.subsets]
        == [s.ids for s in by_keywords.subsets]
        == [
            ["e2", "e5", "e11"],
            ["e1", "e2", "e5", "e8", "e11"],
        ]
    )
    assert [s.manifest.to_json() for s in by_object.subsets] == [s.manifest.to_json() for s in by_keywords.subsets]


def test_split_options_object_gives_the_keyword_result() -> None:
    exs = _examples()
    by_keywords = imdata.split(exs, by="ratio", buckets=2, command="c")
    by_object = imdata.split(exs, imdata.SplitOptions(by="ratio", buckets=2), command="c")
    assert [(p.name, len(p.examples)) for p in by_object.parts] == [("bucket-1", 6), ("bucket-2", 6)]
    assert by_object.manifest.to_json() == by_keywords.manifest.to_json()


def test_options_are_frozen_and_not_mixed_with_keywords() -> None:
    opts = imdata.SubsetOptions(n=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.n = 4  # type: ignore[misc]
    with pytest.raises(OptionError, match="not both"):
        imdata.subset(_examples(), opts, strategy="longest")
    with pytest.raises(OptionError, match="not both"):
        imdata.split(_examples(), imdata.SplitOptions(by="ratio"), buckets=3)
