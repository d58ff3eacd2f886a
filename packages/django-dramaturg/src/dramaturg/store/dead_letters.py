"""Dead letters: the group index, bounded previews, keyset paging, requeue and delete.

The broker keeps dead letters in `<queue>.XQ` (ids by time of death) and
`<queue>.XQ.msgs` (bodies, up to megabytes each). When a letter is filed
(`record_dead_letter`), a script also files its id under its (queue, actor,
exception) group and stores a preview of a few hundred bytes; list pages read
only previews, so a page costs O(page size) in bytes too. Reads never write:
repairs (expired letters' index entries) are `prune_expired` and `reindex`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from dramatiq.common import q_name

from dramaturg.masking import one_line
from dramaturg.masking import preview as call_preview
from dramaturg.params import MAX_SCORE_MS, is_natural, natural
from dramaturg.timeutil import now_ms

from . import keys
from .connection import client, script, text
from .filters import EVERYTHING, MessageFilter
from .handoff import WAKE_LIST_CAP
from .messages import NO_EXCEPTION, StoredMessage, decode, exception_type_of
from .queues import Before, all_queue_counts, queue_names

# Dramatiq's own rule for queue names; a redis id is a uuid (or any token without '/' or blanks).
_REDIS_ID_RE = re.compile(r"[^\s/]{1,200}")
PREVIEW_ARGS_CHARS = 200
PREVIEW_REASON_CHARS = 300
SMALL_BODY_BYTES = 64 * 1024  # a letter without a preview is read whole only up to this size
TAKE_BATCH = 50  # bodies read at once by requeue: memory stays bounded with large letters


class InvalidReference(ValueError):
    """A dead-letter reference that is not '<queue>/<redis id>'."""


@dataclass(frozen=True)
class DeadLetterRef:
    """Identifies one dead letter: its queue and its redis id ('<queue>/<redis id>' in URLs and forms)."""

    queue: str
    redis_id: str

    @classmethod
    def parse(cls, text: str) -> DeadLetterRef:
        """'<queue>/<redis id>' -> a reference; raises InvalidReference when malformed."""
        queue, sep, redis_id = (text or "").partition("/")
        return cls.of(queue, redis_id) if sep else cls._invalid(text)

    @classmethod
    def of(cls, queue: str, redis_id: str) -> DeadLetterRef:
        """A reference from its two parts (as a URL carries them); raises InvalidReference when malformed."""
        if not keys.QUEUE_NAME_RE.fullmatch(queue or "") or not _REDIS_ID_RE.fullmatch(redis_id or ""):
            return cls._invalid(f"{queue}/{redis_id}")
        return cls(q_name(queue), redis_id)

    @staticmethod
    def _invalid(text: str) -> DeadLetterRef:
        raise InvalidReference(f"not a dead-letter reference: {text[:100]!r}")

    def __str__(self) -> str:
        return f"{self.queue}/{self.redis_id}"


def parse_refs(texts: Iterable[str]) -> list[DeadLetterRef]:
    """Every reference of a form; raises InvalidReference if any is malformed (forms can be tampered with)."""
    return [DeadLetterRef.parse(text) for text in texts]


@dataclass(frozen=True)
class DeadGroup:
    queue_name: str
    actor_name: str
    exception_type: str
    count: int


@dataclass(frozen=True)
class DeadLetterSummary:
    """What a list page shows of a dead letter: a bounded preview, never the whole body."""

    redis_id: str
    queue_name: str
    message_id: str
    actor_name: str
    args_preview: str
    exception_type: str
    reason: str
    retries: int
    dead_at_ms: int | None
    size: int  # bytes of the stored body

    @property
    def ref(self) -> str:
        return f"{self.queue_name}/{self.redis_id}"


@dataclass(frozen=True)
class DeadPage:
    messages: list[DeadLetterSummary]
    newer: str | None  # cursor of the page before, None on the first page
    older: str | None  # cursor of the page after, None on the last page
    total: int


@dataclass(frozen=True)
class DeadListing:
    """A page of dead letters for a filter and the filter's choices, from one read of each."""

    page: DeadPage
    filter: MessageFilter
    groups: list[DeadGroup]
    filtered_groups: list[DeadGroup]
    queue_names: list[str]
    actor_names: list[str] = field(default_factory=list)
    exception_names: list[str] = field(default_factory=list)


