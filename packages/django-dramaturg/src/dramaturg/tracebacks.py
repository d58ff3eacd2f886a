"""The text of an exception's traceback, formatted once however many places show it.

A job that fails is logged (with its traceback), its retry or dead letter keeps the traceback, and a
task's result records it: formatting it is most of what a failing job costs the worker, so it is done
once per exception and kept on it. Failures that repeat cost less again, per process:

- a failure like an earlier one (the same type, message and code positions: every job of a queue
  failing the same way while a service is down) reuses its text;
- a failure at the same code positions with another message (each error naming its job) reuses the
  formatted stack, the costly part, and formats only its last line.

The masked text (what a log line shows) is kept the same way: `masked_traceback_text`.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from types import TracebackType
from typing import Any

from dramaturg.masking import mask_text, mask_traceback

_TEXTS = "_dramaturg_traceback_texts"  # on an exception: (its stack's text, the rest)
_MASKED = "_dramaturg_masked_traceback"
_KEPT = 256  # texts kept per kind, for failures that repeat
_lock = threading.Lock()
_failures: dict[tuple[Any, ...], tuple[str, str]] = {}  # a failure's key -> its texts
_stacks: dict[tuple[Any, ...], str] = {}  # code positions -> "Traceback (most recent call last):" and the frames
# Their last line depends on more than the exception's message (a "Did you mean" from the failing frame).
_UNKEYED = (SyntaxError, BaseExceptionGroup, NameError, AttributeError, ImportError)
# As Dramatiq's Retries formats the traceback it keeps in a retried message (`format_exc(limit=30)`).
RETRY_TRACEBACK_FRAMES = 30


def traceback_text(exc: BaseException) -> str:
    """`traceback.format_exception(exc)`, joined (ends with a newline); formatted once per exception,
    and in part or whole once per process for failures that repeat."""
    stack, rest = _texts(exc)
    return stack + rest


def masked_traceback_text(exc: BaseException) -> str:
    """`mask_text(traceback_text(exc))`, with the masked stack of failures that repeat kept: the stack
    and the rest masked apart (a secret-looking key and its value are on one line of a traceback)."""
    masked = _kept(exc, _MASKED)
    if masked is None:
        stack, rest = _texts(exc)
        masked = mask_traceback(stack) + mask_text(rest)
        _keep(exc, _MASKED, masked)
    return masked


def retry_traceback_text(exc: BaseException) -> str:
    """The traceback a retried message keeps: Dramatiq's `format_exc(limit=30)`, which is
    `traceback_text` whenever no traceback in the chain is deeper than that."""
    if _deepest(exc, set()) <= RETRY_TRACEBACK_FRAMES:
        return traceback_text(exc)
    return "".join(traceback.format_exception(exc, limit=RETRY_TRACEBACK_FRAMES))


def _texts(exc: BaseException) -> tuple[str, str]:
    texts = _kept(exc, _TEXTS)
    if texts is not None:
        return texts
    key = _failure_key(exc, set())
    texts = _failures.get(key) if key is not None else None
    if texts is None:
        texts = _format(exc, key)
        if key is not None:
            _remember(_failures, key, texts)
    _keep(exc, _TEXTS, texts)
    return texts


def _format(exc: BaseException, key: tuple[Any, ...] | None) -> tuple[str, str]:
    """(the part failures alike share, the rest): the stack (from the kept ones) and the exception's line
    when `exc` is keyed and has no chain; else the whole text, and nothing."""
    if key is None or _chained(exc) is not None:
        return "".join(traceback.format_exception(exc)), ""
    frames = key[2]
    stack = _stacks.get(frames)
    if stack is None:
        stack = "".join(traceback.format_exception(exc)[:-1])  # all but the exception's own line
        _remember(_stacks, frames, stack)
    return stack, "".join(traceback.format_exception_only(exc))


def _remember(kept: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    with _lock:
        if len(kept) >= _KEPT:
            del kept[next(iter(kept))]  # the oldest
        kept[key] = value


def _kept(exc: BaseException, name: str) -> Any:
    return vars(exc).get(name) if hasattr(exc, "__dict__") else None


def _keep(exc: BaseException, name: str, value: Any) -> None:
    with contextlib.suppress(AttributeError):  # an exception class with __slots__: not kept
        setattr(exc, name, value)


def _frames(tb: TracebackType | None) -> tuple[tuple[Any, int], ...]:
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lasti))
        tb = tb.tb_next
    return tuple(frames)


def _chained(exc: BaseException) -> BaseException | None:
    """The exception `format_exception` shows before `exc`: its cause, else its unsuppressed context."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def _failure_key(exc: BaseException, seen: set[int]) -> tuple[Any, ...] | None:
    """What `exc`'s formatted traceback depends on (the source lines aside): its type, message and code
    positions, and its chain's; None when more than that counts (`_UNKEYED`, notes, a cycle, a failing str)."""
    if isinstance(exc, _UNKEYED) or hasattr(exc, "__notes__") or id(exc) in seen:
        return None
    seen.add(id(exc))
    try:
        message = str(exc)
    except Exception:
        return None
    chained = _chained(exc)
    before = None
    if chained is not None:
        before = _failure_key(chained, seen)
        if before is None:
            return None
    return (type(exc), message, _frames(exc.__traceback__), exc.__cause__ is not None, before)


def _deepest(exc: BaseException | None, seen: set[int]) -> int:
    """The most frames of any traceback in `exc`'s chain."""
    depth = 0
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        depth = max(depth, len(_frames(exc.__traceback__)))
        if isinstance(exc, BaseExceptionGroup):
            depth = max([depth, *(_deepest(inner, seen) for inner in exc.exceptions)])
        exc = _chained(exc)
    return depth
