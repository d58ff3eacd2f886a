"""The project's settings with the record of finished messages off (JOBS_RECENT_LIMIT=0), per-actor
metrics on: bench/operator_view.py --drain measures what the record costs."""

from project.settings import *  # noqa: F403

JOBS_RECENT_LIMIT = 0
