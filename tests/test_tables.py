"""The one table renderer: every report's markdown escapes ``|``; text tables align as before."""

from __future__ import annotations

import csv
import io
import json

from imdata.data.tables import csv_table, markdown_table, num, render_rows, text_table


def test_markdown_escapes_a_pipe_in_any_cell_so_the_columns_hold() -> None:
    out = markdown_table(["run", "mean"], [["a|b", "1.50"], ["c", "12.00"]])
    lines = out.splitlines()
    assert lines == ["| run | mean |", "|---|---:|", "| a\\|b | 1.50 |", "| c | 12.00 |"]
    # a markdown reader splits on unescaped pipes only: every row has the head's two cells
    assert all(line.replace("\\|", "").count("|") == 3 for line in lines)


def test_rows_of_any_command_escape_in_markdown_too() -> None:
    out = render_rows([{"part": "a|b", "examples": 9}], "markdown")
    assert out.splitlines()[-1] == "| a\\|b | 9 |"


def test_text_table_aligns_names_left_numbers_right_without_trailing_spaces() -> None:
    out = text_table(["dataset", "kind", "loss"], [["x", "output", "1.5"], ["longer", "", "12.25"]], left=2)
    assert out.splitlines() == [
        "dataset  kind     loss",
        "-------  ------  -----",
        "x        output    1.5",
        "longer           12.25",
    ]
    assert text_table(["a", "b"], [["1", ""]], rule=False).splitlines() == ["a  b", "1"]


def test_csv_and_json_are_for_programs() -> None:
    text = csv_table(["name", "n"], [['=1+1, said "x"', 3], [None, 4]])
    assert list(csv.reader(io.StringIO(text))) == [["name", "n"], ['=1+1, said "x"', "3"], ["", "4"]]
    assert not text.endswith("\n")
    assert json.loads(render_rows([{"b": 1, "a": "é"}], "json")) == [{"a": "é", "b": 1}]


def test_numbers() -> None:
    assert [num(1234567), num(0.5), num(None), num(3.14159, 4)] == ["1,234,567", "0.50", "-", "3.1416"]
    assert num(None, missing="") == "" and num(1234.5, grouping=False) == "1234.50"
