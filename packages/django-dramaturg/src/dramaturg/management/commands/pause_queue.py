from ._queue_control import QueueControlCommand


class Command(QueueControlCommand):
    help = (
        "Pause a queue for every worker: within about a second no worker fetches from it (jobs already "
        "running finish); enqueues are still accepted. Audited. Undo with resume_queue."
    )
    paused = True
