"""The ``imdata`` command line.

Each command lives in its own module and is imported lazily, so ``imdata --help`` stays
instant; ``ImdataError`` becomes a clean exit 1 here and only here, and so does any other
exception (a bug), as one line naming it: no traceback unless ``IMDATA_TRACEBACK`` is set.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from imdata import __version__
from imdata.errors import ImdataError

#: command name -> "module:function"; each module holds one command.
COMMANDS: dict[str, str] = {
    "spans": "imdata.cli.spans:spans",
    "show": "imdata.cli.show:show",
    "profile": "imdata.cli.profile:profile",
    "query": "imdata.cli.query:query",
    "prompts": "imdata.cli.prompts:prompts",
    "memorize": "imdata.cli.memorize:memorize",
    "subset": "imdata.cli.subset:subset",
    "split": "imdata.cli.split:split",
    "overlap": "imdata.cli.overlap:overlap",
    "card": "imdata.cli.card:card",
    "loss": "imdata.cli.loss:loss",
    "audit": "imdata.cli.audit:audit",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)  # a programming error, not user input
        return cmd

    def invoke(self, ctx: click.Context) -> Any:
        from imdata.cli._progress import close_all

        try:
            return super().invoke(ctx)
        except ImdataError as e:
            raise click.ClickException(str(e)) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except MemoryError:
            raise click.ClickException(
                "ran out of memory (MemoryError); fewer --workers (memorize) or a machine with more memory will help"
            ) from None
        except Exception as e:  # a bug: one clear line, the traceback only on request
            if os.environ.get("IMDATA_TRACEBACK"):
                raise
            raise click.ClickException(
                f"internal error ({type(e).__name__}: {e}); this is a bug in imdata, please report it with "
                "the command you ran (IMDATA_TRACEBACK=1 prints where it happened)"
            ) from None
        finally:
            close_all()  # before click prints the error: the error is the last line on stderr


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="imdata")
def main() -> None:
    """Prepare and analyse instruction-tuning data for Instruction Modelling.

    Profile lengths and the instruction/output ratio, build low-resource subsets and splits,
    export span-annotated data with IT/IM labels for any trainer, and measure memorisation.
    """
