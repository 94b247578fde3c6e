"""Saving matplotlib figures the one way every report does: atomically, as PNG, the same bytes each run.

Matplotlib is never imported here; callers build the figure (and import it lazily).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imdata.data import files


def save_png(fig: Any, path: Path, *, force: bool = False, tight: bool = False) -> None:
    """Write ``fig`` to ``path`` through a temporary file, at 110 dpi; ``tight`` crops to the drawn area."""
    extra = {"bbox_inches": "tight"} if tight else {}
    with files.atomic_output(path, force=force, binary=True) as fh:
        # no timestamp in the PNG, so the same report gives the same bytes
        fig.savefig(fh, format="png", dpi=110, metadata={"Software": None}, **extra)


def horizontal() -> dict[str, Any]:
    """The ``boxplot``/``violinplot`` keyword for horizontal boxes in the installed matplotlib.

    ``vert`` is deprecated from 3.11; ``orientation`` exists from 3.10.
    """
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


__all__ = ["horizontal", "save_png"]
