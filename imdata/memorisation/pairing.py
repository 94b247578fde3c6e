"""Pair model outputs with training examples: by id, or by instruction (raw or as rendered).

The training side may be several files; the first example of a repeated id is used.
Everything that cannot take part is counted by reason with a first message naming the record
and the fix: outputs without an id or instruction, outputs matching nothing, two outputs
matching one example, training examples without a user turn or with a repeated instruction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from imdata.choices import Match
from imdata.data import files
from imdata.data.dataset import Dataset, SkipLog, iter_examples, no_examples
from imdata.data.records import Example
from imdata.export.prompt_forms import prompt_messages
from imdata.memorisation.generations import Output, Run
from imdata.templates.builtin import get_template


@dataclass(frozen=True)
class TrainSide:
    """The training examples compared against, and those that cannot take part.

    ``examples`` holds them all, except after a streamed read (``--match nearest``), where
    it holds only the examples some output was paired with; ``size`` is always the count.
    """

    paths: tuple[str, ...]
    fingerprints: tuple[str, ...]
    examples: tuple[Example, ...]
    skipped: Mapping[str, int]
    problems: Mapping[str, int]
    messages: Mapping[str, str]
    size: int


def norm(text: str) -> str:
    """Text with runs of whitespace made one space, as instructions are compared."""
    return " ".join(text.split())


class TrainReader:
    """The training side read example by example: the first of a repeated id kept, problems counted.

    Iterate it once; then :meth:`side` says what was read.
    """

    def __init__(self, train: str | Dataset | Sequence[str | Dataset], *, on_error: str = "skip") -> None:
        self.items = [train] if isinstance(train, str | Dataset) else list(train)
        self.on_error = on_error
        self.logs: dict[int, SkipLog] = {}
        self.paths: list[str] = []
        self.problems: Counter[str] = Counter()
        self.messages: dict[str, str] = {}
        self.size = 0

    def _examples(self, k: int, item: str | Dataset) -> Iterator[Example]:
        if isinstance(item, Dataset):
            self.logs[k] = item.skipped
            yield from item.examples
            return
        log = self.logs.setdefault(k, SkipLog())
        n = 0
        for ex in iter_examples(item, on_error=self.on_error, log=log):  # type: ignore[arg-type]
            n += 1
            yield ex
        if n == 0:
            raise no_examples(item, log)

    def __iter__(self) -> Iterator[Example]:
        seen: set[str] = set()
        for k, item in enumerate(self.items):
            path = item.path if isinstance(item, Dataset) else item
            self.paths.append(path)
            for ex in self._examples(k, item):
                if ex.id in seen:
                    self.problems["duplicate-train-id"] += 1
                    self.messages.setdefault(
                        "duplicate-train-id",
                        f"{path}: id {ex.id!r} was already read; the first example with it is used",
                    )
                    continue
                seen.add(ex.id)
                if not ex.first_output.strip():
                    self.problems["empty-train-output"] += 1
                    self.messages.setdefault(
                        "empty-train-output",
                        f"{path}: example {ex.id!r} has an empty output; outputs paired with it score 0",
                    )
                self.size += 1
                yield ex

    def side(self, examples: Sequence[Example]) -> TrainSide:
        """What was read, holding ``examples`` (all of them, or those that were paired)."""
        skipped = Counter[str]()
        messages = dict(self.messages)
        for log in self.logs.values():
            skipped.update(log.counts)
            for r in log.rejected[:1]:
                messages.setdefault(r.reason, r.message)
        fingerprints = tuple(
            item.fingerprint if isinstance(item, Dataset) else files.fingerprint(item) for item in self.items
        )
        return TrainSide(
            tuple(self.paths), fingerprints, tuple(examples), dict(skipped), dict(self.problems), messages, self.size
        )


def load_train(train: str | Dataset | Sequence[str | Dataset], *, on_error: str = "skip") -> TrainSide:
    """Load the training side: one or several files, the first of any repeated id kept."""
    reader = TrainReader(train, on_error=on_error)
    return reader.side(list(reader))


def pair_index(
    side: TrainSide, match: Match, template: str, log: Counter[str], messages: dict[str, str]
) -> dict[str, int]:
    """Training example index per key: its id, or its instruction raw and as rendered."""
    index: dict[str, int] = {}
    if match == "id":
        return {ex.id: i for i, ex in enumerate(side.examples)}
    tmpl = get_template(template)
    for i, ex in enumerate(side.examples):
        msgs = prompt_messages(ex)
        if not msgs:
            log["no-user-turn"] += 1
            messages.setdefault(
                "no-user-turn",
                f"training example {ex.id!r} has no user turn; no output can be matched to it by instruction",
            )
            continue
        key = norm(ex.first_instruction)
        if key in index:
            log["duplicate-train-instruction"] += 1
            messages.setdefault(
                "duplicate-train-instruction",
                f"training example {ex.id!r} repeats the "
                "instruction of an earlier one; outputs are paired with the first",
            )
            continue
        index[key] = i
        index.setdefault(norm(tmpl.render_prompt(msgs)), i)
    return index


def pair_run(
    run: Run, match: Match, index: Mapping[str, int]
) -> tuple[list[tuple[Output, int]], Counter[str], dict[str, str]]:
    """Pair one run's outputs with training examples, counting what pairs with nothing."""
    pairs: list[tuple[Output, int]] = []
    log: Counter[str] = Counter(run.problems)
    msgs = dict(run.messages)
    used: set[int] = set()
    for out in run.outputs:
        key = out.id if match == "id" else (None if out.instruction is None else norm(out.instruction))
        if key is None:
            reason = "no-id" if match == "id" else "no-instruction"
            log[reason] += 1
            msgs.setdefault(
                reason,
                f"{run.path}, {out.where}: has no {match}, so it cannot be paired; "
                f"use --match {'instruction' if match == 'id' else 'id'} or --match nearest",
            )
            continue
        j = index.get(key)
        if j is None:
            log["unmatched-output"] += 1
            msgs.setdefault(
                "unmatched-output",
                f"{run.path}, {out.where}: its {match} matches no training "
                f"example; check that the outputs come from this training file (--match {match})",
            )
        elif j in used:
            log["duplicate-match"] += 1
            msgs.setdefault(
                "duplicate-match",
                f"{run.path}, {out.where}: pairs with a training example "
                "already paired with an earlier output; the first is kept",
            )
        else:
            used.add(j)
            pairs.append((out, j))
    return pairs, log, msgs
