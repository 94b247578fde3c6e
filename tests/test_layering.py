"""The package tree is the data flow: no import cycle, and no stage imports a later one.

``RANK`` below is the one statement of the layering rule. Every import in ``imdata/`` counts,
at module level, inside functions and under ``TYPE_CHECKING`` alike, ``import x`` and
``from x import y`` alike: a cycle that only a lazy import hides is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "imdata"

#: stage -> rank; a module may import modules of its own stage or of a lower rank, never a higher one.
#: Stages of equal rank are siblings and must not import each other either.
RANK: dict[str, int] = {
    "imdata": 0,  # the package itself (``__version__``, the lazy public API)
    "imdata.errors": 0,
    "imdata.choices": 0,
    "imdata.data": 1,
    "imdata.templates": 2,
    "imdata.labels": 3,
    "imdata.profiling": 4,
    "imdata.export": 4,
    "imdata.selection": 5,
    "imdata.memorisation": 5,
    "imdata.evaluation": 5,
    "imdata.reports": 6,
    "imdata.store": 7,
    "imdata.engine": 8,
    "imdata.cli": 9,
    "imdata.__main__": 10,  # runs the CLI
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage(module: str) -> str:
    """The longest prefix of ``module`` in :data:`RANK`."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANK:
            return ".".join(parts[:n])
    raise AssertionError(f"{module} belongs to no stage in RANK: add its package there")


def imports(path: Path, known: set[str]) -> set[str]:
    """The ``imdata`` modules ``path`` imports anywhere in its body (``from m import sub`` counts ``m.sub``)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known)
    return {m for m in found if m in known and m != me}


def graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): imports(p, known) for p in paths}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (cycle := visit(n)) is not None:
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (cycle := visit(m)) is not None:
            return cycle
    return None


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import of a module of a higher-ranked stage, or of a sibling stage of equal rank."""
    bad = []
    for m, targets in sorted(edges.items()):
        for t in sorted(targets):
            a, b = stage(m), stage(t)
            if a != b and RANK[b] >= RANK[a] and b != "imdata":
                bad.append(f"{m} ({a}, rank {RANK[a]}) imports {t} ({b}, rank {RANK[b]})")
    return bad


def test_every_module_belongs_to_a_stage() -> None:
    for m in graph():
        stage(m)


def test_no_import_cycle() -> None:
    assert find_cycle(graph()) is None, " -> ".join(find_cycle(graph()) or [])


def test_no_stage_imports_a_later_one() -> None:
    assert upward(graph()) == []


def test_only_errors_and_choices_sit_beside_the_packages() -> None:
    loose = sorted(p.name for p in ROOT.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "choices.py", "errors.py"]


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    """A cycle and an upward import, made up, are both reported (so the real checks can fail)."""
    edges = {"imdata.data.a": {"imdata.data.b"}, "imdata.data.b": {"imdata.data.a"}}
    assert find_cycle(edges) == ["imdata.data.a", "imdata.data.b", "imdata.data.a"]
    assert upward({"imdata.data.files": {"imdata.engine.runner"}}) == [
        "imdata.data.files (imdata.data, rank 1) imports imdata.engine.runner (imdata.engine, rank 8)"
    ]
    assert upward({"imdata.export.hf": {"imdata.profiling.summary"}})  # siblings of equal rank
    assert upward({"imdata.cli.spans": {"imdata.export.exporter"}}) == []


@pytest.mark.parametrize("name", ["spans", "profile", "show", "query", "prompts", "subset", "split", "overlap", "card"])
def test_no_module_is_named_like_a_public_function(name: str) -> None:
    import importlib

    import imdata

    assert callable(getattr(imdata, name))
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"imdata.{name}")
    assert callable(getattr(imdata, name))  # the failed import did not replace the function


def test_import_imdata_spans_is_no_longer_the_function() -> None:
    import types

    import imdata

    with pytest.raises(ModuleNotFoundError):
        import imdata.spans
    assert not isinstance(imdata.spans, types.ModuleType)
    assert imdata.spans.__module__ == "imdata.export.exporter"
    assert type(imdata) is types.ModuleType  # no class swap, so no __setattr__ hook on the package
    assert "__setattr__" not in vars(imdata)
