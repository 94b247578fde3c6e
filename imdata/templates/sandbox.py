"""Render user-supplied Jinja templates (chat and card) in a sandbox with a time and size bound.

A template from a file is code from a stranger. It runs in Jinja's immutable sandbox (no
attribute of a function, module or class that leads out, as ``transformers`` renders chat
templates), with no ``include`` or ``import`` of other files, with ``*``, ``**`` and ``+``
checked before they allocate, and under a wall-clock bound. Whatever goes wrong inside
(a loop that never ends, ``1/0``, a macro that recurses, a string of 100 GB) comes out as
one :class:`~imdata.errors.TemplateError` that names the template:

>>> render_bounded(sandbox_environment().from_string("{{ 1/0 }}"), {}, name="t.j2")
Traceback (most recent call last):
...
imdata.errors.TemplateError: t.j2: the template failed (ZeroDivisionError: division by zero); fix the template
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from imdata.errors import TemplateError

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

#: seconds one render may take before it is stopped
RENDER_SECONDS = 10.0
#: characters one render (or one string or list built inside it) may reach
RENDER_CHARS = 64 << 20


#: the reason of a render stopped at its time bound: never a skippable bad record
STOPPED = "template-stopped"


class RenderTimeout(Exception):  # raised into the rendering thread by the watchdog
    """A render ran past its time bound."""


def sandbox_environment(**options: Any) -> ImmutableSandboxedEnvironment:
    """An immutable sandbox that loads no other template and checks ``*``, ``**`` and ``+``."""
    from jinja2 import DictLoader
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

    env = _Bounded(loader=DictLoader({}), **options)
    env.globals.pop("lipsum", None)  # an unbounded text generator
    return env


def _check_binop(op: str, left: Any, right: Any) -> None:
    seqs = (str, list, tuple, bytes)
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, seqs) and isinstance(n, int) and len(seq) * n > RENDER_CHARS:
                raise OverflowError(f"a sequence of {len(seq)} repeated {n} times is over the bound")
    big_power = op == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1
    if big_power and right * abs(left).bit_length() > 1 << 20:
        raise OverflowError(f"{left} ** {right} is over the bound")
    long_join = op == "+" and isinstance(left, seqs) and isinstance(right, seqs)
    if long_join and len(left) + len(right) > RENDER_CHARS:
        raise OverflowError("a concatenation is over the bound")


def render_bounded(
    template: Template, context: Mapping[str, Any], *, name: str, seconds: float = RENDER_SECONDS
) -> str:
    """Render ``template`` with ``context``; any failure, overrun or oversize is a TemplateError."""
    from jinja2 import TemplateError as JinjaError
    from jinja2 import TemplateNotFound

    try:
        with _deadline(seconds):
            parts: list[str] = []
            size = 0
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > RENDER_CHARS:
                    raise OverflowError(f"the output is over {RENDER_CHARS:,} characters")
                parts.append(chunk)
            return "".join(parts)
    except RenderTimeout:
        raise TemplateError(
            f"{name}: the template ran for over {seconds:g} s and was stopped; fix the template",
            reason=STOPPED,  # the template, not the record, is at fault: this stops even under skip
        ) from None
    except TemplateError:
        raise
    except TemplateNotFound as e:
        raise TemplateError(
            f"{name}: the template includes or imports {e.name!r}; a template must be one file"
        ) from None
    except JinjaError as e:
        raise TemplateError(f"{name}: the template failed ({e}); fix the template") from None
    except RecursionError:
        raise TemplateError(f"{name}: the template recurses too deeply; fix the template") from None
    except Exception as e:  # a stranger's template may raise anything; it becomes one error
        raise TemplateError(f"{name}: the template failed ({type(e).__name__}: {e}); fix the template") from None


# --- the time bound: one watchdog thread raises RenderTimeout in a render that overruns -------

_lock = threading.Lock()
_wake = threading.Condition(_lock)
_pending: dict[int, tuple[float, int]] = {}  # token -> (deadline, thread id)
_fired: set[int] = set()
_tokens = itertools.count()
_watchdog: threading.Thread | None = None


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    global _watchdog
    token = next(_tokens)
    tid = threading.get_ident()
    with _lock:
        _pending[token] = (time.monotonic() + seconds, tid)
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, name="imdata-render-watchdog", daemon=True)
            _watchdog.start()
        _wake.notify()
    delivered = False
    try:
        yield
    except RenderTimeout:
        delivered = True
        raise
    finally:
        with _lock:
            _pending.pop(token, None)
            fired = token in _fired
            _fired.discard(token)
        if fired and not delivered:
            _take_pending_stop()
            raise RenderTimeout


def _take_pending_stop() -> None:
    """Receive a stop the watchdog sent just as the render ended, here rather than later, outside.

    The interpreter delivers it at the loop's first check. It is taken, never cleared with
    ``PyThreadState_SetAsyncExc(tid, NULL)``: on CPython 3.11 that leaves the thread's
    eval-breaker flag set, and every later profiled call (cProfile) then hangs.
    """
    try:
        for _ in range(1_000_000):
            pass
    except RenderTimeout:
        return


def _watch() -> None:
    with _lock:
        while True:
            now = time.monotonic()
            for token, (deadline, tid) in list(_pending.items()):
                if deadline <= now:
                    del _pending[token]
                    _fired.add(token)
                    _set_async_exc(tid, RenderTimeout)
            nxt = min((d for d, _ in _pending.values()), default=now + 60.0)
            _wake.wait(timeout=max(nxt - now, 0.01))


def _set_async_exc(tid: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc) if exc else None)


__all__ = ["RENDER_CHARS", "RENDER_SECONDS", "RenderTimeout", "render_bounded", "sandbox_environment"]
