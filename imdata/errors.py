"""Errors that imdata raises for bad input; ``cli.py`` is the one place they are caught.

Every message names where the problem is (file, line or record, field), what is wrong,
and what to do about it::

    >>> str(DataError("data.jsonl", "line 17", "messages[2].role", 'is "gpt"', "use --role-map"))
    'data.jsonl, line 17: `messages[2].role` is "gpt"; use --role-map'
"""

from __future__ import annotations


class ImdataError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class DataError(ImdataError):
    """A record that cannot be read or turned into an example.

    Attributes:
        path: the input file (or dataset name).
        where: ``"line 17"`` or ``"record 17"`` (1-based), or ``""`` for the whole file.
        field: the field path inside the record, e.g. ``messages[2].role``; ``""`` if none.
        problem: what is wrong.
        fix: what to do about it.
        reason: a short stable key for counting skipped records, e.g. ``"unknown-role"``.
    """

    def __init__(
        self,
        path: str,
        where: str,
        field: str,
        problem: str,
        fix: str = "",
        *,
        reason: str = "invalid",
    ) -> None:
        self.path = path
        self.where = where
        self.field = field
        self.problem = problem
        self.fix = fix
        self.reason = reason
        super().__init__(self._format())

    def __reduce__(self) -> tuple[object, ...]:
        # pickled whole (Ray sends a worker's error to the driver), not as the formatted message
        return (_data_error, (self.path, self.where, self.field, self.problem, self.fix, self.reason))

    def _format(self) -> str:
        loc = ", ".join(p for p in (self.path, self.where) if p)
        what = f"`{self.field}` {self.problem}" if self.field else self.problem
        msg = f"{loc}: {what}" if loc else what
        return f"{msg}; {self.fix}" if self.fix else msg


def _data_error(path: str, where: str, field: str, problem: str, fix: str, reason: str) -> DataError:
    return DataError(path, where, field, problem, fix, reason=reason)


class FormatError(ImdataError):
    """The input's format cannot be detected or is not supported."""


class TemplateError(ImdataError):
    """A chat template cannot be loaded or cannot render an example.

    ``reason`` is a short stable key for counting refused records, e.g. ``"template-raised"``.
    """

    def __init__(self, message: str, *, reason: str = "template-refused") -> None:
        super().__init__(message)
        self.reason = reason


class TokenizerError(ImdataError):
    """A tokenizer cannot be loaded or lacks what imdata needs (e.g. an EOS token)."""


class OutputError(ImdataError):
    """An output cannot be written (exists without --force, wrong kind of path, ...)."""


class OptionError(ImdataError):
    """Options that are each valid but do not make sense together."""
