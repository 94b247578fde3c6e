# ruff: noqa: E501 - a table of generated inputs reads best one case a line
"""Hostile inputs, generated (never copied): damaged containers, broken text, odd records, bad paths.

Each :class:`Case` is one file (or folder) and what a correct run must do with it:
``damaged`` cases stop every command (exit 1) even under ``--on-error skip``; the others
either read cleanly or reject some records, which ``--on-error skip`` counts so that
records in = examples out + records rejected.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import zstandard


@dataclass(frozen=True)
class Case:
    """One hostile input."""

    name: str
    file: str
    make: Callable[[Path], None]
    records: int = 0  # records in the file (for in = out + rejected)
    rejected: int = 0  # of those, how many a correct reader rejects
    per_record: int = 1  # examples per kept record (seed tasks have several)
    damaged: bool = False  # the whole file is unreadable: exit 1 even under --on-error skip
    where: str = ""  # a word the error must hold to place it (line, record, row, after, byte)
    raises: bool = False  # an error under --on-error raise though kept under skip (a reused id)


def good(i: int) -> dict[str, object]:
    return {"id": f"r{i}", "instruction": f"Say {i} in words, please.", "input": "", "output": f"Number {i}."}


def chat(i: int) -> dict[str, object]:
    return {"id": f"c{i}", "messages": [{"role": "user", "content": f"Hello {i}"},
                                        {"role": "assistant", "content": f"Hi {i}"}]}  # fmt: skip


def jsonl(rows: list[object]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _parquet(rows: list[dict[str, object]]) -> bytes:
    buf = io.BytesIO()
    pl.DataFrame(rows).write_parquet(buf)
    return buf.getvalue()


def _csv(rows: list[dict[str, object]]) -> bytes:
    return pl.DataFrame(rows).write_csv().encode()


def _zst_stream(data: bytes) -> bytes:
    """Compressed as the ``zstd`` tool does: one frame, written as a stream of blocks."""
    out = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(out, closefd=False) as w:
        w.write(data)
    return out.getvalue()


def _dataset_folder(rows: list[dict[str, object]], damage: bool = False) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        import datasets

        datasets.disable_progress_bars()
        datasets.Dataset.from_list(rows).save_to_disk(str(p))
        if damage:
            for f in p.glob("*.arrow"):
                f.write_bytes(f.read_bytes()[:40])

    return make


GOOD = [good(i) for i in range(200)]
GOOD_BYTES = jsonl(GOOD)
DEEP = '{"id": "deep", "instruction": "a", "output": "b", "x": ' + "[" * 10000 + "]" * 10000 + "}"
SURROGATE = '{"id": "s", "instruction": "lone \\ud800 here", "output": "b"}'
PAIR = '{"id": "p", "instruction": "an emoji \\ud83d\\ude00 is fine", "output": "b"}'
HUGE_INT = '{"id": "h", "instruction": "a", "output": "b", "views": 123456789012345678901234567890}'


def _cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    # --- damaged containers: every one stops the run, naming the file and how far it got
    gz = gzip.compress(GOOD_BYTES)
    ZST = _zst_stream(jsonl([good(i) for i in range(5000)]))
    ZJ = _zst_stream(json.dumps([good(i) for i in range(5000)]).encode())
    for name, file, data, where in [
        ("gz-truncated", "d.jsonl.gz", gz[: len(gz) // 2], "after"),
        ("gz-truncated-tail", "d.jsonl.gz", gz[:-6], "after"),
        ("gz-not-gzip", "d.jsonl.gz", GOOD_BYTES, "before"),
        ("gz-corrupt-middle", "d.jsonl.gz", gz[:200] + b"\x00" * 64 + gz[264:], ""),
        ("gz-json-truncated", "d.json.gz", gzip.compress(json.dumps(GOOD).encode())[:300], ""),
        ("gz-csv-truncated", "d.csv.gz", gzip.compress(_csv(GOOD))[:300], ""),
        ("gz-empty-bytes", "d.jsonl.gz", b"\x1f\x8b", ""),
        ("zst-truncated", "d.jsonl.zst", ZST[: len(ZST) // 2], "after"),
        ("zst-truncated-last-byte", "d.jsonl.zst", ZST[:-1], "after"),
        ("zst-corrupt", "d.jsonl.zst", b"\x28\xb5\x2f\xfd" + b"garbage" * 40, ""),
        ("zst-not-zstd", "d.jsonl.zst", GOOD_BYTES, ""),
        ("zst-json-truncated", "d.json.zst", ZJ[: len(ZJ) // 2], ""),
        ("parquet-truncated", "d.parquet", _parquet(GOOD)[:-100], ""),
        ("parquet-garbage", "d.parquet", b"PAR1" + b"\x00" * 300 + b"PAR1", ""),
        ("parquet-is-json", "d.parquet", GOOD_BYTES, ""),
        ("parquet-empty", "d.parquet", b"", ""),
        ("parquet-gz-truncated", "d.parquet.gz", gzip.compress(_parquet(GOOD))[:400], ""),
        ("csv-invalid-utf8", "d.csv", _csv(GOOD[:3]) + b"\xff\xfe,x,y,z\n", "line"),
        ("csv-unclosed-quote", "d.csv", _csv(GOOD[:3]) + b'"r9,"never closed\n', "line"),
        ("json-invalid-utf8", "d.json", json.dumps(GOOD[:3]).encode()[:-1] + b', "\xff"]', "line"),
        ("json-unclosed-list", "d.json", json.dumps(GOOD[:3]).encode()[:-1], "line"),
        ("json-syntax-at-end", "d.json", json.dumps(GOOD[:3]).encode()[:-1] + b",}]", "line"),
        ("json-trailing-garbage", "d.json", json.dumps(GOOD[:3]).encode() + b" [1]", "line"),
        ("json-object-broken", "d.json", b'{"data": [' + json.dumps(GOOD[0]).encode() + b", ", "line"),
        ("json-deep-whole", "d.json", ("[" * 10000 + "]" * 10000).encode(), ""),
        ("json-deep-record", "d.json", ("[" + DEEP + "]").encode(), "line"),
    ]:
        add(Case(name, file, _write(data), damaged=True, where=where))
    add(Case("dataset-folder-damaged", "ds", _dataset_folder(GOOD[:5], damage=True), damaged=True))
    add(Case("dataset-folder-not-one", "ds", lambda p: (p.mkdir(), (p / "x.txt").write_text("x")), damaged=True))
    add(Case("missing-relative", "data/missing.jsonl", lambda p: None, damaged=True))
    add(Case("missing-dotted", "missing.json.gz", lambda p: None, damaged=True))
    add(Case("unknown-extension", "d.txt", _write(GOOD_BYTES), damaged=True))
    add(Case("empty-jsonl", "d.jsonl", _write(b""), damaged=True))
    add(Case("blank-jsonl", "d.jsonl", _write(b"\n  \n\t\n"), damaged=True))
    add(Case("empty-json", "d.json", _write(b""), damaged=True))
    add(Case("empty-csv", "d.csv", _write(b""), damaged=True))
    add(Case("header-only-csv", "d.csv", _write(b"id,instruction,output\n"), damaged=True))
    add(Case("json-scalar", "d.json", _write(b"42"), damaged=True))
    add(Case("json-empty-list", "d.json", _write(b"[]"), damaged=True))
    add(Case("gz-of-nothing", "d.jsonl.gz", _write(gzip.compress(b"")), damaged=True))

    # --- bad records among good ones: rejected (counted) under skip, an error under raise
    def mixed(name: str, bad_lines: list[str], file: str = "d.jsonl", n: int = 6) -> None:
        lines = [json.dumps(good(i)) for i in range(n)]
        for k, b in enumerate(bad_lines):
            lines.insert(2 + 2 * k, b)
        add(Case(name, file, _write(("\n".join(lines) + "\n").encode()), records=n + len(bad_lines),
                 rejected=len(bad_lines), where="line"))  # fmt: skip

    mixed("lone-surrogate", [SURROGATE])
    mixed("lone-surrogate-low", ['{"id": "s2", "instruction": "x", "output": "lone \\udc00"}'])
    mixed("lone-surrogate-key", ['{"id": "s3", "instruction": "x", "output": "y", "\\ud800": 1}'])
    mixed("deep-nesting", [DEEP])
    mixed("huge-int-unused", [HUGE_INT])
    mixed("huge-negative-int", ['{"id": "n", "instruction": "a", "output": "b", "v": -99999999999999999999999}'])
    mixed("malformed-json", ["{not json", '{"id": "t", "instruction": "a", "output": "b"'])
    mixed("null-output", ['{"id": "z", "instruction": "a", "output": null}'])
    mixed("number-output", ['{"id": "z", "instruction": "a", "output": 5}'])
    mixed("list-instruction", ['{"id": "z", "instruction": ["a"], "output": "b"}'])
    mixed("missing-output", ['{"id": "z", "instruction": "a"}'])
    mixed("scalar-record", ["42", '"text"', "null", "true"])
    mixed("array-record", ["[1, 2, 3]"])
    mixed("null-instruction", ['{"id": "z", "instruction": null, "output": "b"}'])
    mixed("nan-instruction", ['{"id": "z", "instruction": NaN, "output": "b"}'])
    mixed("infinity-output", ['{"id": "z", "instruction": "a", "output": -Infinity}'])

    # --- the format is read per record: an odd FIRST record is one bad record (or a LIMA one), not a failed file
    def first(name: str, head: str, rejected: int, file: str = "d.jsonl", rows: list[object] | None = None) -> None:
        rows = rows if rows is not None else [good(i) for i in range(4)]
        if file.endswith(".jsonl"):
            data = (head + "\n" + "".join(json.dumps(r) + "\n" for r in rows)).encode()
        else:
            data = ("[" + head + ", " + ", ".join(json.dumps(r) for r in rows) + "]").encode()
        where = "line" if file.endswith(".jsonl") else "record"
        add(Case(name, file, _write(data), records=len(rows) + 1, rejected=rejected, where=where))

    first("first-line-number", "42", 1)
    first("first-line-string", '"text"', 1, rows=[chat(i) for i in range(4)])
    first("first-line-unknown-fields", '{"id": "u", "text": "plain"}', 1)
    first("first-line-lima", '{"conversations": ["q", "a"]}', 0, rows=[chat(i) for i in range(4)])
    first("first-line-lima-list", '["q", "a"]', 0)
    first("first-line-null", "null", 1)
    first("json-first-number", "42", 1, file="d.json")
    first(
        "json-first-unknown-fields", '{"id": "u", "text": "plain"}', 1, file="d.json", rows=[chat(i) for i in range(4)]
    )
    first("json-first-lima", '{"conversations": ["q", "a"]}', 0, file="d.json")
    dup = [json.dumps(good(i)) for i in range(6)]
    dup.insert(2, json.dumps({**good(1), "output": "another"}))  # kept as r1-2 under skip
    add(Case("duplicate-id", "d.jsonl", _write(("\n".join(dup) + "\n").encode()), records=7, raises=True, where="line"))
    nan = '{"id": "nan", "instruction": "a", "output": "b", "score": NaN}'  # read, as Python's json does
    add(Case("nan-in-meta", "d.jsonl", _write((nan + "\n" + json.dumps(good(1)) + "\n").encode()), records=2))
    add(
        Case(
            "surrogate-pair-is-fine", "d.jsonl", _write((PAIR + "\n" + json.dumps(good(1)) + "\n").encode()), records=2
        )
    )

    raw_utf8 = GOOD_BYTES.split(b"\n")
    raw_utf8.insert(3, b'{"id": "u", "instruction": "\xff\xfe", "output": "b"}')
    add(Case("invalid-utf8-bytes", "d.jsonl", _write(b"\n".join(raw_utf8)), records=201, rejected=1, where="line"))
    add(Case("bom-jsonl", "d.jsonl", _write(b"\xef\xbb\xbf" + jsonl(GOOD[:5])), records=5))
    add(Case("bom-json", "d.json", _write(b"\xef\xbb\xbf" + json.dumps(GOOD[:5]).encode()), records=5))
    add(Case("bom-json-object", "d.json", _write(b"\xef\xbb\xbf" + json.dumps({"data": GOOD[:5]}).encode()), records=5))
    add(Case("bom-csv", "d.csv", _write(b"\xef\xbb\xbf" + _csv(GOOD[:5])), records=5))
    add(Case("crlf-jsonl", "d.jsonl", _write(jsonl(GOOD[:5]).replace(b"\n", b"\r\n")), records=5))
    add(Case("no-final-newline", "d.jsonl", _write(jsonl(GOOD[:5]).rstrip(b"\n")), records=5))
    add(Case("gz-good", "d.jsonl.gz", _write(gzip.compress(jsonl(GOOD[:5]))), records=5))
    add(Case("gz-two-members", "d.jsonl.gz", _write(gzip.compress(jsonl(GOOD[:3])) + gzip.compress(jsonl(GOOD[3:5]))),
             records=5))  # fmt: skip
    add(Case("zst-good", "d.jsonl.zst", _write(_zst_stream(jsonl(GOOD[:5]))), records=5))
    add(Case("zst-two-frames", "d.jsonl.zst", _write(_zst_stream(jsonl(GOOD[:3])) + _zst_stream(jsonl(GOOD[3:5]))),
             records=5))  # fmt: skip
    add(Case("parquet-good", "d.parquet", _write(_parquet(GOOD[:5])), records=5))
    add(Case("dataset-folder-good", "ds", _dataset_folder(GOOD[:5]), records=5))

    ragged = _csv(GOOD[:4]) + b"r9,too,many,fields,here,now\n"
    add(Case("csv-ragged-row", "d.csv", _write(ragged), records=5, rejected=1, where="row"))
    add(Case("csv-short-row", "d.csv", _write(_csv(GOOD[:4]) + b"r8,\n"), records=5, rejected=1, where="row"))
    add(Case("csv-formula-cells", "d.csv", _write(_csv([{**good(i), "instruction": f"=cmd|' /C calc'!A{i}"}
                                                           for i in range(3)])), records=3))  # fmt: skip
    add(Case("csv-messages-json-cell", "d.csv", _write(_csv([{"id": "m", "messages": json.dumps(chat(1)["messages"])}])),
             records=1))  # fmt: skip
    add(Case("csv-messages-broken-cell", "d.csv", _write(_csv([{"id": "m", "messages": "[{broken"}, {"id": "n",
             "messages": json.dumps(chat(2)["messages"])}])), records=2, rejected=1, where="row"))  # fmt: skip

    def json_list(name: str, rows: list[object], rejected: int, where: str = "record") -> None:
        add(Case(name, "d.json", _write(json.dumps(rows).encode()), records=len(rows), rejected=rejected, where=where))

    json_list("json-null-record", [good(0), None, good(2)], 1)
    json_list("json-scalar-records", [good(0), 1, "x", good(3)], 2)
    json_list("json-huge-int", [good(0), json.loads(HUGE_INT), good(2)], 1)
    json_list("json-missing-field", [good(0), {"id": "q", "instruction": "only"}, good(2)], 1)
    add(Case("json-surrogate", "d.json", _write(("[" + json.dumps(good(0)) + ", " + SURROGATE + "]").encode()),
             records=2, rejected=1, where="record"))  # fmt: skip
    add(
        Case(
            "json-object-holding-list", "d.json", _write(json.dumps({"meta": 1, "rows": GOOD[:4]}).encode()), records=4
        )
    )
    add(Case("json-one-conversation", "d.json", _write(json.dumps(chat(1)).encode()), records=1))

    chats = [json.dumps(chat(i)) for i in range(4)]
    add(Case("messages-missing-list", "d.jsonl", _write(("\n".join([*chats[:2], '{"id": "x", "other": 1}', *chats[2:]])
             + "\n").encode()), records=5, rejected=1, where="line"))  # fmt: skip
    add(Case("messages-not-a-list", "d.jsonl", _write(("\n".join([*chats, '{"id": "y", "messages": "hi"}'])
             + "\n").encode()), records=5, rejected=1, where="line"))  # fmt: skip
    add(Case("messages-null-content", "d.jsonl", _write(("\n".join([*chats, '{"id": "y", "messages": [{"role": "user",'
             ' "content": null}, {"role": "assistant", "content": "a"}]}']) + "\n").encode()), records=5, rejected=1,
             where="line"))  # fmt: skip
    add(Case("messages-unknown-role", "d.jsonl", _write(("\n".join([*chats, '{"id": "y", "messages": [{"role": "hacker",'
             ' "content": "x"}, {"role": "assistant", "content": "a"}]}']) + "\n").encode()), records=5, rejected=1,
             where="line"))  # fmt: skip
    add(Case("messages-no-assistant", "d.jsonl", _write(("\n".join([*chats, '{"id": "y", "messages": [{"role": "user",'
             ' "content": "x"}]}']) + "\n").encode()), records=5, rejected=1, where="line"))  # fmt: skip
    add(Case("messages-terminal-escapes", "d.jsonl", _write(jsonl([{"id": "esc", "messages": [
        {"role": "user", "content": "look \x1b]0;pwned\x07 \x1b[2J \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"},
        {"role": "assistant", "content": "ok \x9b31m red \u202egnp.exe"}]}])), records=1))  # fmt: skip

    seeds = [
        {
            "id": "s1",
            "instruction": "Add",
            "instances": [{"input": "1+1", "output": "2"}, {"input": "2+2", "output": "4"}],
        },
        {"id": "s2", "instruction": "Sub", "instances": [{"input": "3-1", "output": "2"}, {"input": "x"}]},
        {
            "id": "s3",
            "instruction": "Mul",
            "instances": [{"input": "2*2", "output": "4"}, {"input": "3*3", "output": "9"}],
        },
    ]
    add(Case("seed-bad-instance", "d.jsonl", _write(jsonl(seeds)), records=3, rejected=1, per_record=2, where="line"))
    add(Case("seed-empty-instances", "d.jsonl", _write(jsonl([seeds[0], {"id": "s4", "instruction": "x", "instances": []},
             seeds[2]])), records=3, rejected=1, per_record=2, where="line"))  # fmt: skip
    add(Case("seed-instances-missing", "d.jsonl", _write(jsonl([seeds[0], seeds[2], {"id": "s5", "instruction": "x",
             "instances": None}])), records=3, rejected=1, per_record=2, where="line"))  # fmt: skip
    long_line = json.dumps({**good(0), "output": "w " * 100_000})
    add(Case("very-long-line", "d.jsonl", _write((long_line + "\n" + json.dumps(good(1)) + "\n").encode()), records=2))
    add(Case("many-tiny-keys", "d.jsonl", _write(jsonl([{**good(0), **{f"k{i}": i for i in range(5000)}}])), records=1))
    return c


CASES = _cases()
BY_NAME = {c.name: c for c in CASES}
