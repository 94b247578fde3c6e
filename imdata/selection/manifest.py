"""What subsets and splits share: pooling inputs, measuring lengths, writing outputs and manifests.

A manifest is a JSON file beside every selection that says how it was made and what is in
it: the strategy and its parameters, the seed, each input's fingerprint, the imdata version,
the ids in output order, and a compact length profile of the selection next to its parent's.
It holds no time stamps or absolute paths of outputs, so the same inputs and seed give the
same bytes.

>>> from imdata.data.records import Example
>>> ex = Example.from_pairs("a", [("user", "one two three"), ("assistant", "four")])
>>> m = measure([ex])
>>> m.instruction.tolist(), m.output.tolist(), m.ratio.tolist()
([4], [2], [2.0])
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from imdata import __version__
from imdata.data.dataset import Dataset
from imdata.data.files import atomic_output
from imdata.data.output_names import check_name, container
from imdata.data.records import Example, json_default
from imdata.errors import DataError, OptionError

SCHEMA_VERSION = 1
#: how examples whose output has no length are placed (their ratio is undefined)
ZERO_OUTPUT_RULE = (
    "an example whose output has zero length has an undefined instruction/output ratio; "
    "imdata treats it as +inf: it goes to the top ratio bucket, is farthest from any target "
    "ratio, and falls inside a ratio window only when the window has no upper bound"
)

Data = Dataset | Sequence[Dataset] | Sequence[Example]


@dataclass(frozen=True, slots=True)
class InputInfo:
    """One input of a selection, for provenance."""

    name: str
    path: str
    fingerprint: str
    format: str
    examples: int
    skipped: Mapping[str, int] = field(default_factory=dict)
    warnings: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the input by file name and sha256, never the path as typed.

        So ``x``, ``./x`` and ``/abs/x`` give the same manifest bytes.
        """
        return {
            "name": self.name,
            "file": Path(self.path).name if self.path else "",
            "sha256": self.fingerprint,
            "format": self.format,
            "examples": self.examples,
            "skipped": dict(self.skipped),
            "warnings": dict(self.warnings),
        }


@dataclass(frozen=True)
class Pool:
    """Every input's examples in one list, with ids made unique across inputs."""

    examples: tuple[Example, ...]
    inputs: tuple[InputInfo, ...]
    #: ids that clashed across inputs and were prefixed with their input's name
    renamed: int = 0
    #: the name of the input each example came from, in the order of ``examples``
    input_of: tuple[str, ...] = ()

    def mix(self, index: Sequence[int] | np.ndarray) -> dict[str, int]:
        """How many of the examples at ``index`` come from each input."""
        out: dict[str, int] = {}
        for i in index:
            name = self.input_of[int(i)] if self.input_of else "examples"
            out[name] = out.get(name, 0) + 1
        return dict(sorted(out.items()))


def pool(data: Data) -> Pool:
    """Pool one or more datasets (or plain examples) into one list with unique ids.

    An id already used by an earlier input is prefixed with its input's name
    (``alpaca:ex-1f...``) so that manifests can name every example; the count is reported.
    """
    if isinstance(data, Dataset):
        sets: list[Dataset] = [data]
    else:
        items = list(data)
        if items and all(isinstance(d, Dataset) for d in items):
            sets = items  # type: ignore[assignment]
        elif all(isinstance(d, Example) for d in items):
            exs = tuple(d for d in items if isinstance(d, Example))
            _check_unique(exs)
            fp = _examples_fingerprint(exs)
            return Pool(exs, (InputInfo("examples", "", fp, "examples", len(exs)),), 0, ("examples",) * len(exs))
        else:
            raise OptionError("data must be a Dataset, a list of Datasets, or a list of Examples")
    if not sets:
        raise OptionError("no input data: pass at least one dataset")
    seen: set[str] = set()
    out: list[Example] = []
    input_of: list[str] = []
    renamed = 0
    for ds in sets:
        for ex in ds.examples:
            if ex.id in seen:
                ex = replace(ex, id=f"{ds.name}:{ex.id}")
                renamed += 1
            seen.add(ex.id)
            out.append(ex)
            input_of.append(ds.name)
    infos = tuple(
        InputInfo(ds.name, ds.path, ds.fingerprint, ds.format, len(ds), ds.skipped.counts, ds.skipped.warning_counts)
        for ds in sets
    )
    if len(seen) != len(out):
        raise OptionError("two inputs share a name and ids; give them different file names")
    return Pool(tuple(out), infos, renamed, tuple(input_of))


