"""A log filter for Django's own mail to ADMINS (imported by LOGGING: no models here)."""

from __future__ import annotations

import logging


class SkipServiceUnavailable(logging.Filter):
    """Leave out 503 answers: /jobs/health answers 503 while a check fails, the operator's pages while
    Redis is down, and every page while the database is (jobs.unavailable), by design. Each such request
    would otherwise mail ADMINS (Django logs every 5xx answer as an error); the health alerts
    (jobs.alerts) tell of a failing check once instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503
