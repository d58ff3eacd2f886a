"""Search messages by their arguments, their error text and a time range, across the states a message
can be in: ready, delayed, retrying, dead and finished (Sidekiq Web's and Oban Web's search).

Arguments and errors are matched as an operator sees them: masked (dramaturg.masking), so a search
cannot probe a secret. Each hash is scanned (HSCAN) for at most `scan_limit` entries, so a search
costs a bounded number of entries looked at whatever the queue holds, and at most `total_scan_limit`
in all; the result says when it stopped short. Only the newest `limit` hits are kept while scanning.
Dead letters are matched on their stored preview (arguments cut to 200 characters, the reason to 300),
never on their bodies. The record of finished messages keeps no arguments: a search with
argument text skips that state.

The time a message is matched on is the time of its state: enqueued (ready), due (delayed, retrying),
died (dead), finished (finished).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from dramatiq.common import q_name

from dramaturg.masking import mask_secrets, mask_text
from dramaturg.masking import preview as call_preview

from . import keys, recent
from .connection import client, text
from .messages import StoredMessage, decode

READY, DELAYED, RETRYING, DEAD, FINISHED = "ready", "delayed", "retrying", "dead", "finished"
STATES = (READY, DELAYED, RETRYING, DEAD, FINISHED)
SCAN_LIMIT = 20_000  # entries looked at per hash
TOTAL_SCAN_LIMIT = 200_000  # entries looked at in all, whatever the number of queues


@dataclass(frozen=True)
class SearchQuery:
    """What to look for; empty fields match anything. Times are epoch ms, inclusive."""

    args: str = ""
    error: str = ""
    since_ms: int | None = None
    until_ms: int | None = None
    states: tuple[str, ...] = STATES
    queue: str = ""
    actor: str = ""

    @property
    def empty(self) -> bool:
        return not (self.args or self.error or self.since_ms or self.until_ms or self.actor or self.queue)

    def in_range(self, at_ms: int | None) -> bool:
        if self.since_ms is None and self.until_ms is None:
            return True
        if at_ms is None:
            return False
        return (self.since_ms is None or at_ms >= self.since_ms) and (self.until_ms is None or at_ms <= self.until_ms)


@dataclass(frozen=True)
class Hit:
    """One message found: what a result row shows (masked, bounded)."""

    state: str
    queue: str
    message_id: str
    actor: str
    args: str  # a masked call preview
    error: str  # the last error's last line, masked ('' when none)
    at_ms: int | None  # the time of its state
    redis_id: str = ""
    outcome: str = ""  # how a finished message ended


@dataclass
class SearchResult:
    hits: list[Hit] = field(default_factory=list)
    scanned: int = 0
    cut_short: bool = False  # a hash held more than the scan limit: older entries were not looked at
    limited: bool = False  # more hits than asked for


def masked_args_text(data: dict[str, Any]) -> str:
    """The arguments of a message as the search matches them: masked JSON, lower-cased."""
    return json.dumps([mask_secrets(data.get("args") or []), mask_secrets(data.get("kwargs") or {})]).lower()


def _contains(needle: str, haystack: str) -> bool:
    return needle in haystack or json.dumps(needle)[1:-1] in haystack  # a non-ASCII needle as JSON escapes it


def _error_text(options: dict[str, Any]) -> str:
    return mask_text(str(options.get("traceback") or "") + "\n" + str(options.get("dead_letter_reason") or "")).lower()


def _json(raw: bytes) -> Any:
    """A stored preview or record, or {} if it is not JSON (a search shows what it can read)."""
    try:
        return json.loads(raw)
    except ValueError:
        return {}


@dataclass
class _Scanner:
    """The scans of one search: at most `per_hash` entries of each hash, `total` in all (counted in `result`)."""

    result: SearchResult
    per_hash: int
    total: int

    def scan(self, key: str) -> Iterator[tuple[str, bytes]]:
        for n, (field_, raw) in enumerate(client().hscan_iter(key, count=1000)):
            if n >= self.per_hash or self.result.scanned >= self.total:
                self.result.cut_short = True
                return
            self.result.scanned += 1
            yield text(field_), raw


def _stored(query: SearchQuery, queue: str, scanner: _Scanner, running: set[str]) -> Iterator[Hit]:
    """Ready messages (in the queue's hash, not running on a worker) and delayed or retrying ones."""
    needle, error = query.args.lower(), query.error.lower()
    raw_needle = needle.encode() if needle.isascii() else b""  # a cheap first test on the stored JSON
    wanted = set(query.states)
    for state, key in ((READY, keys.messages_key(queue)), (DELAYED, keys.delayed_messages_key(queue))):
        if (state == READY and READY not in wanted) or (state == DELAYED and not wanted & {DELAYED, RETRYING}):
            continue
        for redis_id, raw in scanner.scan(key):
            if raw_needle and raw_needle not in raw.lower():
                continue
            data = decode(raw)
            if data is None or "undecodable" in data:
                continue
            message = StoredMessage(redis_id, queue, data)
            kind = state if state == READY else (RETRYING if message.retries else DELAYED)
            if kind not in wanted or (query.actor and message.actor_name != query.actor):
                continue
            if kind == READY and message.message_id in running:
                continue
            at = message.enqueued_at_ms if kind == READY else message.eta_ms
            if not query.in_range(at):
                continue
            if needle and not _contains(needle, masked_args_text(data)):
                continue
            if error and error not in _error_text(message.options):
                continue
            yield Hit(
                kind,
                queue,
                message.message_id,
                message.actor_name,
                call_preview(message.args, message.kwargs, limit=200),
                message.last_error,
                at,
                redis_id,
            )


def _dead(query: SearchQuery, queue: str, scanner: _Scanner) -> Iterator[Hit]:
    needle, error = query.args.lower(), query.error.lower()
    candidates = []
    for redis_id, raw in scanner.scan(keys.preview_key(queue)):
        preview = _json(raw)
        if not isinstance(preview, dict) or (query.actor and preview.get("actor") != query.actor):
            continue
        if needle and not _contains(needle, str(preview.get("args", "")).lower()):
            continue
        reason = mask_text(str(preview.get("reason", "")))
        if error and error not in (reason + " " + str(preview.get("exception", ""))).lower():
            continue
        candidates.append((redis_id, preview, reason))
    if not candidates:
        return
    pipe = client().pipeline(transaction=False)
    for redis_id, _, _ in candidates:
        pipe.zscore(keys.dead_key(queue), redis_id)
    for (redis_id, preview, reason), score in zip(candidates, pipe.execute(), strict=True):
        at = int(score) if score is not None else None
        if at is None or not query.in_range(at):
            continue  # gone (requeued or expired) since its preview was read
        yield Hit(
            DEAD,
            queue,
            preview.get("message_id", ""),
            preview.get("actor", ""),
            preview.get("args", ""),
            reason,
            at,
            redis_id,
        )


def _finished(query: SearchQuery, scanner: _Scanner) -> Iterator[Hit]:
    if query.args:
        return  # the record keeps no arguments
    seen: set[str] = set()
    for slot in range(recent.SLOTS):
        for message_id, raw in scanner.scan(keys.recent_slot_key(slot)):
            values = _json(raw)
            if not isinstance(values, list):
                continue
            entry = recent.entry(message_id, values)
            if message_id in seen or (query.queue and q_name(entry.get("queue", "")) != query.queue):
                continue
            if (query.actor and entry.get("actor") != query.actor) or not query.in_range(entry.get("finished_ms")):
                continue
            error = str(entry.get("error") or "")  # a failed attempt's, one masked line
            if query.error and query.error.lower() not in error.lower():
                continue
            seen.add(message_id)
            yield Hit(
                FINISHED,
                entry.get("queue", ""),
                message_id,
                entry.get("actor", ""),
                "",
                error,
                entry.get("finished_ms"),
                outcome=str(entry.get("outcome", "")),
            )


def search(
    query: SearchQuery,
    queues: Iterable[str],
    *,
    running: Iterable[str] = (),
    limit: int = 200,
    scan_limit: int = SCAN_LIMIT,
    total_scan_limit: int = TOTAL_SCAN_LIMIT,
) -> SearchResult:
    """Messages matching `query` in `queues` (or only `query.queue`), newest first, at most `limit`.
    `running`: ids of messages running on a worker now (listed as in progress elsewhere, not as ready)."""
    result = SearchResult()
    scanner = _Scanner(result, scan_limit, total_scan_limit)
    names = [q_name(query.queue)] if query.queue else [q_name(q) for q in queues]
    running_ids = set(running)
    per_queue = (
        chain(_stored(query, queue, scanner, running_ids), _dead(query, queue, scanner) if DEAD in query.states else ())
        for queue in names
    )
    finished = _finished(query, scanner) if FINISHED in query.states else iter(())
    # heapq.nlargest is a stable sort cut short: hits of the same time keep their scan order.
    newest = heapq.nlargest(limit + 1, chain(chain.from_iterable(per_queue), finished), key=lambda h: h.at_ms or 0)
    result.limited = len(newest) > limit
    result.hits = newest[:limit]
    return result
