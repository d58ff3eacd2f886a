"""A report run as a workflow: its chunk jobs, each one's state, retries and dead letters.

Report state comes from this app's models (the database is the run's record); where each
unfinished chunk's message is comes from Redis, through the job platform's store. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from dramaturg.messages import MessageState, find

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
    message: MessageState | None = None
    dead: list[MessageState] = field(default_factory=list)


@dataclass(frozen=True)
class ReportRun:
    report: Report
    chunks: list[ChunkState]
    other_messages: list[MessageState]  # build/merge messages of the run, and chunks not planned
    dead_others: list[MessageState]

    @property
    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for chunk in self.chunks:
            result[chunk.state] = result.get(chunk.state, 0) + 1
        return result


# The chunk table's words for the platform's states.
_SHOWN = {"ready": "queued"}


def _chunk_index(message: MessageState, report_id: int, run_id: str) -> int | None:
    args = message.args
    if message.actor_name == CHUNK_ACTOR and len(args) == 3 and args[0] == report_id and str(args[1]) == run_id:
        return int(args[2])
    return None


def report_run(report: Report) -> ReportRun:
    """Where the current run of `report` stands, chunk by chunk."""
    run_id = str(report.run_id) if report.run_id else ""
    if not run_id:
        return ReportRun(report, [], [], [])
    rows = ReportChunk.objects.filter(report=report, run_id=run_id).order_by("index")
    chunks = {
        c.index: ChunkState(c.index, c.first_user_id, c.end_user_id, state="done" if c.done else "not found")
        for c in rows
    }
    others: list[MessageState] = []
    dead_others: list[MessageState] = []
    for message in find(settings.DRAMATIQ_QUEUE_REPORTS, run_id):
        index = _chunk_index(message, report.pk, run_id)
        chunk = chunks.get(index) if index is not None else None
        if chunk is None:
            (dead_others if message.state == "dead" else others).append(message)
        elif message.state == "dead":
            chunk.dead.append(message)
            if chunk.state == "not found":
                chunk.state, chunk.retries = "dead", message.retries
        elif chunk.state != "done":  # else a late duplicate of a finished chunk: it will compute nothing
            chunk.state, chunk.message, chunk.retries = (
                _SHOWN.get(message.state, message.state),
                message,
                message.retries,
            )
            chunk.due_ms = message.due_ms
            chunk.running = {"worker": message.worker, "started_ms": message.started_ms} if message.worker else None
    return ReportRun(report, sorted(chunks.values(), key=lambda c: c.index), others, dead_others)