# --- previews ------------------------------------------------------------------


def preview_of(data: dict[str, Any], size: int) -> dict[str, Any]:
    """The small summary stored next to a letter when it is filed (masked, bounded)."""
    options = data.get("options") or {}
    return {
        "message_id": data.get("message_id", ""),
        "actor": data.get("actor_name", ""),
        "args": call_preview(data.get("args"), data.get("kwargs"), limit=PREVIEW_ARGS_CHARS),
        "exception": exception_type_of(data),
        "reason": one_line(str(options.get("dead_letter_reason", "")), PREVIEW_REASON_CHARS),
        "retries": options.get("retries", 0),
        "size": size,
    }


def _summary(ref: DeadLetterRef, dead_at_ms: int | None, preview: dict[str, Any]) -> DeadLetterSummary:
    return DeadLetterSummary(
        redis_id=ref.redis_id,
        queue_name=ref.queue,
        message_id=preview.get("message_id", ""),
        actor_name=preview.get("actor", ""),
        args_preview=preview.get("args", ""),
        exception_type=preview.get("exception", NO_EXCEPTION),
        reason=one_line(preview.get("reason", ""), PREVIEW_REASON_CHARS),  # previews filed before it was one line
        retries=int(preview.get("retries") or 0),
        dead_at_ms=dead_at_ms,
        size=int(preview.get("size") or 0),
    )


def load_summaries(
    refs: list[DeadLetterRef], scores: Mapping[DeadLetterRef, int], groups: Mapping[DeadLetterRef, str] | None = None
) -> list[DeadLetterSummary]:
    """Previews of `refs`, in order: one round trip for previews and body sizes, a second only
    for letters filed without a preview whose body is small. A large letter without one shows its
    size and what its group says; a letter whose body is gone (expired) is left out."""
    conn = client()
    pipe = conn.pipeline(transaction=False)
    for ref in refs:
        pipe.hget(keys.preview_key(ref.queue), ref.redis_id)
        pipe.hstrlen(keys.dead_messages_key(ref.queue), ref.redis_id)
    values = pipe.execute()
    previews: dict[DeadLetterRef, dict[str, Any]] = {}
    small: list[tuple[DeadLetterRef, int]] = []
    for i, ref in enumerate(refs):
        raw, size = values[2 * i], values[2 * i + 1]
        if not size:
            continue  # expired by the broker: prune_expired() drops its index entry later
        if raw is not None:
            previews[ref] = json.loads(raw)
        elif size <= SMALL_BODY_BYTES:
            small.append((ref, size))
        else:
            group = (groups or {}).get(ref)
            _, actor, exception = keys.split_group_field(group) if group else (ref.queue, "", "")
            previews[ref] = {
                "actor": actor,
                "exception": exception or "?",
                "size": size,
                "args": f"({size:,} bytes; open the letter to see them)",
            }
    if small:
        pipe = conn.pipeline(transaction=False)
        for ref, _ in small:
            pipe.hget(keys.dead_messages_key(ref.queue), ref.redis_id)
        for (ref, size), body in zip(small, pipe.execute(), strict=True):
            if (data := decode(body)) is not None:
                previews[ref] = preview_of(data, size)
    return [_summary(ref, scores.get(ref), previews[ref]) for ref in refs if ref in previews]


# --- filing --------------------------------------------------------------------


def _record_keys(queue: str, group: str) -> list[str]:
    return [
        keys.dead_key(queue),
        keys.dead_messages_key(queue),
        keys.groups_key(),
        keys.group_index_key(group),
        keys.totals_key(),
        keys.preview_key(queue),
    ]


def _preview(data: Mapping[str, Any], actor: str, size: int) -> str:
    return json.dumps(preview_of({**data, "actor_name": actor}, size), separators=(",", ":"))


def record_dead_letter(
    queue: str, redis_id: str, body: bytes, actor: str, exception: str, pipe: redis.client.Pipeline | None = None
) -> Any:
    """File a message the broker has just dead-lettered: store its enriched body
    (traceback, reason), add it to its (queue, actor, exception) group and keep a
    bounded preview for list pages. Queued on `pipe` if given."""
    group = keys.group_field(queue, actor, exception)
    preview = _preview(decode(body) or {}, actor, len(body))
    return script("record_dead")(
        keys=_record_keys(queue, group), args=[redis_id, body, group, preview], client=pipe or client()
    )


