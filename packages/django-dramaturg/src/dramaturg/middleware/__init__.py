"""The project's Dramatiq middleware, one per module (as Dramatiq's own ``dramatiq.middleware``).

Settings name them by module (``dramaturg.middleware.retries.ConfiguredRetries``); they are
re-exported here for code that imports ``dramaturg.middleware``.
"""

from .dead_letters import DeadLetterDetails
from .delayed import HeldDelayedMessages
from .maintenance import QueueMaintenance
from .retries import ConfiguredRetries
from .stats import JobStats
from .stop_signal import OneStopPerSignalBurst
from .validation import ValidateArguments

__all__ = [
    "ConfiguredRetries",
    "DeadLetterDetails",
    "HeldDelayedMessages",
    "JobStats",
    "OneStopPerSignalBurst",
    "QueueMaintenance",
    "ValidateArguments",
]
