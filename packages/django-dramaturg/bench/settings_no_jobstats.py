"""The bench's settings (bench/settings.py) without JobStats (per-actor metrics, runtime histograms, recent
completions, worker bookkeeping): the baseline bench/operator_view.py --drain measures the cost of metrics against."""

from bench.settings import *  # noqa: F403
from bench.settings import DRAMATIQ_BROKER

DRAMATIQ_BROKER = {
    **DRAMATIQ_BROKER,
    "MIDDLEWARE": [m for m in DRAMATIQ_BROKER["MIDDLEWARE"] if m != "dramaturg.middleware.stats.JobStats"],
}