def nack_and_record(
    worker_id: str, consumed_queue: str, redis_id: str, body: bytes, data: dict[str, Any], heartbeat_ms: int | None
) -> bool:
    """Dead-letter a message this worker fetched (`consumed_queue`: 'x' or 'x.DQ') and file it as
    `record_dead_letter` does, in one round trip (lua/nack_dead.lua): `body` is the message with its
    reason and traceback in its options, `data` the same decoded. False if the worker no longer held
    it (nothing written)."""
    queue = q_name(consumed_queue)
    actor, exception = str(data.get("actor_name", "")), exception_type_of(data)
    group = keys.group_field(queue, actor, exception)
    return bool(
        script("nack_dead")(
            keys=[
                keys.acks_key(worker_id, consumed_queue),
                keys.consumed_messages_key(consumed_queue),
                *_record_keys(queue, group),
                keys.heartbeats_key(),
            ],
            args=[
                redis_id,
                now_ms(),
                body,
                group,
                _preview(data, actor, len(body)),
                worker_id,
                "" if heartbeat_ms is None else heartbeat_ms,
            ],
        )
    )


# --- groups and pages ----------------------------------------------------------


def dead_groups(filter: MessageFilter | None = None) -> list[DeadGroup]:
    """Dead-letter counts by (queue, actor, exception type), biggest first, optionally filtered."""
    groups = []
    for raw_field, raw_count in client().hgetall(keys.groups_key()).items():
        queue, actor, exception = keys.split_group_field(text(raw_field))
        groups.append(DeadGroup(queue, actor, exception, int(raw_count)))
    groups.sort(key=lambda g: (-g.count, g.queue_name, g.actor_name, g.exception_type))
    return filter_groups(groups, filter) if filter else groups


def filter_groups(groups: list[DeadGroup], filter: MessageFilter) -> list[DeadGroup]:
    return [g for g in groups if filter.matches(g)]


def encode_cursor(score: int, ref: DeadLetterRef) -> str:
    """A keyset cursor: the time of death and the letter, '<ms>:<queue>/<redis id>'."""
    return f"{int(score)}:{ref}"


def decode_cursor(cursor: str | None) -> tuple[int, DeadLetterRef] | None:
    """(score, ref) from a cursor; None (the first page) for a missing or malformed one."""
    score, _, ref = (cursor or "").partition(":")
    if not is_natural(score):
        return None
    try:
        return natural(score, maximum=MAX_SCORE_MS), DeadLetterRef.parse(ref)
    except InvalidReference:
        return None


def _sources(
    filter: MessageFilter, matching: list[DeadGroup], queues: list[str] | None
) -> list[tuple[str, str, str | None]]:
    """The sorted sets to merge for a filter: (key, queue of its members, group field or None)."""
    if filter.queue and not filter.by_group:
        return [(keys.dead_key(filter.queue), filter.queue, None)]  # the broker's own set: also unindexed letters
    if not filter.by_group:
        return [(keys.dead_key(q), q, None) for q in (queues if queues is not None else queue_names())]
    fields = [keys.group_field(g.queue_name, g.actor_name, g.exception_type) for g in matching]
    return [(keys.group_index_key(f), keys.split_group_field(f)[0], f) for f in fields]


def page_dead(
    filter: MessageFilter = EVERYTHING,
    *,
    cursor: str | None = None,
    direction: str = "older",
    limit: int = 50,
    groups: list[DeadGroup] | None = None,
    queues: list[str] | None = None,
) -> DeadPage:
    """A page of dead letters (previews), newest first, by keyset pagination over the
    sets that match the filter: O(groups x page size), whatever the total.
    `groups` and `queues` reuse what the caller already read (dead_groups(), queue_names())."""
    matching = filter_groups(groups if groups is not None else dead_groups(), filter)
    sources = _sources(filter, matching, queues)
    total = (
        sum(g.count for g in matching)
        if filter.by_group
        else sum(c.dead for c in all_queue_counts([q for _, q, _ in sources]))
    )
    chosen, group_of, has_more, bound, older = _choose(sources, cursor, direction, limit)
    refs = [ref for _, ref in chosen]
    messages = load_summaries(refs, {ref: score for score, ref in chosen}, group_of)
    first = encode_cursor(*chosen[0]) if chosen else None
    last = encode_cursor(*chosen[-1]) if chosen else None
    if older:
        return DeadPage(messages, first if bound else None, last if has_more else None, total)
    return DeadPage(messages, first if has_more else None, last, total)


