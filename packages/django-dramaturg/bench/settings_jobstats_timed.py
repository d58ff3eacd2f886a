"""The bench's settings (bench/settings.py) with JobStats measuring its own CPU time (bench/jobstats_timed.py):
bench/operator_view.py --drain reports what JobStats costs inside a draining worker."""

from bench.settings import *  # noqa: F403
from bench.settings import DRAMATIQ_BROKER

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [
        "bench.jobstats_timed.TimedJobStats" if m == "dramaturg.middleware.stats.JobStats" else m
        for m in DRAMATIQ_BROKER["MIDDLEWARE"]
    ],
}
