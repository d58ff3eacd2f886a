"""Key names, and the layout they follow.

Dramatiq's own keys (see dramatiq/brokers/redis/dispatch.lua):
  <ns>:<queue>                 list of redis message ids, ready to fetch (LPOP side is the front)
  <ns>:<queue>.msgs            hash id -> encoded message (ready + in flight)
  <ns>:<queue>.DQ / .DQ.msgs   the same for delayed messages (retries, ETAs)
  <ns>:<queue>.XQ              zset of dead-lettered ids by time of death (ms)
  <ns>:<queue>.XQ.msgs         hash id -> encoded message
  <ns>:__acks__.<worker>.<q>   set of ids a worker fetched and has not acked
  <ns>:__heartbeats__          zset worker id -> last heartbeat (ms)

Ours, under <ns>:__jobs__: (kept by dramaturg.middleware, dramaturg.broker and the store):
  queues                       set of queue names ever declared (the queue registry)
  dead:groups                  hash "queue|actor|exception" -> dead count
  dead:<queue>|<actor>|<exc>   zset redis id -> time of death, one per group
  preview:<queue>              hash redis id -> small JSON summary of a dead letter (list pages)
  totals                       hash processed / failed / dead
  minute:<epoch minute>        hash processed / failed, kept two hours
  workers                      hash worker id -> JSON (host, pid, queues, started)
  running:<worker id>          hash message id -> JSON (actor, queue, started)
  periodic                     hash actor -> JSON (last run, outcome)
  limit:<name>                 rate-limiter windows
  paused                       set of paused queue names (consumers do not fetch from them)
  actors:m:<epoch minute>      hash "<actor>|<field>" -> count, kept two hours (per-actor metrics)
  actors:h:<epoch hour>        the same per hour, kept two days
  actors:d:<day ordinal>       hash "<actor>|<p,f,r,d,s>" -> count, by day of TIME_ZONE, kept 91 days (history)
  actors:total                 the same since the start (Prometheus counters)
  versions                     zset code version -> when a worker first booted with it (deploy markers)
  recent:meta                  hash: the record of finished messages' current slot and its count
  recent:slot:<n>              hash message id -> JSON (outcome, duration, worker), a ring of 10 slots
  task:<result id>             hash: a django.tasks result (status, times, task, args, return value); TTL
  task:<result id>:workers     list of the worker ids that ran it, one per attempt; same TTL
  task:<result id>:errors      list of JSON errors (exception class path, traceback), one per failed attempt
  attempts:<message id>        list of JSON [retries, at ms, error line, worker], one per failed attempt
  periodic:disabled            set of periodic actors the scheduler skips (an operator disabled them)
  quiet                        set of worker ids told to stop taking work
  wake:<queue as consumed>     list of wake-up tokens: each enqueue/requeue onto the queue pushes one
                               (bounded), an idle consumer BLPOPs it instead of polling

Every read a page makes costs O(page size): counts come from counters, pages
from sorted sets.
"""

from __future__ import annotations

import re

import dramatiq
from dramatiq.common import q_name

# Dramatiq's rule for queue names (dramatiq.actor._queue_name_re, checked by tests/upstream/test_pins.py).
QUEUE_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]*")
SEP = "|"


def namespace() -> str:
    """The broker's key prefix (`DRAMATIQ_NAMESPACE`)."""
    return dramatiq.get_broker().namespace  # type: ignore[attr-defined]  # the Redis broker's


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


def dead_messages_pattern() -> str:
    return f"{namespace()}:*.XQ.msgs"


def queue_of_dead_messages_key(key: str) -> str:
    return q_name(key[len(namespace()) + 1 : -len(".XQ.msgs")])


def consumed_queue_key(queue: str, ns: str | None = None) -> str:
    """The list of a queue *as consumed* (`<q>.DQ` is its own); `ns` for a broker that is not the global one."""
    return f"{ns if ns is not None else namespace()}:{queue}"