def _choose(sources: list[tuple[str, str, str | None]], cursor: str | None, direction: str, limit: int):
    """Merge the sources around the cursor: (chosen (score, ref) newest first, group of each ref,
    whether more lie beyond, the decoded cursor, whether the page goes older)."""
    bound = decode_cursor(cursor)
    older = direction != "newer" or bound is None
    pipe = client().pipeline(transaction=False)
    extra = 64  # members tied on the cursor's millisecond that must be skipped
    for key, _, _ in sources:
        if older:
            pipe.zrevrangebyscore(
                key, bound[0] if bound else "+inf", "-inf", start=0, num=limit + extra, withscores=True
            )
        else:
            assert bound is not None  # "newer" needs a cursor; without one the page goes older
            pipe.zrangebyscore(key, bound[0], "+inf", start=0, num=limit + extra, withscores=True)
    candidates: list[tuple[int, DeadLetterRef]] = []
    group_of: dict[DeadLetterRef, str] = {}
    for (_, queue, group), rows in zip(sources, pipe.execute(), strict=True):
        for member, score in rows:
            item = (int(score), DeadLetterRef(queue, member.decode()))
            if bound and (_sort_key(item) >= _sort_key(bound) if older else _sort_key(item) <= _sort_key(bound)):
                continue
            candidates.append(item)
            if group:
                group_of[item[1]] = group
    candidates.sort(key=_sort_key, reverse=older)
    chosen = candidates[: limit + 1]
    has_more = len(chosen) > limit
    chosen = chosen[:limit]
    if not older:
        chosen.reverse()
    return chosen, group_of, has_more, bound, older


def _sort_key(item: tuple[int, DeadLetterRef]) -> tuple[int, str]:
    return item[0], str(item[1])


def listing(
    filter: MessageFilter, *, cursor: str | None = None, direction: str = "older", limit: int = 50
) -> DeadListing:
    """What the dead-letter page shows: the page for the filter and cursor, and the
    filter's choices, from one read of the groups and the queue names."""
    groups = dead_groups()
    queues = queue_names()
    page = page_dead(filter, cursor=cursor, direction=direction, limit=limit, groups=groups, queues=queues)
    return DeadListing(
        page=page,
        filter=filter,
        groups=groups,
        filtered_groups=filter_groups(groups, filter),
        queue_names=sorted({g.queue_name for g in groups} | set(queues)),
        actor_names=sorted({g.actor_name for g in groups}),
        exception_names=sorted({g.exception_type for g in groups}),
    )


def find_dead(message_id: str, queues: Iterable[str], *, scan_limit: int = 20_000) -> list[DeadLetterSummary]:
    """Dead letters with this message id (or redis id): O(1) by redis id, else a scan of
    at most `scan_limit` previews per queue (previews are small; bodies are never scanned)."""
    conn = client()
    queues = list(queues)
    needle = json.dumps(message_id)[1:-1]
    found: list[DeadLetterRef] = []
    for queue in queues:
        if conn.hexists(keys.dead_messages_key(queue), message_id):
            found.append(DeadLetterRef(q_name(queue), message_id))
            continue
        for n, (redis_id, raw) in enumerate(conn.hscan_iter(keys.preview_key(queue), count=1000)):
            if n >= scan_limit:
                break
            if f'"message_id":"{needle}"'.encode() in raw:
                found.append(DeadLetterRef(q_name(queue), redis_id.decode()))
    pipe = conn.pipeline(transaction=False)
    for ref in found:
        pipe.zscore(keys.dead_key(ref.queue), ref.redis_id)
    scores = {ref: int(score) for ref, score in zip(found, pipe.execute(), strict=True) if score is not None}
    return load_summaries([ref for ref in found if ref in scores], scores)


