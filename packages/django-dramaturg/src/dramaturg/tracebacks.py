"""The text of an exception's traceback, formatted once however many places show it.

A job that fails is logged (with its traceback), its dead letter keeps the traceback, and a task's
result records it: formatting it is most of what a failing job costs the worker, so it is done once
per exception and kept on it.
"""

from __future__ import annotations

import contextlib
import traceback

_TEXT = "_dramaturg_traceback_text"


def traceback_text(exc: BaseException) -> str:
    """`traceback.format_exception(exc)`, joined (ends with a newline); computed once per exception."""
    text = vars(exc).get(_TEXT) if hasattr(exc, "__dict__") else None
    if text is None:
        text = "".join(traceback.format_exception(exc))
        with contextlib.suppress(AttributeError):  # an exception class with __slots__: not kept
            setattr(exc, _TEXT, text)
    return text
