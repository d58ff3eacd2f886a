from ._queue_control import QueueControlCommand


class Command(QueueControlCommand):
    help = "Resume a paused queue: workers fetch from it again within about a second. Audited."
    paused = False