def consumed_messages_key(queue: str, ns: str | None = None) -> str:
    """The hash of a queue *as consumed*: the delay queue `<q>.DQ` keeps its own."""
    return f"{consumed_queue_key(queue, ns)}.msgs"


def acks_key(worker_id: str, queue: str, ns: str | None = None) -> str:
    return f"{ns if ns is not None else namespace()}:__acks__.{worker_id}.{queue}"


def heartbeats_key(ns: str | None = None) -> str:
    return f"{ns if ns is not None else namespace()}:__heartbeats__"


def wake_key(queue: str, ns: str | None = None) -> str:
    """Wake-up tokens of a queue as consumed (`<q>.DQ` has its own): pushed with each message put on it."""
    return f"{ns if ns is not None else namespace()}:__jobs__:wake:{queue}"


def jobs_key(*parts: str) -> str:
    return f"{namespace()}:__jobs__:" + ":".join(parts)


def rate_limit_key(name: str) -> str:
    return jobs_key("limit", name)


def queues_key(ns: str | None = None) -> str:
    """The queue registry; `ns` for a broker that is not (yet) the global one."""
    return f"{ns if ns is not None else namespace()}:__jobs__:queues"


def groups_key() -> str:
    return jobs_key("dead", "groups")


def group_field(queue: str, actor: str, exception: str) -> str:
    """The field of a dead-letter group in `dead:groups`: 'queue|actor|exception'."""
    return SEP.join((q_name(queue), actor, exception))


def split_group_field(field: str) -> tuple[str, str, str]:
    queue, actor, exception = field.split(SEP, 2)
    return queue, actor, exception


def group_index_key(field: str) -> str:
    return jobs_key("dead", field)


def group_index_pattern() -> str:
    """Matches `dead:groups` and every group index (for a full rebuild)."""
    return jobs_key("dead", "*")


def preview_key(queue: str) -> str:
    return jobs_key("preview", q_name(queue))


def preview_pattern() -> str:
    return jobs_key("preview", "*")


def totals_key() -> str:
    return jobs_key("totals")


def minute_key(minute: int) -> str:
    return jobs_key("minute", str(minute))


def workers_key() -> str:
    return jobs_key("workers")


def running_key(worker_id: str) -> str:
    return jobs_key("running", worker_id)


def periodic_key() -> str:
    return jobs_key("periodic")


def paused_key() -> str:
    return jobs_key("paused")


def actor_minute_key(minute: int) -> str:
    return jobs_key("actors", "m", str(minute))


def actor_hour_key(hour: int) -> str:
    return jobs_key("actors", "h", str(hour))


def actor_day_key(day: int) -> str:
    """A day's per-actor counts; `day` is the date's ordinal (datetime.date.toordinal) in TIME_ZONE."""
    return jobs_key("actors", "d", str(day))


def actor_totals_key() -> str:
    return jobs_key("actors", "total")


def versions_key() -> str:
    return jobs_key("versions")


def recent_meta_key() -> str:
    return jobs_key("recent", "meta")


def recent_slot_prefix() -> str:
    return jobs_key("recent", "slot") + ":"


def recent_slot_key(slot: int) -> str:
    return f"{recent_slot_prefix()}{slot}"


def delayed_queue_key(queue: str) -> str:
    """The delay queue's list of ids not yet fetched by a worker (`<q>.DQ`)."""
    return f"{queue_key(queue)}.DQ"


def task_result_key(result_id: str) -> str:
    return jobs_key("task", result_id)


def task_workers_key(result_id: str) -> str:
    return jobs_key("task", result_id, "workers")


def task_errors_key(result_id: str) -> str:
    return jobs_key("task", result_id, "errors")


def attempts_key(message_id: str) -> str:
    return jobs_key("attempts", message_id)


def periodic_disabled_key() -> str:
    return jobs_key("periodic", "disabled")


def quiet_workers_key(ns: str | None = None) -> str:
    """Workers told to stop taking work (a graceful stop); `ns` for a broker that is not the global one."""
    return f"{ns if ns is not None else namespace()}:__jobs__:quiet"
