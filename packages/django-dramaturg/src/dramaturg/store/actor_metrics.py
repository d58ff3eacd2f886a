"""Per-actor metrics: processed, failed, retried and dead counts and a runtime histogram per
actor, by minute (kept two hours), by hour (kept two days) and since the start; the counts and
runtime sums by day of the project's time zone (kept DAY_KEEP_DAYS: the history page, per actor and,
through each actor's queue, per queue); and the code versions workers booted with (deploy markers).

Workers add their counts in memory (dramaturg.middleware.stats.JobStats) and this module writes
them with the once-a-second publish, in the same pipeline: no Redis round trip per job.
Fields of each hash are '<actor>|<name>': p processed, f failed, r retried, d dead,
s runtime sum (ms), b<i> runtime observations in bucket i (not cumulative).
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import redis

from dramaturg.timeutil import from_ms, now_ms

from . import keys
from .connection import client, text

# Upper bounds (ms) of the runtime buckets; a last, unbounded bucket follows.
BUCKETS_MS: tuple[int, ...] = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000)
COUNTS = ("p", "f", "r", "d")  # processed, failed, retried, dead
MINUTE_TTL_S = 2 * 3600
HOUR_TTL_S = 2 * 86_400
DAY_KEEP_DAYS = 90
DAY_TTL_S = (DAY_KEEP_DAYS + 1) * 86_400
DAY_FIELDS = (*COUNTS, "s")  # counts and runtime sum; the histogram stays hourly
SEP = "|"


def bucket_of(duration_ms: float) -> int:
    """Index of the runtime bucket `duration_ms` falls in (len(BUCKETS_MS) for the unbounded one)."""
    return bisect.bisect_left(BUCKETS_MS, duration_ms)


@dataclass
class ActorCounts:
    """What one actor did in one period (in memory in a worker, or read back from Redis)."""

    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    runtime_sum_ms: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))

    @property
    def finished(self) -> int:
        """Attempts that ran to an end (succeeded or raised): the histogram's count."""
        return sum(self.buckets)

    def observe(self, duration_ms: float, failed: bool) -> None:
        if failed:
            self.failed += 1
        else:
            self.processed += 1
        self.runtime_sum_ms += round(duration_ms)
        self.buckets[bucket_of(duration_ms)] += 1

    def observe_many(self, durations_ms: list[float], failed: bool) -> None:
        """`observe` each of `durations_ms`, all with the same outcome (in fewer Python steps)."""
        if failed:
            self.failed += len(durations_ms)
        else:
            self.processed += len(durations_ms)
        self.runtime_sum_ms += sum(map(round, durations_ms))
        buckets = self.buckets
        for i in map(bisect.bisect_left, itertools.repeat(BUCKETS_MS), durations_ms):
            buckets[i] += 1

    def add(self, other: ActorCounts) -> None:
        self.processed += other.processed
        self.failed += other.failed
        self.retried += other.retried
        self.dead += other.dead
        self.runtime_sum_ms += other.runtime_sum_ms
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]

    def fields(self) -> dict[str, int]:
        """The non-zero hash fields (without the actor prefix)."""
        values = {"p": self.processed, "f": self.failed, "r": self.retried, "d": self.dead, "s": self.runtime_sum_ms}
        values.update({f"b{i}": n for i, n in enumerate(self.buckets)})
        return {k: v for k, v in values.items() if v}

    def quantile(self, q: float) -> float | None:
        """The q-quantile of runtime in ms, interpolated within its bucket (as Prometheus'
        histogram_quantile); None with no observation. In the unbounded bucket: its lower bound."""
        total = self.finished
        if not total:
            return None
        rank = q * total
        seen = 0
        for i, count in enumerate(self.buckets):
            if seen + count >= rank and count:
                lower = BUCKETS_MS[i - 1] if i else 0
                if i >= len(BUCKETS_MS):
                    return float(lower)
                return lower + (BUCKETS_MS[i] - lower) * (rank - seen) / count
            seen += count
        return float(BUCKETS_MS[-1])

    @property
    def mean_ms(self) -> float | None:
        return self.runtime_sum_ms / self.finished if self.finished else None


def parse(raw: Mapping[Any, Any], only: str | None = None) -> dict[str, ActorCounts]:
    """A metrics hash ('<actor>|<field>' -> n) as counts per actor (only `only`'s if given)."""
    result: dict[str, ActorCounts] = defaultdict(ActorCounts)
    for raw_key, raw_value in raw.items():
        actor, _, name = raw_key.decode().rpartition(SEP)
        if only is not None and actor != only:
            continue
        counts = result[actor]
        value = int(raw_value)
        if name.startswith("b") and name[1:].isdigit() and int(name[1:]) < len(counts.buckets):
            counts.buckets[int(name[1:])] += value
        elif name == "s":
            counts.runtime_sum_ms += value
        elif name in COUNTS:
            attr = {"p": "processed", "f": "failed", "r": "retried", "d": "dead"}[name]
            setattr(counts, attr, getattr(counts, attr) + value)
    return dict(result)


# --- writing (the worker's publish) ------------------------------------------


