"""What both engines do with each raw record: its format, its examples, its warnings, unique ids.

``--engine local`` (:func:`imdata.data.dataset.iter_examples`) calls these on each record as
it streams; ``--engine ray`` calls the same functions on its workers (format, examples,
warnings) and on the driver (ids, which depend on every earlier record), so the two engines
read every record alike by construction, not by a copy kept in step.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal

from imdata.data import files
from imdata.data.formats import FormatName, empty_turns, nonfinite_numbers, record_format, to_examples
from imdata.data.records import Example, Role
from imdata.errors import DataError

OnError = Literal["raise", "skip"]


def format_of(
    rec: files.RawRecord,
    given: FormatName | None,
    found: FormatName | None,
    path: str,
    fields: Mapping[str, str] | None,
) -> FormatName:
    """The format to read one record in, or the DataError that makes it a bad record.

    ``given``: the format the user chose; ``None`` (``--input-format auto``): the format the
    record's own fields show, else ``found``, the format of the input's first record that told
    one (see :func:`imdata.data.formats.record_format`).
    """
    if files.is_bad(rec.value):
        raise files.bad_to_error(path, rec)
    return given if given is not None else record_format(rec.value, found, fields, path, rec.where)


def record_examples(
    rec: files.RawRecord,
    fmt: FormatName,
    *,
    path: str,
    role_map: Mapping[str, Role],
    fields: Mapping[str, str] | None,
) -> list[Example]:
    """The examples of one readable record in ``fmt`` (several for a seed task), or the DataError that makes it bad."""
    made = to_examples(rec.value, fmt, path=path, where=rec.where, index=rec.index, role_map=role_map,
                       fields=fields, text=rec.text)  # fmt: skip
    return list(made)


def record_warnings(kept: list[Example], path: str, where: str) -> list[tuple[int, DataError]]:
    """What is worth a look in a kept record, each with its example's place in the record.

    Empty turns, and NaN or Infinity outside the text (once per record). The warnings name
    each example's id, so they are made once ids are final.
    """
    return [(k, w) for k, ex in enumerate(kept)
            for w in empty_turns(ex, path, where) + (nonfinite_numbers(ex, path, where) if not k else [])]  # fmt: skip


class Ids:
    """Makes ids unique within one input, in record order.

    An exact repeat of an earlier record is data: it is kept as ``<id>-k`` (a record without
    an id has its content hash as id) and counted as ``duplicate-record``. A record that reuses
    another's id with other content is ``duplicate-id``: an error under ``on_error="raise"``,
    else kept as ``<id>-k``.
    """

    def __init__(self) -> None:
        #: id -> a key equal for equal messages (callers pick one cheap to make; only compared here)
        self.seen: dict[str, Hashable] = {}

    def assign(
        self, ident: str, own: bool, key: Hashable, path: str, where: str, on_error: OnError
    ) -> tuple[str, DataError | None]:
        """The id to keep for ``ident`` (``own``: the record gave it) and the warning if it changed."""
        if ident not in self.seen:
            self.seen[ident] = key
            return ident, None
        reason = "duplicate-record" if self.seen[ident] == key else "duplicate-id"
        if reason == "duplicate-id" and on_error == "raise":
            raise DataError(path, where, "id", f"{ident!r} was already used by an earlier record",
                            "give each record its own id, or keep both under new ids with --on-error skip",
                            reason=reason)  # fmt: skip
        k = 2
        while (new := f"{ident}-{k}") in self.seen:
            k += 1
        self.seen[new] = key
        what = f"{ident!r} was already used by an earlier record" if own else "repeats an earlier record exactly"
        return new, DataError(path, where, "id" if own else "", f"{what}; kept as {new!r}", "", reason=reason)


__all__ = ["Ids", "OnError", "format_of", "record_examples", "record_warnings"]
