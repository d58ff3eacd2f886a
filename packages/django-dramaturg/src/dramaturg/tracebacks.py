"""The text of an exception's traceback, formatted once however many places show it.

A job that fails is logged (with its traceback), its retry or dead letter keeps the traceback, and a
task's result records it: formatting it is most of what a failing job costs the worker, so it is done
once per exception and kept on it (formatted again if the exception was raised on since). Failures
that repeat cost less again, per process:

- a failure like an earlier one (the same type, message and code positions: every job of a queue
  failing the same way while a service is down) reuses its text;
- a failure at the same code positions with another message (each error naming its job) reuses the
  formatted stack, the costly part (Python 3.12 parses each source line for its `^^^` marks), and
  formats only its last line.

The masked text (what a log line shows) is kept the same way: `masked_traceback_text`.
"""

from __future__ import annotations

import threading
import traceback
from types import TracebackType
from typing import Any

from dramaturg.masking import mask_text, mask_traceback

_TEXT = "_dramaturg_traceback_text"  # on an exception: (what its text depends on, its text)
_MASKED = "_dramaturg_masked_traceback"  # the same, masked
_KEPT = 256  # texts kept per kind, for failures that repeat
_KEPT_CHARS = 16_384  # a longer text (a message that quotes a payload) is not kept
_lock = threading.Lock()
_failures: dict[tuple[Any, ...], str] = {}  # a failure's key -> its text
_stacks: dict[tuple[Any, ...], str] = {}  # code positions -> "Traceback (most recent call last):" and the frames
# Their last line depends on more than the exception's message (a "Did you mean" from the failing frame).
_UNKEYED = (SyntaxError, BaseExceptionGroup, NameError, AttributeError, ImportError)
# As Dramatiq's Retries formats the traceback it keeps in a retried message (`format_exc(limit=30)`).
RETRY_TRACEBACK_FRAMES = 30


def traceback_text(exc: BaseException) -> str:
    """`traceback.format_exception(exc)`, joined (ends with a newline); formatted once per exception,
    and in part or whole once per process for failures that repeat."""
    text = _kept(exc, _TEXT)
    if text is None:
        text = _text(exc)
        _keep(exc, _TEXT, text)
    return text


def masked_traceback_text(exc: BaseException) -> str:
    """`mask_text(traceback_text(exc))`, masked once per exception and once per process for a text that
    repeats (`dramaturg.masking.mask_traceback`)."""
    masked = _kept(exc, _MASKED)
    if masked is None:
        text = traceback_text(exc)
        masked = mask_traceback(text) if len(text) <= _KEPT_CHARS else mask_text(text)
        _keep(exc, _MASKED, masked)
    return masked


def retry_traceback_text(exc: BaseException) -> str:
    """The traceback a retried message keeps: Dramatiq's `format_exc(limit=30)`, which is
    `traceback_text` whenever no traceback in the chain is deeper than that."""
    if _deepest(exc) <= RETRY_TRACEBACK_FRAMES:
        return traceback_text(exc)
    return "".join(traceback.format_exception(exc, limit=RETRY_TRACEBACK_FRAMES))


def _text(exc: BaseException) -> str:
    key = _failure_key(exc)
    text = _failures.get(key) if key is not None else None
    if text is not None:
        return text
    if key is None or _chained(exc) is not None:
        text = "".join(traceback.format_exception(exc))
    else:  # one exception: its stack from the kept ones, then its own line
        frames = key[0][2]
        stack = _stacks.get(frames)
        if stack is None:
            lines = traceback.format_exception(exc)
            stack, text = "".join(lines[:-1]), "".join(lines)  # all but the exception's own line, and all
            if len(stack) <= _KEPT_CHARS:
                _remember(_stacks, frames, stack)
        else:
            text = stack + "".join(traceback.format_exception_only(exc))
    if key is not None and len(text) <= _KEPT_CHARS and key[0][1] in text:  # (a __str__ that answers alike)
        _remember(_failures, key, text)
    return text


def _remember(kept: dict[tuple[Any, ...], str], key: tuple[Any, ...], value: str) -> None:
    with _lock:
        oldest = kept.pop(next(iter(kept))) if len(kept) >= _KEPT else None
        kept[key] = value
    del oldest  # freed outside the lock


def _stamp(exc: BaseException) -> tuple[Any, ...]:
    """What an exception's text depends on that changes when it is raised on, chained or noted after."""
    notes = getattr(exc, "__notes__", None)
    notes_count = len(notes) if isinstance(notes, list) else -1
    return (exc.__traceback__, exc.__cause__, exc.__context__, exc.__suppress_context__, notes_count)


def _kept(exc: BaseException, name: str) -> Any:
    kept = vars(exc).get(name) if hasattr(exc, "__dict__") else None
    if kept is None or any(a is not b for a, b in zip(kept[0], _stamp(exc), strict=True)):
        return None
    return kept[1]


def _keep(exc: BaseException, name: str, value: str) -> None:
    if hasattr(exc, "__dict__"):  # (an exception class with __slots__: not kept)
        setattr(exc, name, (_stamp(exc), value))


def _frames(tb: TracebackType | None) -> tuple[tuple[Any, ...], ...]:
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, code, tb.tb_lasti))  # (code objects compare equal across files)
        tb = tb.tb_next
    return tuple(frames)


def _depth(tb: TracebackType | None) -> int:
    depth = 0
    while tb is not None:
        depth, tb = depth + 1, tb.tb_next
    return depth


def _chained(exc: BaseException) -> BaseException | None:
    """The exception `format_exception` shows before `exc`: its cause, else its unsuppressed context."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def _failure_key(exc: BaseException) -> tuple[Any, ...] | None:
    """What `exc`'s formatted traceback depends on (the source lines aside): for it and each exception of its
    chain, its type, message, code positions and how it is chained; None when more than that counts
    (`_UNKEYED`, notes, a cycle, a failing str)."""
    links: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, _UNKEYED) or hasattr(link, "__notes__") or id(link) in seen:
            return None
        seen.add(id(link))
        try:
            message = str(link)
        except Exception:
            return None
        links.append((type(link), message, _frames(link.__traceback__), link.__cause__ is not None))
        link = _chained(link)
    return tuple(links)


def _deepest(exc: BaseException) -> int:
    """The most frames of any traceback in `exc`'s chain (exception groups' included)."""
    depth, seen, todo = 0, set(), [exc]
    while todo:
        link: BaseException | None = todo.pop()
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            depth = max(depth, _depth(link.__traceback__))
            if isinstance(link, BaseExceptionGroup):
                todo.extend(link.exceptions)
            link = _chained(link)
    return depth
