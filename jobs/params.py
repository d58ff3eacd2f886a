"""Numbers in query strings (page numbers, the parts of paging cursors), parsed strictly.

One rule for every operator URL: ASCII digits only (`str.isdigit()` also takes '²' and other
scripts' digits, which `int()` then refuses or reads), and never past a bound, so a number a
client makes up can neither crash a page nor reach Redis as a value it rejects.
"""

from __future__ import annotations

MAX_PAGE = 100_000  # x 50 rows a page: further than anyone pages by hand
MAX_REDIS_CURSOR = 2**64 - 1  # SCAN cursors are unsigned 64-bit
MAX_SCORE_MS = 2**53  # dead-letter scores: epoch milliseconds, exact in a double


def natural(text: str | None, *, maximum: int, default: int = 0) -> int:
    """`text` as a non-negative integer of ASCII digits, at most `maximum` (a larger one is
    `maximum`); `default` when it is missing or not such a number."""
    if not is_natural(text):
        return default
    assert text is not None
    digits = text.lstrip("0") or "0"
    # Compared as text first: int() of thousands of digits is slow, and refused past 4,300.
    if len(digits) > len(str(maximum)):
        return maximum
    return min(int(digits), maximum)


def is_natural(text: str | None) -> bool:
    """Whether `text` is a number `natural` reads (ASCII digits only)."""
    return text is not None and text.isascii() and text.isdigit()
