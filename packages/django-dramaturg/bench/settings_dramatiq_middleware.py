"""The project's settings with the project's broker under Dramatiq's default middleware (and periodiq's,
which the project's actors need to be declared): no dead-letter details, statistics, task results or
argument checks. bench/failing_drain.py's measure of the broker alone."""

from project.settings import *  # noqa: F403
from project.settings import DRAMATIQ_BROKER

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [
        *(
            f"dramatiq.middleware.{name}"
            for name in ("AgeLimit", "TimeLimit", "ShutdownNotifications", "Callbacks", "Pipelines", "Retries")
        ),
        "periodiq.PeriodiqMiddleware",
    ],
}
