"""Which tokens a loss is averaged over: span kinds, loss modes, or sums of them.

``--kinds output,instruction,it,system+instruction`` names one group per comma-separated
item. An item is a span kind (``template``, ``system``, ``instruction``, ``output``,
``eos``), a loss mode (``it``: the kinds Instruction Tuning trains, ``output`` and
``eos``; ``im``: ``system``, ``instruction``, ``output``, ``eos``; ``all``), or kinds joined
by ``+``. A token's kind comes from imdata's labels (:mod:`imdata.labels.labelling`): it belongs to the
span holding its first character; tokens the tokenizer adds (BOS) belong to none.

>>> [(g.name, sorted(g.kinds)) for g in parse_kinds("output,it,system+instruction")]
[('output', ['output']), ('it', ['eos', 'output']), ('system+instruction', ['instruction', 'system'])]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imdata.choices import LOSS_MODES
from imdata.errors import OptionError
from imdata.labels.labelling import KIND_CODE, TRAINED_KINDS
from imdata.templates.rendered import SPAN_KINDS

#: the default groups: every span kind on its own, the paper's "output tokens" first
DEFAULT_KINDS = ("output", "instruction", "system", "eos", "template")


@dataclass(frozen=True)
class KindGroup:
    """A named set of span kinds whose tokens are averaged together."""

    name: str
    kinds: frozenset[str]

    def table(self) -> np.ndarray:
        """``table[code + 1]`` is True for this group's kind codes (index 0: BOS and other added tokens)."""
        out = np.zeros(len(KIND_CODE) + 1, dtype=bool)
        for k in self.kinds:
            out[KIND_CODE[k] + 1] = True
        return out


def parse_kinds(spec: str | Sequence[str] | None) -> tuple[KindGroup, ...]:
    """Kind groups from ``"output,it"`` or ``["output", "it"]`` (``None``: :data:`DEFAULT_KINDS`)."""
    items = DEFAULT_KINDS if spec is None else spec.split(",") if isinstance(spec, str) else tuple(spec)
    groups: list[KindGroup] = []
    for raw in items:
        name = raw.strip()
        if not name:
            raise OptionError(f"--kinds {_show(spec)}: an empty item; separate kinds with commas, e.g. output,it")
        kinds: set[str] = set()
        for part in name.split("+"):
            if part in LOSS_MODES:
                kinds |= TRAINED_KINDS[part]
            elif part in SPAN_KINDS:
                kinds.add(part)
            else:
                raise OptionError(
                    f"--kinds {_show(spec)}: unknown kind {part!r}; expected span kinds "
                    f"({', '.join(SPAN_KINDS)}), loss modes ({', '.join(LOSS_MODES)}) or kinds joined by +"
                )
        if any(g.name == name for g in groups):
            raise OptionError(f"--kinds {_show(spec)}: {name!r} is named twice")
        groups.append(KindGroup(name, frozenset(kinds)))
    if not groups:
        raise OptionError("--kinds: name at least one kind, e.g. output")
    return tuple(groups)


def _show(spec: str | Sequence[str] | None) -> str:
    return spec if isinstance(spec, str) else ",".join(spec or ())


__all__ = ["DEFAULT_KINDS", "KindGroup", "parse_kinds"]
