"""A report run as a workflow: its chunk jobs, each one's state, retries and dead letters.

Report state comes from this app's models (the database is the run's record); where each
unfinished chunk's message is comes from Redis, through the job platform's store. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from dramaturg import conf
from dramaturg.store import lookup, stats
from dramaturg.store.dead_letters import DeadLetterSummary
from dramaturg.store.messages import StoredMessage

from .models import Report, ReportChunk

CHUNK_ACTOR = "compute_chunk"


@dataclass
class ChunkState:
    index: int
    first_user_id: int
    end_user_id: int
    state: str = "not found"  # done, running, queued, retrying, dead, or not found (lost, or between two states)
    retries: int = 0
    due_ms: int | None = None
    running: dict | None = None
    message: StoredMessage | None = None
    dead: list[DeadLetterSummary] = field(default_factory=list)


@dataclass(frozen=True)
class ReportRun:
    report: Report
    chunks: list[ChunkState]
    other_messages: list[tuple[str, StoredMessage]]  # build/merge messages of the run, with their state
    dead_others: list[DeadLetterSummary]
    scanned: int

    @property
    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for chunk in self.chunks:
            result[chunk.state] = result.get(chunk.state, 0) + 1
        return result


def _chunk_index(message_args: list, report_id: int, run_id: str) -> int | None:
    if len(message_args) == 3 and message_args[0] == report_id and str(message_args[1]) == run_id:
        return int(message_args[2])
    return None


def report_run(report: Report) -> ReportRun:
    """Where the current run of `report` stands, chunk by chunk."""
    run_id = str(report.run_id) if report.run_id else ""
    rows = ReportChunk.objects.filter(report=report, run_id=run_id).order_by("index") if run_id else []
    chunks = {
        c.index: ChunkState(c.index, c.first_user_id, c.end_user_id, state="done" if c.done else "not found")
        for c in rows
    }
    if not run_id:
        return ReportRun(report, [], [], [], 0)
    found = lookup.messages_mentioning(settings.DRAMATIQ_QUEUE_REPORTS, run_id)
    workers = stats.workers(conf.heartbeat_timeout_ms())
    running = lookup.running_message_ids(w.worker_id for w in workers if w.alive)
    others: list[tuple[str, StoredMessage]] = []
    for state, messages in (("queued", found.queued), ("retrying", found.delayed)):
        for message in messages:
            index = _chunk_index(message.args, report.pk, run_id) if message.actor_name == CHUNK_ACTOR else None
            now_running = running.get(message.message_id)
            shown = "running" if now_running and state == "queued" else state
            if shown == "retrying" and not message.retries:
                shown = "delayed"
            if index is None or index not in chunks:
                others.append((shown, message))
                continue
            chunk = chunks[index]
            if chunk.state == "done":
                continue  # a late duplicate of a finished chunk: it will compute nothing
            chunk.state, chunk.message, chunk.retries = shown, message, message.retries
            chunk.due_ms, chunk.running = message.eta_ms, now_running
    dead_others = []
    for letter in found.dead:
        index = None
        if letter.actor_name == CHUNK_ACTOR and letter.args_preview.startswith(f"({report.pk}, "):
            index = next((i for i in chunks if letter.args_preview.endswith(f", {i})")), None)
        if index is None:
            dead_others.append(letter)
            continue
        chunk = chunks[index]
        chunk.dead.append(letter)
        if chunk.state == "not found":
            chunk.state, chunk.retries = "dead", letter.retries
    return ReportRun(report, sorted(chunks.values(), key=lambda c: c.index), others, dead_others, found.scanned)