def add_to_pipeline(pipe: redis.client.Pipeline, by_minute: Mapping[int, Mapping[str, ActorCounts]]) -> None:
    """Queue on `pipe` the counts of each (minute, actor): into the minute, the hour and the totals."""
    touched_minutes: set[int] = set()
    touched_hours: set[int] = set()
    touched_days: set[int] = set()
    for minute, actors in by_minute.items():
        day = local_day(minute * 60_000)
        for actor, counts in actors.items():
            for name, value in counts.fields().items():
                field_name = f"{actor}{SEP}{name}"
                pipe.hincrby(keys.actor_minute_key(minute), field_name, value)
                pipe.hincrby(keys.actor_hour_key(minute // 60), field_name, value)
                pipe.hincrby(keys.actor_totals_key(), field_name, value)
                if name in DAY_FIELDS:
                    pipe.hincrby(keys.actor_day_key(day), field_name, value)
            touched_minutes.add(minute)
            touched_hours.add(minute // 60)
            touched_days.add(day)
    for minute in touched_minutes:
        pipe.expire(keys.actor_minute_key(minute), MINUTE_TTL_S)
    for hour in touched_hours:
        pipe.expire(keys.actor_hour_key(hour), HOUR_TTL_S)
    for day in touched_days:
        pipe.expire(keys.actor_day_key(day), DAY_TTL_S)


def local_day(at_ms: int) -> int:
    """The day (its proleptic ordinal, date.toordinal()) `at_ms` falls on in the project's time zone."""
    local = from_ms(at_ms)
    assert local is not None
    return local.date().toordinal()


def days(n: int = DAY_KEEP_DAYS, *, now: int | None = None) -> list[tuple[date, dict[str, ActorCounts]]]:
    """The last `n` days, oldest first, each with its counts per actor (runtime sums, no histogram).
    One pipelined round trip."""
    today = local_day(now if now is not None else now_ms())
    span = range(today - n + 1, today + 1)
    pipe = client().pipeline(transaction=False)
    for day in span:
        pipe.hgetall(keys.actor_day_key(day))
    return [(date.fromordinal(day), parse(raw)) for day, raw in zip(span, pipe.execute(), strict=True)]


def record_version(version: str, at_ms: int | None = None, pipe: redis.client.Pipeline | None = None) -> None:
    """Note that a worker booted with code `version` (the first boot of each version is its deploy marker)."""
    (pipe or client()).zadd(keys.versions_key(), {version: at_ms if at_ms is not None else now_ms()}, nx=True)


# --- reading (pages, Prometheus) ---------------------------------------------


@dataclass(frozen=True)
class Deploy:
    version: str
    at_ms: int


def deploys(since_ms: int = 0) -> list[Deploy]:
    """Code versions first seen at or after `since_ms`, oldest first."""
    rows = cast(
        list[tuple[bytes, float]], client().zrangebyscore(keys.versions_key(), since_ms, "+inf", withscores=True)
    )
    return [Deploy(text(v), int(s)) for v, s in rows]


def current_version() -> str | None:
    """The newest version any worker has booted with."""
    rows = cast(list[bytes], client().zrevrange(keys.versions_key(), 0, 0))
    return text(rows[0]) if rows else None


@dataclass(frozen=True)
class Period:
    start_ms: int
    counts: dict[str, ActorCounts]


def periods(window: str, *, actor: str | None = None, now: int | None = None) -> list[Period]:
    """The last hour by minute ('hour': 60 periods) or the last day by hour ('day': 24), oldest first,
    each with its counts per actor (or only `actor`'s). One pipelined round trip."""
    now = now if now is not None else now_ms()
    key_of: Callable[[int], str]
    if window == "day":
        step, key_of, n = 3_600_000, keys.actor_hour_key, 24
    else:
        step, key_of, n = 60_000, keys.actor_minute_key, 60
    last = now // step
    span = list(range(last - n + 1, last + 1))
    pipe = client().pipeline(transaction=False)
    fields = _fields_of(actor) if actor is not None else []
    for slot in span:
        if actor is None:
            pipe.hgetall(key_of(slot))
        else:
            pipe.hmget(key_of(slot), fields)  # one actor's fields only
    if actor is None:
        return [Period(slot * step, parse(raw)) for slot, raw in zip(span, pipe.execute(), strict=True)]
    return [
        Period(slot * step, parse({f.encode(): v for f, v in zip(fields, values, strict=True) if v is not None}))
        for slot, values in zip(span, pipe.execute(), strict=True)
    ]


def _fields_of(actor: str) -> list[str]:
    names = [*COUNTS, "s", *(f"b{i}" for i in range(len(BUCKETS_MS) + 1))]
    return [f"{actor}{SEP}{name}" for name in names]


def totals_over(periods_: Iterable[Period]) -> dict[str, ActorCounts]:
    """Counts per actor added up over periods."""
    result: dict[str, ActorCounts] = defaultdict(ActorCounts)
    for period in periods_:
        for actor, counts in period.counts.items():
            result[actor].add(counts)
    return dict(result)


def all_time() -> dict[str, ActorCounts]:
    """Counts per actor since the start (the Prometheus counters and histogram)."""
    return parse(client().hgetall(keys.actor_totals_key()))


def summary_rows(window: str = "hour") -> list[dict[str, Any]]:
    """One row per actor over the window: counts, p50/p95/p99 (ms) and a per-period series of
    attempts for a sparkline; slowest p95 first."""
    got = periods(window)
    totals = totals_over(got)
    rows: list[dict[str, Any]] = []
    for actor, counts in totals.items():
        rows.append(
            {
                "actor": actor,
                "counts": counts,
                "p50": counts.quantile(0.5),
                "p95": counts.quantile(0.95),
                "p99": counts.quantile(0.99),
                "series": [p.counts[actor].finished if actor in p.counts else 0 for p in got],
            }
        )
    rows.sort(key=lambda r: (-(r["p95"] or 0.0), str(r["actor"])))
    return rows