def get_dead(ref: DeadLetterRef) -> StoredMessage | None:
    """One dead letter with its whole body (detail page, download); None if it is gone."""
    conn = client()
    pipe = conn.pipeline(transaction=False)
    pipe.zscore(keys.dead_key(ref.queue), ref.redis_id)
    pipe.hget(keys.dead_messages_key(ref.queue), ref.redis_id)
    score, body = pipe.execute()
    data = decode(body)
    if score is None or data is None:
        return None
    return StoredMessage(ref.redis_id, ref.queue, data, int(score), size=len(body))


def count_dead_since(
    queues: Iterable[str], since_ms: int, *, except_exceptions: Collection[str] = ()
) -> dict[str, int]:
    """Dead letters filed at or after `since_ms`, per queue (one pipelined ZCOUNT each), less those
    filed under one of `except_exceptions` (from their group indexes: e.g. an operator's kills)."""
    names = list(queues)
    if not names:
        return {}
    excepted = [g for g in dead_groups() if g.queue_name in names and g.exception_type in except_exceptions]
    pipe = client().pipeline(transaction=False)
    for queue in names:
        pipe.zcount(keys.dead_key(queue), since_ms, "+inf")
    for group in excepted:
        pipe.zcount(
            keys.group_index_key(keys.group_field(group.queue_name, group.actor_name, group.exception_type)),
            since_ms,
            "+inf",
        )
    counts = pipe.execute()
    recent = dict(zip(names, counts[: len(names)], strict=True))
    for group, n in zip(excepted, counts[len(names) :], strict=True):
        recent[group.queue_name] = max(recent[group.queue_name] - n, 0)
    return recent


# --- requeue and delete --------------------------------------------------------


def requeued_body(data: dict[str, Any], now: int | None = None) -> bytes:
    """The body a requeued message goes back with: same id, retry count reset, death details dropped."""
    options = dict(data.get("options") or {})
    for key in ("retries", "traceback", "dead_letter_reason", "dead_lettered_at", "exception_type", "eta"):
        options.pop(key, None)
    options["requeued_at"] = now if now is not None else now_ms()
    return json.dumps(
        {**data, "queue_name": q_name(data.get("queue_name", "")), "options": options}, separators=(",", ":")
    ).encode()


def _take_keys(ref: DeadLetterRef, group: str) -> list[str]:
    return [
        keys.dead_key(ref.queue),
        keys.dead_messages_key(ref.queue),
        keys.groups_key(),
        keys.group_index_key(group),
        keys.queue_key(ref.queue),
        keys.messages_key(ref.queue),
        keys.preview_key(ref.queue),
        keys.wake_key(q_name(ref.queue)),
    ]


def _take(
    refs: list[DeadLetterRef], *, requeue: bool, bodies_of: Collection[str] = (), before: Before | None = None
) -> list[dict[str, Any]]:
    """Requeue (or delete) a batch of letters; returns the decoded bodies of those this call handled
    (an empty dict for a deleted letter whose body was not read). The group of each comes from its
    preview; the body is read to requeue it, to delete a letter filed without a preview, or to
    delete a letter of one of the actors `bodies_of`."""
    conn = client()
    pipe = conn.pipeline(transaction=False)
    for ref in refs:
        pipe.hget(keys.preview_key(ref.queue), ref.redis_id)
    previews = {
        ref: json.loads(raw) if raw is not None else None for ref, raw in zip(refs, pipe.execute(), strict=True)
    }
    need_body = [
        ref for ref in refs if requeue or previews[ref] is None or (previews[ref] or {}).get("actor") in bodies_of
    ]
    pipe = conn.pipeline(transaction=False)
    for ref in need_body:
        pipe.hget(keys.dead_messages_key(ref.queue), ref.redis_id)
    bodies = dict(zip(need_body, pipe.execute() if need_body else [], strict=True))
    take = script("take_dead", conn)
    pipe = conn.pipeline(transaction=False)
    tried: list[dict[str, Any]] = []
    for ref in refs:
        data = decode(bodies.get(ref)) or {}
        if requeue and (not data or "undecodable" in data):
            continue  # nothing a worker could run: it stays where it is, for deletion
        if (preview := previews[ref]) is not None:
            group = keys.group_field(ref.queue, preview.get("actor", ""), preview.get("exception", NO_EXCEPTION))
        else:
            group = keys.group_field(ref.queue, data.get("actor_name", ""), exception_type_of(data))
        body = requeued_body(data) if requeue else b""
        take(keys=_take_keys(ref, group), args=[ref.redis_id, group, body, WAKE_LIST_CAP], client=pipe)
        tried.append(data)
    if before:
        before(tried)
    results = pipe.execute() if len(pipe) else []
    return [data for data, done in zip(tried, results, strict=True) if done]


