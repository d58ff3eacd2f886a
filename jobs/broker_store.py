"""The one place that knows how the Dramatiq Redis broker lays out its keys.

Dramatiq's own keys (see dramatiq/brokers/redis/dispatch.lua):
  <ns>:<queue>                 list of redis message ids, ready to fetch (LPOP side is the front)
  <ns>:<queue>.msgs            hash id -> encoded message (ready + in flight)
  <ns>:<queue>.DQ / .DQ.msgs   the same for delayed messages (retries, ETAs)
  <ns>:<queue>.XQ              zset of dead-lettered ids by time of death (ms)
  <ns>:<queue>.XQ.msgs         hash id -> encoded message
  <ns>:__acks__.<worker>.<q>   set of ids a worker fetched and has not acked
  <ns>:__heartbeats__          zset worker id -> last heartbeat (ms)

Ours, under <ns>:__jobs__: (kept by jobs.middleware):
  dead:groups                  hash "queue|actor|exception" -> dead count
  dead:<queue>|<actor>|<exc>   zset redis id -> time of death, one per group
  totals                       hash processed / failed / dead
  minute:<epoch minute>        hash processed / failed, kept two hours
  workers                      hash worker id -> JSON (host, pid, queues, started)
  running:<worker id>          hash message id -> JSON (actor, queue, started)
  periodic                     hash actor -> JSON (last run, outcome)

Views, admin pages, commands and middleware read and write through the
functions here; nothing else builds these key names. Every read a page
makes costs O(page size): counts come from counters, pages from sorted sets.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

import dramatiq
import redis
from dramatiq.common import q_name

SEP = "|"
MINUTE_TTL_S = 2 * 3600

# Stores the enriched body of a message the broker just dead-lettered and files
# it under its (queue, actor, exception) group. No-op if an operator already
# requeued or deleted it.
# KEYS: xq, xq.msgs, groups, group index, totals   ARGV: id, body, group field
_RECORD_DEAD = """
local score = redis.call('zscore', KEYS[1], ARGV[1])
if not score or redis.call('hexists', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
if redis.call('zadd', KEYS[4], score, ARGV[1]) == 1 then
  redis.call('hincrby', KEYS[3], ARGV[3], 1)
  redis.call('hincrby', KEYS[5], 'dead', 1)
end
return 1
"""

# Takes one message out of the dead-letter set (and its group); with a body,
# puts it back at the front of its queue. Returns 0 if it was already gone,
# which is also how stale index entries (expired by the broker) are pruned.
# KEYS: xq, xq.msgs, groups, group index, queue list, queue msgs   ARGV: id, group field, body or ''
_TAKE_DEAD = """
local was_dead = redis.call('zrem', KEYS[1], ARGV[1])
redis.call('hdel', KEYS[2], ARGV[1])
if redis.call('zrem', KEYS[4], ARGV[1]) == 1 then
  if redis.call('hincrby', KEYS[3], ARGV[2], -1) <= 0 then redis.call('hdel', KEYS[3], ARGV[2]) end
end
if was_dead == 0 then return 0 end
if ARGV[3] ~= '' then
  redis.call('hset', KEYS[6], ARGV[1], ARGV[3])
  redis.call('lpush', KEYS[5], ARGV[1])
end
return 1
"""


# Moves a fetched message that cannot be decoded from a worker's ack set to the
# dead-letter set, as the broker's nack would, with an envelope that keeps the raw body.
# KEYS: acks, queue msgs, xq, xq.msgs   ARGV: id, envelope, now (ms)
_BURY = """
if redis.call('srem', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[1])
redis.call('hset', KEYS[4], ARGV[1], ARGV[2])
return 1
"""


def _broker() -> dramatiq.Broker:
    return dramatiq.get_broker()


def client() -> redis.Redis:
    """The broker's own Redis client (and connection pool)."""
    return _broker().client


def namespace() -> str:
    return _broker().namespace


# --- key names -----------------------------------------------------------------

def queue_key(queue: str) -> str:
    return f"{namespace()}:{q_name(queue)}"


def messages_key(queue: str) -> str:
    return f"{queue_key(queue)}.msgs"


def delayed_messages_key(queue: str) -> str:
    return f"{queue_key(queue)}.DQ.msgs"


def dead_key(queue: str) -> str:
    return f"{queue_key(queue)}.XQ"


def dead_messages_key(queue: str) -> str:
    return f"{dead_key(queue)}.msgs"


def acks_key(worker_id: str, queue: str) -> str:
    return f"{namespace()}:__acks__.{worker_id}.{queue}"


def rate_limit_key(name: str) -> str:
    return _jobs_key("limit", name)


def heartbeats_key() -> str:
    return f"{namespace()}:__heartbeats__"


def _jobs_key(*parts: str) -> str:
    return f"{namespace()}:__jobs__:" + ":".join(parts)


def _group_field(queue: str, actor: str, exception: str) -> str:
    return SEP.join((q_name(queue), actor, exception))


def _group_index_key(group_field: str) -> str:
    return _jobs_key("dead", group_field)


# --- values --------------------------------------------------------------------

@dataclass(frozen=True)
class QueueCounts:
    name: str
    ready: int
    delayed: int
    in_progress: int
    dead: int


@dataclass(frozen=True)
class StoredMessage:
    """A message as the broker stores it: `data` is the decoded JSON body."""

    redis_id: str
    queue_name: str
    data: dict[str, Any] = field(repr=False)
    dead_at_ms: Optional[int] = None

    @property
    def message_id(self) -> str:
        return self.data.get("message_id", "")

    @property
    def actor_name(self) -> str:
        return self.data.get("actor_name", "")

    @property
    def args(self) -> list:
        return self.data.get("args") or []

    @property
    def kwargs(self) -> dict:
        return self.data.get("kwargs") or {}

    @property
    def options(self) -> dict[str, Any]:
        return self.data.get("options") or {}

    @property
    def enqueued_at_ms(self) -> Optional[int]:
        return self.data.get("message_timestamp")

    @property
    def retries(self) -> int:
        return self.options.get("retries", 0)

    @property
    def eta_ms(self) -> Optional[int]:
        return self.options.get("eta")

    @property
    def traceback(self) -> str:
        return self.options.get("traceback", "")

    @property
    def reason(self) -> str:
        return self.options.get("dead_letter_reason", "")

    @property
    def exception_type(self) -> str:
        return exception_type_of(self.data)

    @property
    def ref(self) -> str:
        """Identifies a dead letter in forms and URLs: '<queue>/<redis id>'."""
        return f"{self.queue_name}/{self.redis_id}"


# A dead letter with no recorded exception (e.g. expired by AgeLimit) files under this name.
NO_EXCEPTION = "Rejected"


def exception_type_of(data: dict[str, Any]) -> str:
    options = data.get("options") or {}
    if options.get("exception_type"):
        return options["exception_type"]
    last_line = (options.get("traceback") or "").strip().rsplit("\n", 1)[-1]
    name = last_line.split(":", 1)[0].rsplit(".", 1)[-1].strip()
    return name if name.isidentifier() else NO_EXCEPTION


@dataclass(frozen=True)
class DeadGroup:
    queue_name: str
    actor_name: str
    exception_type: str
    count: int


@dataclass(frozen=True)
class DeadPage:
    messages: list[StoredMessage]
    newer: Optional[str]  # cursor of the page before, None on the first page
    older: Optional[str]  # cursor of the page after, None on the last page
    total: int


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    host: str
    pid: Optional[int]
    queues: list[str]
    started_at_ms: Optional[int]
    last_heartbeat_ms: int
    alive: bool
    running: list[dict[str, Any]]


def ref_parts(ref: str) -> tuple[str, str]:
    """'<queue>/<redis id>' -> (queue, redis id); raises ValueError when malformed."""
    queue, sep, redis_id = ref.partition("/")
    if not sep or not queue or not redis_id:
        raise ValueError(f"not a dead-letter reference: {ref!r}")
    return queue, redis_id


def _decode(raw: Optional[bytes]) -> Optional[dict[str, Any]]:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return {"actor_name": "", "args": [], "kwargs": {}, "options": {}, "undecodable": raw[:2000].decode(errors="replace")}
    return data if isinstance(data, dict) else {"actor_name": "", "options": {}, "undecodable": str(data)[:2000]}


# --- queues --------------------------------------------------------------------

def queue_names() -> list[str]:
    """Queues declared in this process plus any that only exist in Redis."""
    names = {q_name(q) for q in _broker().get_declared_queues()}
    prefix = f"{namespace()}:"
    for key in client().scan_iter(match=f"{prefix}*.msgs", count=1000):
        name = key.decode()[len(prefix):-len(".msgs")]
        if not name.startswith("__"):
            names.add(q_name(name.removesuffix(".DQ").removesuffix(".XQ")))
    return sorted(names)


def queue_counts(queue: str) -> QueueCounts:
    return all_queue_counts([queue])[0]


def all_queue_counts(queues: Optional[Iterable[str]] = None) -> list[QueueCounts]:
    """Ready, delayed, in-flight and dead counts of each queue, in one round trip."""
    names = list(queues) if queues is not None else queue_names()
    pipe = client().pipeline(transaction=False)
    for name in names:
        pipe.llen(queue_key(name))
        pipe.hlen(messages_key(name))
        pipe.hlen(delayed_messages_key(name))
        pipe.zcard(dead_key(name))
    values = pipe.execute()
    counts = []
    for i, name in enumerate(names):
        ready, stored, delayed, dead = values[4 * i: 4 * i + 4]
        # A message stays in the hash until acked: stored but not listed is in flight.
        counts.append(QueueCounts(q_name(name), ready, delayed, max(stored - ready, 0), dead))
    return counts


def page_ready(queue: str, *, offset: int = 0, limit: int = 50) -> list[StoredMessage]:
    """Ready messages in the order workers will take them."""
    conn = client()
    ids = [i.decode() for i in conn.lrange(queue_key(queue), offset, offset + limit - 1)]
    bodies = conn.hmget(messages_key(queue), ids) if ids else []
    return [StoredMessage(i, q_name(queue), data) for i, body in zip(ids, bodies) if (data := _decode(body))]


def page_delayed(queue: str, *, cursor: int = 0, limit: int = 50) -> tuple[list[StoredMessage], int]:
    """Delayed messages (retries waiting for their backoff); returns (page, next cursor or 0)."""
    next_cursor, items = client().hscan(delayed_messages_key(queue), cursor=cursor, count=limit)
    messages = [StoredMessage(k.decode(), q_name(queue), data) for k, v in items.items() if (data := _decode(v))]
    return sorted(messages, key=lambda m: m.eta_ms or 0), int(next_cursor)


def find_message(queue: str, message_id: str, *, scan_limit: int = 20_000) -> Optional[tuple[str, StoredMessage]]:
    """Find a message by its redis id or its Dramatiq message id.

    Returns (state, message) with state 'ready/in progress', 'delayed' or 'dead'.
    Lookup by redis id is O(1); by message id it scans at most `scan_limit` entries.
    """
    places = (("ready/in progress", messages_key(queue)), ("delayed", delayed_messages_key(queue)),
              ("dead", dead_messages_key(queue)))
    conn = client()
    for state, key in places:
        body = conn.hget(key, message_id)
        if body is not None and (data := _decode(body)):
            return state, StoredMessage(message_id, q_name(queue), data)
    needle = f'"message_id":"{message_id}"'.encode()
    for state, key in places:
        for n, (redis_id, body) in enumerate(conn.hscan_iter(key, count=1000)):
            if n >= scan_limit:
                break
            if needle in body.replace(b" ", b"") and (data := _decode(body)):
                return state, StoredMessage(redis_id.decode(), q_name(queue), data)
    return None


# --- dead letters --------------------------------------------------------------

def record_dead_letter(queue: str, redis_id: str, body: bytes, actor: str, exception: str,
                       pipe: Optional[redis.client.Pipeline] = None) -> Any:
    """File a message the broker has just dead-lettered: store its enriched body
    (traceback, reason) and add it to its (queue, actor, exception) group."""
    group = _group_field(queue, actor, exception)
    keys = [dead_key(queue), dead_messages_key(queue), _jobs_key("dead", "groups"), _group_index_key(group),
            _jobs_key("totals")]
    return (pipe or client()).eval(_RECORD_DEAD, len(keys), *keys, redis_id, body, group)


def add_dead_letter(queue: str, redis_id: str, data: dict[str, Any], dead_at_ms: int,
                    pipe: redis.client.Pipeline) -> None:
    """Write a dead letter as the broker's nack plus `record_dead_letter` would
    (for imports and benchmarks); queued on `pipe`, which the caller executes."""
    group = _group_field(queue, data.get("actor_name", ""), exception_type_of(data))
    pipe.zadd(dead_key(queue), {redis_id: dead_at_ms})
    pipe.hset(dead_messages_key(queue), redis_id, json.dumps(data, separators=(",", ":")))
    pipe.zadd(_group_index_key(group), {redis_id: dead_at_ms})
    pipe.hincrby(_jobs_key("dead", "groups"), group, 1)
    pipe.hincrby(_jobs_key("totals"), "dead", 1)


UNDECODABLE = "DecodeError"


def bury_undecodable(worker_id: str, queue: str, raw: bytes, reason: str) -> Optional[str]:
    """Dead-letter a message this worker fetched but cannot decode; returns its redis id.

    The broker hands workers bodies without ids, so the id is found among the
    worker's own unacked messages of that queue (a handful: its prefetch).
    """
    conn = client()
    stored = f"{namespace()}:{queue}.msgs"  # `queue` as consumed: the delay queue keeps its own hash
    ids = list(conn.smembers(acks_key(worker_id, queue)))
    bodies = conn.hmget(stored, ids) if ids else []
    redis_id = next((i.decode() for i, body in zip(ids, bodies) if body == raw), None)
    if redis_id is None:
        return None
    now_ms = int(time.time() * 1000)
    envelope = json.dumps({
        "queue_name": q_name(queue), "actor_name": "", "args": [], "kwargs": {}, "message_id": redis_id,
        "message_timestamp": now_ms, "undecodable": raw[:20_000].decode("utf-8", "backslashreplace"),
        "options": {"dead_letter_reason": reason[:500], "exception_type": UNDECODABLE, "dead_lettered_at": now_ms},
    }).encode()
    keys = [acks_key(worker_id, queue), stored, dead_key(queue), dead_messages_key(queue)]
    if conn.eval(_BURY, len(keys), *keys, redis_id, envelope, now_ms):
        record_dead_letter(queue, redis_id, envelope, "", UNDECODABLE)
        return redis_id
    return None


def dead_groups(queue: Optional[str] = None, actor: Optional[str] = None,
                exception: Optional[str] = None) -> list[DeadGroup]:
    """Dead-letter counts by (queue, actor, exception type), biggest first, optionally filtered."""
    groups = []
    for raw_field, raw_count in client().hgetall(_jobs_key("dead", "groups")).items():
        q, a, e = raw_field.decode().split(SEP, 2)
        groups.append(DeadGroup(q, a, e, int(raw_count)))
    return filter_groups(sorted(groups, key=lambda g: (-g.count, g.queue_name, g.actor_name, g.exception_type)),
                         queue, actor, exception)


def filter_groups(groups: list[DeadGroup], queue: Optional[str] = None, actor: Optional[str] = None,
                  exception: Optional[str] = None) -> list[DeadGroup]:
    return [g for g in groups if (not queue or g.queue_name == q_name(queue)) and (not actor or g.actor_name == actor)
            and (not exception or g.exception_type == exception)]


def _dead_sources(queue: Optional[str], actor: Optional[str], exception: Optional[str],
                  matching: list[DeadGroup], queues: Optional[list[str]]) -> list[tuple[str, str, Optional[str]]]:
    """The sorted sets to merge for a filter: (key, queue of its members, group field or None)."""
    if queue and not actor and not exception:
        return [(dead_key(queue), q_name(queue), None)]  # the broker's own set: also holds unindexed letters
    if not actor and not exception:
        return [(dead_key(q), q, None) for q in (queues if queues is not None else queue_names())]
    fields = [_group_field(g.queue_name, g.actor_name, g.exception_type) for g in matching]
    return [(_group_index_key(f), f.split(SEP, 1)[0], f) for f in fields]


def _encode_cursor(score: float, queue: str, redis_id: str) -> str:
    return f"{int(score)}:{queue}/{redis_id}"


def _decode_cursor(cursor: Optional[str]) -> Optional[tuple[int, str]]:
    """(score, ref) from a cursor; None (the first page) for a missing or malformed one."""
    score, _, ref = (cursor or "").partition(":")
    if not score.isdigit() or "/" not in ref:
        return None
    return int(score), ref


def page_dead(queue: Optional[str] = None, actor: Optional[str] = None, exception: Optional[str] = None,
              *, cursor: Optional[str] = None, direction: str = "older", limit: int = 50,
              groups: Optional[list[DeadGroup]] = None, queues: Optional[list[str]] = None) -> DeadPage:
    """A page of dead letters, newest first, by keyset pagination over the
    group sets that match the filter: O(groups x page size), whatever the total.
    `groups` and `queues` reuse what the caller already read (dead_groups(), queue_names())."""
    matching = filter_groups(groups if groups is not None else dead_groups(), queue, actor, exception)
    sources = _dead_sources(queue, actor, exception, matching, queues)
    total = sum(g.count for g in matching) if (actor or exception) else sum(
        c.dead for c in all_queue_counts([q for _, q, _ in sources]))
    bound = _decode_cursor(cursor)
    older = direction != "newer" or bound is None
    conn = client()
    pipe = conn.pipeline(transaction=False)
    extra = 64  # members tied on the cursor's millisecond that must be skipped
    for key, _, _ in sources:
        if older:
            pipe.zrevrangebyscore(key, bound[0] if bound else "+inf", "-inf", start=0, num=limit + extra,
                                  withscores=True)
        else:
            pipe.zrangebyscore(key, bound[0], "+inf", start=0, num=limit + extra, withscores=True)
    candidates = []
    groups: dict[str, Optional[str]] = {}
    for (_, q, group), rows in zip(sources, pipe.execute()):
        for member, score in rows:
            item = (int(score), f"{q}/{member.decode()}")
            if bound and (item >= bound if older else item <= bound):
                continue
            candidates.append(item)
            groups[item[1]] = group
    candidates.sort(reverse=older)
    chosen = candidates[: limit + 1]
    has_more = len(chosen) > limit
    chosen = chosen[:limit]
    if not older:
        chosen.reverse()
    messages = _load_dead([ref for _, ref in chosen], {ref: score for score, ref in chosen}, groups)
    if older:
        newer_cursor = _encode_cursor(*_split(chosen[0])) if chosen and bound else None
        older_cursor = _encode_cursor(*_split(chosen[-1])) if chosen and has_more else None
    else:
        newer_cursor = _encode_cursor(*_split(chosen[0])) if chosen and has_more else None
        older_cursor = _encode_cursor(*_split(chosen[-1])) if chosen else None
    return DeadPage(messages, newer_cursor, older_cursor, total)


def _split(item: tuple[int, str]) -> tuple[int, str, str]:
    score, ref = item
    queue, redis_id = ref_parts(ref)
    return score, queue, redis_id


def _load_dead(refs: list[str], scores: dict[str, int], groups: dict[str, Optional[str]]) -> list[StoredMessage]:
    pipe = client().pipeline(transaction=False)
    for ref in refs:
        queue, redis_id = ref_parts(ref)
        pipe.hget(dead_messages_key(queue), redis_id)
    loaded, stale = [], []
    for ref, body in zip(refs, pipe.execute()):
        queue, redis_id = ref_parts(ref)
        data = _decode(body)
        if data is None:
            stale.append(ref)  # expired by the broker's maintenance: drop it from our index
            continue
        loaded.append(StoredMessage(redis_id, queue, data, scores.get(ref)))
    if stale:
        pipe = client().pipeline(transaction=False)
        for ref in stale:
            _queue_take(pipe, ref, groups.get(ref) or _group_field(ref_parts(ref)[0], "", NO_EXCEPTION), b"")
        pipe.execute()
    return loaded


def get_dead(ref: str) -> Optional[StoredMessage]:
    queue, redis_id = ref_parts(ref)
    conn = client()
    score = conn.zscore(dead_key(queue), redis_id)
    data = _decode(conn.hget(dead_messages_key(queue), redis_id))
    if score is None or data is None:
        return None
    return StoredMessage(redis_id, q_name(queue), data, int(score))


def count_dead(queue: str) -> int:
    return client().zcard(dead_key(queue))


def _requeued_body(data: dict[str, Any]) -> bytes:
    """The body a requeued message goes back with: same id, retry count reset."""
    options = dict(data.get("options") or {})
    for key in ("retries", "traceback", "dead_letter_reason", "dead_lettered_at", "exception_type", "eta"):
        options.pop(key, None)
    options["requeued_at"] = int(time.time() * 1000)
    return json.dumps({**data, "queue_name": q_name(data.get("queue_name", "")), "options": options},
                      separators=(",", ":")).encode()


def _take_dead(refs: Iterable[str], *, requeue: bool) -> int:
    """Requeue (or delete) dead letters; returns how many this call handled.
    Letters already handled elsewhere are skipped, not errors."""
    refs = list(refs)
    if not refs:
        return 0
    conn = client()
    pipe = conn.pipeline(transaction=False)
    for ref in refs:
        queue, redis_id = ref_parts(ref)
        pipe.hget(dead_messages_key(queue), redis_id)
    bodies = pipe.execute()
    pipe = conn.pipeline(transaction=False)
    for ref, body in zip(refs, bodies):
        queue, redis_id = ref_parts(ref)
        data = _decode(body) or {}
        if requeue and (not data or "undecodable" in data):
            continue  # nothing a worker could run: it stays where it is, for deletion
        group = _group_field(queue, data.get("actor_name", ""), exception_type_of(data))
        _queue_take(pipe, ref, group, _requeued_body(data) if requeue else b"")
    return sum(pipe.execute())


def _queue_take(pipe: redis.client.Pipeline, ref: str, group: str, new_body: bytes) -> None:
    queue, redis_id = ref_parts(ref)
    keys = [dead_key(queue), dead_messages_key(queue), _jobs_key("dead", "groups"),
            _group_index_key(group), queue_key(queue), messages_key(queue)]
    pipe.eval(_TAKE_DEAD, len(keys), *keys, redis_id, group, new_body)


def requeue_dead(refs: Iterable[str]) -> int:
    """Put dead letters back at the front of their queues, same message id, retries reset."""
    return _take_dead(refs, requeue=True)


def delete_dead(refs: Iterable[str]) -> int:
    return _take_dead(refs, requeue=False)


def refs_matching(queue: Optional[str] = None, actor: Optional[str] = None, exception: Optional[str] = None,
                  *, batch: int = 500) -> Iterator[list[str]]:
    """Every dead letter matching a filter, in batches (for 'requeue/delete all matching')."""
    cursor = None
    while True:
        page = page_dead(queue, actor, exception, cursor=cursor, limit=batch)
        if not page.messages:
            return
        yield [m.ref for m in page.messages]
        if page.older is None:
            return
        cursor = page.older


def reindex_dead_letters() -> int:
    """Rebuild the group index and counts from the broker's dead-letter sets (O(N); a repair tool)."""
    conn = client()
    dead_total = conn.hget(_jobs_key("totals"), "dead")  # "ever dead-lettered": refiling adds none
    for key in conn.scan_iter(match=_jobs_key("dead", "*"), count=1000):
        conn.delete(key)
    filed = 0
    for queue in queue_names():
        pipe = conn.pipeline(transaction=False)
        for redis_id, body in conn.hscan_iter(dead_messages_key(queue), count=1000):
            data = _decode(body) or {}
            record_dead_letter(queue, redis_id.decode(), body, data.get("actor_name", ""),
                               exception_type_of(data), pipe=pipe)
            if len(pipe) >= 1000:
                filed += sum(pipe.execute())
        filed += sum(pipe.execute())
    conn.hset(_jobs_key("totals"), "dead", int(dead_total or 0))
    return filed


# --- workers and statistics ----------------------------------------------------

def publish_worker_stats(worker_id: str, info: dict[str, Any], running: Optional[dict[str, dict]],
                         counts: dict[int, tuple[int, int]], periodic: dict[str, dict]) -> None:
    """One pipeline with what a worker process did since its last publish: its
    registration (`seen_ms` doubles as a heartbeat), the jobs it runs now (None:
    unchanged), processed/failed counts by epoch minute, and periodic last runs."""
    pipe = client().pipeline(transaction=False)
    pipe.hset(_jobs_key("workers"), worker_id, json.dumps({**info, "seen_ms": int(time.time() * 1000)}))
    if running is not None:
        pipe.delete(_jobs_key("running", worker_id))
        if running:
            pipe.hset(_jobs_key("running", worker_id), mapping={k: json.dumps(v) for k, v in running.items()})
    for minute, (processed, failed) in counts.items():
        key = _jobs_key("minute", str(minute))
        pipe.hincrby(key, "processed", processed)
        pipe.hincrby(key, "failed", failed)
        pipe.expire(key, MINUTE_TTL_S)
    if counts:
        pipe.hincrby(_jobs_key("totals"), "processed", sum(p for p, _ in counts.values()))
        pipe.hincrby(_jobs_key("totals"), "failed", sum(f for _, f in counts.values()))
    if periodic:
        pipe.hset(_jobs_key("periodic"), mapping={k: json.dumps(v) for k, v in periodic.items()})
    pipe.execute()


def unregister_worker(worker_id: str) -> None:
    pipe = client().pipeline(transaction=False)
    pipe.hdel(_jobs_key("workers"), worker_id)
    pipe.delete(_jobs_key("running", worker_id))
    pipe.execute()


def totals() -> dict[str, int]:
    raw = client().hgetall(_jobs_key("totals"))
    return {k: int(raw.get(k.encode(), 0)) for k in ("processed", "failed", "dead")}


def throughput(minutes: int = 60) -> list[tuple[int, int, int]]:
    """(epoch minute, processed, failed) for each of the last `minutes` minutes, oldest first."""
    now_minute = int(time.time() // 60)
    span = range(now_minute - minutes + 1, now_minute + 1)
    pipe = client().pipeline(transaction=False)
    for minute in span:
        pipe.hmget(_jobs_key("minute", str(minute)), "processed", "failed")
    return [(m, int(p or 0), int(f or 0)) for m, (p, f) in zip(span, pipe.execute())]


def periodic_runs() -> dict[str, dict[str, Any]]:
    return {k.decode(): json.loads(v) for k, v in client().hgetall(_jobs_key("periodic")).items()}


def workers(forget_after_ms: int = 3_600_000) -> list[WorkerInfo]:
    """Registered worker processes, newest heartbeat first.

    The broker's heartbeat set also holds every process that merely enqueued
    (web, scheduler), so only processes that registered as workers are listed.
    Registrations silent for `forget_after_ms` (killed, never shut down) are dropped.
    """
    conn = client()
    beats = {k.decode(): int(v) for k, v in conn.zrange(heartbeats_key(), 0, -1, withscores=True)}
    infos = {k.decode(): json.loads(v) for k, v in conn.hgetall(_jobs_key("workers")).items()}
    ids = sorted(infos, key=lambda w: -beats.get(w, 0))
    pipe = conn.pipeline(transaction=False)
    for worker_id in ids:
        pipe.hvals(_jobs_key("running", worker_id))
    running = pipe.execute()
    timeout = getattr(_broker(), "heartbeat_timeout", 60_000)
    now_ms = int(time.time() * 1000)
    result = []
    for worker_id, jobs in zip(ids, running):
        info = infos[worker_id]
        beat = max(beats.get(worker_id, 0), info.get("seen_ms", 0))
        if now_ms - beat > forget_after_ms:
            unregister_worker(worker_id)
            continue
        result.append(WorkerInfo(
            worker_id=worker_id, host=info.get("host", "?"), pid=info.get("pid"), queues=info.get("queues", []),
            started_at_ms=info.get("started_ms"), last_heartbeat_ms=beat, alive=now_ms - beat < timeout,
            running=sorted((json.loads(j) for j in jobs), key=lambda j: j.get("started_ms", 0)),
        ))
    return result