def api_call(function: str, inputs: Sequence[InputInfo], params: Mapping[str, Any]) -> str:
    """The Python call that makes a selection, for manifests made without a command line.

    >>> api_call("subset", [InputInfo("a", "x/a.json", "f", "alpaca", 3)], {"n": 2, "seed": 0})
    "imdata.subset(imdata.load('a.json'), n=2, seed=0)"
    """
    data = ", ".join(f"imdata.load({Path(i.path).name or i.name!r})" for i in inputs)
    data = data if len(inputs) == 1 else f"[{data}]"
    args = "".join(f", {k}={v!r}" for k, v in params.items() if v is not None)
    return f"imdata.{function}({data}{args})"


def _check_unique(examples: Sequence[Example]) -> None:
    seen: set[str] = set()
    for i, ex in enumerate(examples):
        if ex.id in seen:
            raise DataError(
                "examples",
                f"record {i + 1}",
                "id",
                f"{ex.id!r} is used twice",
                "give every example its own id",
                reason="duplicate-id",
            )
        seen.add(ex.id)


def _examples_fingerprint(examples: Sequence[Example]) -> str:
    import hashlib

    h = hashlib.sha256()
    for ex in examples:
        h.update(orjson.dumps(ex.to_dict(), option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


@dataclass(frozen=True)
class Measures:
    """Per-example instruction and output lengths, and their ratio (``inf`` for empty outputs).

    ``empty_output`` marks examples whose assistant turns have no text: their rendered
    output still has a header or EOS, but the instruction/output ratio is undefined.
    """

    instruction: np.ndarray
    output: np.ndarray
    unit: str
    empty_output: np.ndarray | None = None

    @property
    def ratio(self) -> np.ndarray:
        """Instruction / output per example; ``inf`` where the output is empty."""
        out = self.output.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = self.instruction / out
        undefined = out == 0
        if self.empty_output is not None:
            undefined |= self.empty_output
        return np.where(undefined, np.inf, r)

    def take(self, idx: np.ndarray) -> Measures:
        """The measures of the examples at ``idx``."""
        empty = None if self.empty_output is None else self.empty_output[idx]
        return Measures(self.instruction[idx], self.output[idx], self.unit, empty)


def measure(examples: Sequence[Example], *, template: str = "tulu", tokenizer: str | None = None) -> Measures:
    """Instruction and output lengths per example: the paper's words, or tokens with a tokenizer.

    Words follow :func:`imdata.profiling.lengths.word_lengths` under ``template``; tokens follow
    :func:`imdata.profiling.lengths.token_lengths`.
    """
    from imdata.profiling.lengths import token_lengths, word_lengths
    from imdata.templates.builtin import get_template

    if tokenizer is None:
        tmpl = get_template(template)
        pairs = []
        for ex in examples:
            lw = word_lengths(tmpl.render(ex), [m.role for m in ex.messages])
            pairs.append((lw.instruction, lw.output))
        unit = f"words ({tmpl.name} template)"
    else:
        from imdata.labels.labelling import tokenize_examples
        from imdata.labels.tokens import load_tokenizer

        tok = load_tokenizer(tokenizer)
        tmpl = get_template(template, eos=tok.eos, bos=tok.bos)
        pairs = []
        for tz in tokenize_examples(examples, tmpl, tok, mode="im"):
            lt = token_lengths(tz.kinds)
            pairs.append((lt.instruction, lt.output))
        unit = f"tokens ({tok.name}, {tmpl.name} template)"
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    empty = np.array(
        [not any(m.content.strip() for m in ex.messages if m.role == "assistant") for ex in examples],
        dtype=bool,
    )
    return Measures(arr[:, 0], arr[:, 1], unit, empty)


def length_profile(m: Measures) -> dict[str, Any]:
    """A compact length summary: count, mean and median of both lengths, the paper's ratio.

    ``ratio_of_means`` is mean(instruction) / mean(output), as the paper reports it.
    """
    n = int(m.instruction.size)
    if n == 0:
        return {"count": 0}
    mi, mo = float(m.instruction.mean()), float(m.output.mean())
    return {
        "count": n,
        "instruction_mean": round(mi, 2),
        "instruction_median": float(np.median(m.instruction)),
        "output_mean": round(mo, 2),
        "output_median": float(np.median(m.output)),
        "ratio_of_means": round(mi / mo, 4) if mo else None,
        "empty_outputs": int(np.isinf(m.ratio).sum()),
    }


@dataclass(frozen=True)
class Manifest:
    """How a selection was made and what it holds; :meth:`to_json` gives stable bytes."""

    kind: str
    strategy: str
    parameters: Mapping[str, Any]
    seed: int | None
    inputs: tuple[InputInfo, ...]
    outputs: Mapping[str, Sequence[str]]
    profile: Mapping[str, Mapping[str, Any]]
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, in reading order: what and how first, the ids last."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "strategy": self.strategy,
            "seed": self.seed,
            "parameters": dict(sorted(self.parameters.items())),
            "imdata_version": __version__,
            "inputs": [i.to_dict() for i in self.inputs],
            **dict(sorted(self.extra.items())),
            "counts": {k: len(v) for k, v in self.outputs.items()},
            "profile": {k: dict(v) for k, v in self.profile.items()},
            "notes": list(self.notes),
            "ids": {k: list(v) for k, v in self.outputs.items()},
        }

    def to_json(self) -> bytes:
        """Indented JSON in a fixed key order, ending in a newline: same manifest, same bytes."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"

    def write(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        """Write the manifest atomically."""
        with atomic_output(path, force=force, binary=True) as fh:
            fh.write(self.to_json())


def write_examples(
    examples: Sequence[Example],
    path: str | os.PathLike[str],
    *,
    to: str | None = None,
    template: str = "tulu",
    tokenizer: str | None = None,
    force: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Write a selection: the input records unchanged (default), canonical JSONL, or a ``spans`` format.

    ``to=None`` writes each example's input record as it was read (Alpaca stays Alpaca with
    its ``input``, ShareGPT stays ShareGPT; a JSONL line byte for byte), one a line, or as a
    JSON list when ``path`` ends in ``.json``, or as a Parquet file of the records as parsed
    when it ends in ``.parquet`` (columns of Parquet ``inputs`` keep their Arrow types).
    ``to="messages"`` writes imdata's canonical form (:meth:`Example.to_dict`, which reads
    back to the same examples). Any other ``to`` is a format of
    :func:`imdata.export.exporter.spans` (``spans``, ``hf``, ``axolotl``), which writes its
    own ``.manifest.json`` beside the file. A ``.gz`` or ``.zst`` name is compressed.
    """
    check_copy_name(path, to=to, option="output", command="write_examples")
    if to is None or to == "messages":
        kind = container(path)
        if kind == "parquet":
            _write_parquet(examples, path, to=to, force=force, inputs=inputs)
            return
        lines = record_lines(examples) if to is None else (_dump(ex.to_dict()) for ex in examples)
        with atomic_output(path, force=force, binary=True) as fh:
            if kind == "json":
                fh.write(b"[\n" + b",\n".join(lines) + b"\n]\n")
            else:
                for line in lines:
                    fh.write(line + b"\n")
        return
    from imdata.export.exporter import spans

    spans(
        list(examples),
        output=path,
        template=template,
        tokenizer=tokenizer,
        to=to,  # type: ignore[arg-type]
        force=force,
    )


def check_copy_name(path: str | os.PathLike[str], *, to: str | None, option: str, command: str) -> None:
    """Refuse an output name that says a format ``command`` cannot write with ``to``, before any work."""
    if to is None or to == "messages":
        what = "the selected records" if to is None else "canonical messages"
        check_name(path, option=option, writes=f"{command} writes {what} as JSONL, a JSON list or Parquet",
                   fix="name it .jsonl, .jsonl.gz, .jsonl.zst, .json or .parquet",
                   allowed=("jsonl", "json", "parquet"))  # fmt: skip
    else:
        check_name(path, option=option, writes=f"{command} --to {to} writes JSONL",
                   fix="name it .jsonl or .jsonl.gz, or leave out --to to copy the records")  # fmt: skip


def _write_parquet(
    examples: Sequence[Example],
    path: str | os.PathLike[str],
    *,
    to: str | None,
    force: bool,
    inputs: Sequence[str | os.PathLike[str]],
) -> None:
    """The selected records (or their canonical form) as one Parquet file, built before anything is written."""
    from imdata.data.record_table import parquet_types, records_table, write_parquet

    rows = list(selected_records(examples)) if to is None else [ex.to_dict() for ex in examples]
    table = records_table(rows, output=path, types=parquet_types(inputs) if to is None else None)
    with atomic_output(path, force=force, binary=True) as fh:
        write_parquet(table, fh, output=path)


def record_lines(examples: Sequence[Example]) -> Iterator[bytes]:
    """The input record of each example as one JSON line, unchanged.

    A JSONL record is its line as stored; a record from a JSON list, CSV or Parquet is the
    parsed record with its keys in their order; a record that holds several examples
    (``seed`` instances) is written once with the selected instances. An example built in
    Python, with no record behind it, is written in the canonical form.
    """
    for record, text in _records(examples):
        yield text if text is not None else _dump(record)


def selected_records(examples: Sequence[Example]) -> Iterator[Any]:
    """The input record of each example as parsed, as :func:`record_lines` writes them.

    A record holding several examples (``seed`` instances) comes once, with the selected
    instances; an example with no record behind it comes in its canonical form.
    """
    for record, _ in _records(examples):
        yield record


def _records(examples: Sequence[Example]) -> Iterator[tuple[Any, bytes | None]]:
    """Each written record as parsed, with its stored bytes where it is written unchanged."""
    i = 0
    while i < len(examples):
        ex = examples[i]
        o = ex.origin
        i += 1
        if o is None:
            yield ex.to_dict(), None
            continue
        if o.part is None:
            yield o.record, o.text
            continue
        parts = [o.part]
        while i < len(examples) and (nxt := examples[i].origin) is not None and nxt.record is o.record:
            parts.append(nxt.part)  # type: ignore[arg-type]
            i += 1
        instances = o.record["instances"]
        if parts == list(range(len(instances))):
            yield o.record, o.text
        else:
            yield {**o.record, "instances": [instances[k] for k in parts]}, None


def _dump(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, default=json_default)
    except TypeError:  # integers past 64 bits, which Python's json reads
        import json

        return json.dumps(obj, ensure_ascii=False, default=json_default).encode()


def manifest_path(output: str | os.PathLike[str], kind: str) -> Path:
    """Where the manifest of ``output`` goes: ``out.jsonl`` -> ``out.jsonl.subset.json``."""
    p = Path(output)
    return p.with_name(f"{p.name}.{kind}.json")


def field_values(examples: Sequence[Example], name: str, *, option: str) -> list[Any]:
    """The value of ``name`` on every example: ``source``, ``id``, or a key of ``meta``.

    Raises an error naming the first examples that lack it, and how many do.
    """
    if name in ("source", "id"):
        return [getattr(ex, name) for ex in examples]
    missing = [ex.id for ex in examples if name not in ex.meta or ex.meta[name] is None]
    if missing:
        known = sorted({k for ex in examples[:1000] for k in ex.meta})
        where = (
            "any example"
            if len(missing) == len(examples)
            else (f"{len(missing)} of {len(examples)} examples (first: {', '.join(missing[:3])})")
        )
        raise OptionError(
            f"{option} {name}: the field is missing on {where}; choose source, id or a field "
            f"every example has ({', '.join(known) or 'the inputs have no other fields'})"
        )
    return [ex.meta[name] for ex in examples]