def take_dead(
    refs: Iterable[DeadLetterRef], *, requeue: bool, bodies_of: Collection[str] = (), before: Before | None = None
) -> list[dict[str, Any]]:
    """Requeue (to the front of their queues, same message id, retries reset) or delete dead letters;
    returns the decoded bodies of the letters this call handled: letters already handled elsewhere are
    skipped, not errors, and an undecodable body is never requeued (nothing a worker could run). A
    deleted letter's body is read only when filed without a preview or of one of the actors `bodies_of`
    (else an empty dict stands for it). `before` is called with the bodies of each batch about to be
    taken, before Redis changes (an error it raises leaves the batch where it is)."""
    refs = list(refs)
    return [
        data
        for i in range(0, len(refs), TAKE_BATCH)
        for data in _take(refs[i : i + TAKE_BATCH], requeue=requeue, bodies_of=bodies_of, before=before)
    ]


def refs_matching(filter: MessageFilter, *, batch: int = 500) -> Iterator[list[DeadLetterRef]]:
    """Every dead letter matching a filter, in batches (for 'requeue/delete all matching')."""
    cursor = None
    while True:
        page = page_dead(filter, cursor=cursor, limit=batch)
        if not page.messages:
            return
        yield [DeadLetterRef(m.queue_name, m.redis_id) for m in page.messages]
        if page.older is None:
            return
        cursor = page.older


# --- repairs (commands and workers; never a page) ----------------------------


def prune_expired(dead_message_ttl_ms: int, *, batch: int = 500) -> int:
    """Drop the index entries and previews of letters the broker expired (older than the TTL
    and gone). Cost: the entries past the TTL, not the whole index. Returns how many."""
    conn = client()
    prune = script("prune_dead", conn)
    cutoff = now_ms() - dead_message_ttl_ms
    pruned = 0
    for group in list(conn.hkeys(keys.groups_key())):
        group_field = text(group)
        queue = keys.split_group_field(group_field)[0]
        group_keys = [
            keys.groups_key(),
            keys.group_index_key(group_field),
            keys.dead_messages_key(queue),
            keys.preview_key(queue),
        ]
        low: str = "-inf"
        while True:
            removed, checked, last = prune(keys=group_keys, args=[group_field, low, cutoff, batch])
            pruned += int(removed)
            if int(checked) < batch:
                break
            low = f"({last.decode() if isinstance(last, bytes) else last}"
    return pruned


def reindex(queues: Iterable[str] | None = None) -> int:
    """Rebuild the group index, counts and previews from the broker's dead-letter sets
    (O(N); a repair tool, e.g. for letters filed before previews existed)."""
    conn = client()
    dead_total = conn.hget(keys.totals_key(), "dead")  # "ever dead-lettered": refiling adds none
    for pattern in (keys.group_index_pattern(), keys.preview_pattern()):
        for key in conn.scan_iter(match=pattern, count=1000):
            conn.delete(key)
    filed = 0
    names = set(queues if queues is not None else queue_names())
    names.update(
        keys.queue_of_dead_messages_key(k.decode())  # queues only Redis knows of (a repair tool may scan)
        for k in conn.scan_iter(match=keys.dead_messages_pattern(), count=1000)
    )
    for queue in sorted(names):
        pipe = conn.pipeline(transaction=False)
        for redis_id, body in conn.hscan_iter(keys.dead_messages_key(queue), count=100):
            data = decode(body) or {}
            record_dead_letter(
                queue, redis_id.decode(), body, data.get("actor_name", ""), exception_type_of(data), pipe=pipe
            )
            if len(pipe) >= 100:
                filed += sum(pipe.execute())
        filed += sum(pipe.execute())
    conn.hset(keys.totals_key(), "dead", int(dead_total or 0))
    return filed
