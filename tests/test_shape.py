"""Functions read in one sitting: no function under ``imdata/`` is longer than 60 lines.

The length of a function is its ``def`` line through its last line (decorators excluded),
docstring included, as :mod:`ast` reports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "imdata"
MAX_LINES = 60

#: Functions still longer than MAX_LINES, as "path/under/imdata.py:name", each being shortened
#: by the engineer who owns it. This list must only ever shrink: never add a name to it (split
#: the new function instead); remove a name as soon as its function fits. The lead empties it.
ALLOWED: set[str] = set()


def long_functions(root: Path = PACKAGE) -> dict[str, int]:
    """Every function under ``root`` over MAX_LINES, as ``"path:name" -> lines``."""
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    found[f"{path.relative_to(root).as_posix()}:{node.name}"] = lines
    return found


def test_no_function_is_longer_than_60_lines() -> None:
    offenders = {k: v for k, v in long_functions().items() if k not in ALLOWED}
    listing = "\n".join(f"  {k}: {v} lines" for k, v in sorted(offenders.items(), key=lambda kv: -kv[1]))
    assert not offenders, f"functions longer than {MAX_LINES} lines (split them into named steps):\n{listing}"


def test_the_allow_list_only_names_functions_that_are_still_long() -> None:
    # a function that now fits must leave the list, so the list can only shrink
    fitted = sorted(ALLOWED - set(long_functions()))
    assert not fitted, f"these fit in {MAX_LINES} lines now; remove them from ALLOWED: {', '.join(fitted)}"


def test_the_walk_counts_the_def_to_the_last_line(tmp_path: Path) -> None:
    def function(name: str, lines: int, indent: str) -> str:  # a def line and lines - 1 of body
        body = [f"{indent}    x{i} = {i}" for i in range(lines - 1)]
        return "\n".join([f"{indent}@decorator", f"{indent}def {name}():", *body]) + "\n"

    (tmp_path / "pkg").mkdir()
    source = function("fits", MAX_LINES, "") + "\n\nclass C:\n" + function("too_long", MAX_LINES + 1, "    ")
    (tmp_path / "pkg" / "m.py").write_text(source, encoding="utf-8")
    assert long_functions(tmp_path) == {"pkg/m.py:too_long": MAX_LINES + 1}
