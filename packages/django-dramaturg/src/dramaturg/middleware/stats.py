"""Workers, what they run, throughput and per-actor metrics: the bookkeeping the dashboard reads."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict, deque
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.message import Message
from dramatiq.middleware import Middleware

from dramaturg import conf
from dramaturg.broker import message_of
from dramaturg.masking import one_line_error
from dramaturg.store import actor_metrics, recent, stats
from dramaturg.store.actor_metrics import ActorCounts
from dramaturg.timeutil import now_ms
from dramaturg.versions import code_version

logger = logging.getLogger(__name__)


def _worker_id(broker: Broker) -> str:
    return getattr(broker, "broker_id", f"{socket.gethostname()}:{os.getpid()}")


# Set on a MessageProxy whose run failed or was skipped, read when it is acked (a retry was
# enqueued) or nacked (dead): (epoch s of its start, or None if not seen; runtime ms; failed; skipped).
_RUN = "_jobs_stats_run"
ACKED, NACKED = 0, 1


class JobStats(Middleware):
    """Workers, what they run, throughput, periodic runs, per-actor counts and runtime
    histograms, and a record of recently finished messages, for the dashboard.

    Kept in memory per worker process and published by a background thread
    once a second in one pipeline, so a job costs no Redis round trip of its
    own. The same publish re-registers the worker, so its entry comes back
    after a Redis restart. A failed publish keeps the counts for the next one.

    A job's own hooks only note facts (a tuple in a dict or a queue: no lock, no counting, no
    encoding); the publish turns the attempts settled since the last one into counts, runtime
    histograms and the record (bench/operator_view.py --drain measures what this costs). An
    attempt is settled once its outcome is known: when it ends without error (done, to be
    acked), or, if it failed, when it is acked (a retry was enqueued) or nacked (dead-lettered).
    """

    FLUSH_EVERY_S = 1.0
    MAX_PENDING = 50_000  # finished records awaiting a publish that keeps failing

    def __init__(self) -> None:
        self._publishing = threading.Lock()  # one publish at a time (the thread's, or boot's and shutdown's)
        self._stop = threading.Event()
        self._broker: Broker | None = None
        self._worker_id: str | None = None
        self._info: dict = {}
        # Written by worker and consumer threads (dict and deque operations are atomic), read by the publish.
        # id -> (message, epoch s, monotonic s, the worker thread's name)
        self._running: dict[str, tuple[Message, float, float, str]] = {}
        self._running_changed = False
        # (message id, actor, queue, retries, its _RUN, ACKED/NACKED): plain values, so that the message
        # itself is freed at once (a queue of messages kept for a second would cost the garbage collector).
        self._settled: deque[tuple[str, str, str, Any, tuple | None, int]] = deque()
        # The publish's own: what it has not managed to send yet, and what it knows of actors.
        self._counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # minute -> [processed, failed]
        self._periodic: dict[str, dict] = {}
        self._actors: dict[int, dict[str, ActorCounts]] = defaultdict(lambda: defaultdict(ActorCounts))
        self._finished_records: list[tuple] = []  # recent.FIELDS, less the worker's
        self._is_periodic: dict[str, bool] = {}
        # (message id, retries, ended ms, error line) of each attempt that raised: its detail page lists them.
        self._failures: deque[tuple[str, int, int, str]] = deque()

    def after_worker_boot(self, broker: Broker, worker) -> None:
        self._broker = broker
        self._worker_id = _worker_id(broker)
        started = now_ms()
        self._info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": sorted(worker.consumer_whitelist or broker.get_declared_queues()),
            "started_ms": started,
            "version": code_version(),
            "threads": getattr(worker, "worker_threads", None),
        }
        try:
            actor_metrics.record_version(self._info["version"], started)
        except Exception as error:
            logger.warning("Code version not recorded: %s", error)
        self.flush()
        # A stop of its own per boot: a worker started again in the same process (an embedding test suite's
        # in-process workers) publishes again; the previous boot's thread stays stopped.
        self._stop = stop = threading.Event()
        threading.Thread(target=self._publish_every_second, args=(stop,), daemon=True, name="JobStats").start()

    def _publish_every_second(self, stop: threading.Event) -> None:
        while not stop.wait(self.FLUSH_EVERY_S):
            try:
                with self._publishing:
                    if not stop.is_set():  # the shutdown's own publish and unregistering come last
                        self._publish()
            except Exception:  # a bug, not Redis (flush keeps what it could not send): go on publishing
                logger.exception("Job statistics not published")

    def after_worker_shutdown(self, broker: Broker, worker) -> None:
        """The worker stopped cleanly, its jobs finished: their figures published, then it leaves the
        console's list at once (a worker that vanished without this is "lost" after the heartbeat timeout)."""
        self._stop.set()
        if self._worker_id is None:
            return
        with self._publishing:
            self._publish()
            try:
                stats.unregister_worker(self._worker_id)
            except Exception as error:
                logger.warning("Worker not unregistered: %s", error)

    # --- a job's hooks: note, nothing more --------------------------------------------------

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        m = message_of(message)  # the message itself: each attribute through the proxy costs a __getattr__
        self._running[m.message_id] = (m, time.time(), time.monotonic(), threading.current_thread().name)
        self._running_changed = True

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result=None, exception: BaseException | None = None
    ) -> None:
        m = message_of(message)
        run = self._ended(m, exception is not None, False)
        if exception is not None:  # its error, one masked line, for the finished record and the attempt log (rare)
            error = one_line_error(exception)
            run = (*run, error)
            retries = m.options.get("retries", 0)
            self._failures.append((m.message_id, retries if type(retries) is int else 0, now_ms(), error))
        if exception is None and not message.failed:  # done, to be acked: settled now, the common case
            self._settled.append((m.message_id, m.actor_name, m.queue_name, m.options.get("retries", 0), run, ACKED))
        else:
            setattr(message, _RUN, run)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        setattr(message, _RUN, self._ended(message_of(message), message.failed, True))

    def _ended(self, m: Message, failed: bool, skipped: bool) -> tuple:
        begun = self._running.pop(m.message_id, None)
        self._running_changed = True
        if begun is None:
            return (None, 0.0, failed, skipped)
        return (begun[1], (time.monotonic() - begun[2]) * 1000, failed, skipped)

    def after_ack(self, broker: Broker, message: MessageProxy) -> None:
        run = vars(message).pop(_RUN, None)  # vars: the proxy would ask the message
        if run is not None:  # else done and settled already (or a delayed message moved to its queue)
            self._settle(message, run, ACKED)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        self._settle(message, vars(message).pop(_RUN, None), NACKED)

    def _settle(self, message: MessageProxy, run: tuple | None, how: int) -> None:
        m = message_of(message)
        self._settled.append((m.message_id, m.actor_name, m.queue_name, m.options.get("retries", 0), run, how))

    # --- the publish --------------------------------------------------------------------------

    def _take_settled(self) -> None:
        """Count the attempts settled since the last publish, and note their records."""
        settled, records = self._settled, self._finished_records
        keep = min(self.MAX_PENDING, conf.settings.CONSOLE.RECENT_LIMIT) - len(records)
        now = time.time()
        runtimes: defaultdict[tuple[int, str, bool], list[float]] = defaultdict(list)  # (minute, actor, failed)
        key: tuple[int, str, bool] | None = None  # the previous attempt's: most are alike
        for _ in range(len(settled)):  # popleft: attempts settled meanwhile wait for the next publish
            message_id, actor, queue, retries, run, how = settled.popleft()
            if run is None:  # settled without a run seen ending (nacked before it ran): no runtime
                started = ended = now
                duration_ms, failed, skipped, error = 0.0, how == NACKED, True, []
            else:
                started, duration_ms, failed, skipped, *error = run
                if started is None:  # its start was not seen: no runtime
                    started = now
                ended = started + duration_ms / 1000
                if key != (minute := int(ended // 60), actor, failed):
                    key = (minute, actor, failed)
                    ran, periodic = runtimes[key], self._periodic_actor(actor)
                ran.append(duration_ms)
                if periodic and not skipped:
                    self._periodic[actor] = {
                        "last_run_ms": int(ended * 1000),
                        "outcome": "failed" if failed else "processed",
                    }
            if how == NACKED:
                self._actors[int(ended // 60)][actor].dead += 1
                outcome = recent.DEAD
            elif failed:
                self._actors[int(ended // 60)][actor].retried += 1
                outcome = recent.RETRIED
            else:
                outcome = recent.DONE
            if keep > 0:
                keep -= 1
                records.append(
                    (
                        message_id,
                        actor,
                        queue,
                        outcome,
                        retries if type(retries) is int else 0,
                        int(started * 1000),
                        int(ended * 1000),
                        duration_ms,
                        *error,  # a failed attempt's error, one masked line
                    )
                )
        for (minute, actor, failed), ran in runtimes.items():
            self._counts[minute][failed] += len(ran)
            self._actors[minute][actor].observe_many(ran, failed)

    def _periodic_actor(self, name: str) -> bool:
        periodic = self._is_periodic.get(name)
        if periodic is None:
            actor = self._broker.actors.get(name) if self._broker is not None else None
            periodic = self._is_periodic[name] = actor is not None and "periodic" in actor.options
        return periodic

    def flush(self) -> None:
        if self._worker_id is None:
            return
        with self._publishing:
            self._publish()

    def _publish(self) -> None:
        assert self._worker_id is not None
        self._take_settled()
        failures = [self._failures.popleft() for _ in range(len(self._failures))]
        running = None
        if self._running_changed:
            self._running_changed = False  # before the copy: a change made after it is published next time
            running = {
                message_id: {
                    "message_id": message_id,
                    "actor": m.actor_name,
                    "queue": m.queue_name,
                    "started_ms": int(started * 1000),
                    "thread": thread,
                }
                for message_id, (m, started, _, thread) in self._running.copy().items()
            }
        try:
            stats.publish_worker_stats(
                self._worker_id,
                self._info,
                running,
                {m: (c[0], c[1]) for m, c in self._counts.items()},
                self._periodic,
                actors=self._actors,
                finished=self._finished_records,
                recent_limit=conf.settings.CONSOLE.RECENT_LIMIT,
                recent_max_age_ms=conf.settings.CONSOLE.RECENT_MAX_AGE_S * 1000,
                failures=failures,
            )
        except Exception as error:  # kept, and added to, for the next publish
            logger.warning("Job statistics not published (kept for the next try): %s", error)
            self._failures.extendleft(reversed(failures))
            if running is not None:
                self._running_changed = True
            return
        self._counts = defaultdict(lambda: [0, 0])
        self._periodic = {}
        self._actors = defaultdict(lambda: defaultdict(ActorCounts))
        self._finished_records = []
