"""The bench's settings (bench/settings.py, the host project's) with the package's broker under Dramatiq's
default middleware (and periodiq's, which the host's actors need to be declared): no dead-letter details,
statistics, task results or argument checks. bench/failing_drain.py's measure of the broker alone."""

from bench.settings import *  # noqa: F403
from bench.settings import DRAMATIQ_BROKER

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
