"""Starting Ray for the stages that can run on it (``--engine ray``): the engine and the BLEU workers.

Kept in the data stage, below every user of Ray, so memorisation's workers and the engine share
one way of connecting without memorisation importing the engine.
"""

from __future__ import annotations

import os
import sys

from imdata.errors import OptionError


def ray_init() -> None:
    """Connect to ``RAY_ADDRESS`` if set, else start a local instance (once per process)."""
    try:
        import ray
        import ray.data  # Ray without its Data library cannot run the stage
    except ImportError:
        raise OptionError("--engine ray needs Ray Data: pip install 'imdata[ray]' (or use --engine local)") from None

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)  # fmt: skip
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = sys.stderr.isatty()
    ctx.print_on_execution_start = False


__all__ = ["ray_init"]
