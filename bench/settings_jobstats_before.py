"""The project's settings with JobStats as it was before per-actor metrics (bench/jobstats_before.py):
bench/operator_view.py --drain measures what the per-actor metrics added."""

from project.settings import *  # noqa: F403
from project.settings import DRAMATIQ_BROKER

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [
        "bench.jobstats_before.JobStats" if m == "jobs.middleware.stats.JobStats" else m
        for m in DRAMATIQ_BROKER["MIDDLEWARE"]
    ],
}
