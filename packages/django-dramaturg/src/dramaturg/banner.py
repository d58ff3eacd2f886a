"""The health banner on every console page: the failing checks, each said in the page's language and
linked to the page that shows what fails (internal).

The checks themselves (dramaturg.health) speak English for machines (/jobs/health, alert mails); this
module words the job platform's own checks for a person. An app's extra check is shown with its own `text`
and `url` when it gives them (else its English line, linked to /jobs/health).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from redis.exceptions import RedisError

from dramaturg import conf

from .health import Problem, Report, run_checks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailingCheck:
    text: str  # one line in the page's language
    url: str  # the page that shows what fails
    detail: str  # the check's own line (English), shown on hover


def _worded(problem: Problem) -> tuple[str, str]:
    """(the problem in the page's language, the console page that shows it)."""
    health = conf.settings.HEALTH
    queue = problem.subject
    if problem.check == "dead_letters":
        text = gettext("Queue %(queue)s: more than %(limit)s dead letters in the last %(minutes)s min.") % {
            "queue": queue,
            "limit": health.DEAD_LETTERS_MAX,
            "minutes": health.DEAD_LETTERS_WINDOW_S // 60,
        }
        return text, f"{reverse('dramaturg:dead_list')}?{urlencode({'queue': queue})}"
    if problem.check == "oldest_ready":
        text = gettext("Queue %(queue)s: a ready message has waited more than %(limit)s s.") % {
            "queue": queue,
            "limit": health.OLDEST_READY_S,
        }
        return text, reverse("dramaturg:queue", args=[queue])
    if problem.check == "no_worker":
        text = gettext("Queue %(queue)s: messages are waiting and no live worker consumes the queue.") % {
            "queue": queue
        }
        return text, f"{reverse('dramaturg:overview')}#workers"
    if problem.check == "outbox":
        text = gettext(
            "Outbox of queue %(queue)s: rows pending for more than %(limit)s s "
            "(is the relay running and Redis reachable?)."
        ) % {"queue": queue, "limit": health.OUTBOX_AGE_S}
        return text, reverse("dramaturg:health")
    return str(problem.text) or problem.line(), problem.url or reverse("dramaturg:health")


# Every console page shows the banner and live.js re-reads a page every few seconds per open tab: the checks
# (a snapshot of every queue, database aggregates, the apps' checks) run at most once per this many seconds
# per process, so a check that starts failing shows within it.
KEEP_S = 10.0


@dataclass
class Kept[T]:
    """The last value of `compute`, kept per process for `seconds`; one caller at a time computes it."""

    compute: Callable[[], T]
    seconds: float
    _at: float | None = None
    _value: T | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, now: float | None = None) -> T:
        """The kept value, computed again once it is `seconds` old (`now` is time.monotonic())."""
        with self._lock:
            now = time.monotonic() if now is None else now
            if self._at is None or now - self._at >= self.seconds:
                self._value, self._at = self.compute(), now
            return self._value  # type: ignore[return-value]  # set above


def _checked() -> Report | None:
    """The checks' report; None when they cannot run (Redis or the database unreachable)."""
    try:
        return run_checks()
    except (RedisError, DatabaseError) as exc:
        logger.warning("health banner: the checks could not run: %s", exc)
        return None


REPORT = Kept(_checked, KEEP_S)


def failing_checks() -> list[FailingCheck] | None:
    """What the health checks find failing ([] when healthy), at most KEEP_S old; None when they cannot run
    (Redis or the database unreachable: the page itself says so, the banner stays away)."""
    report = REPORT.get()
    if report is None:
        return None
    failing = []
    for problem in report.problems:
        text, url = _worded(problem)
        failing.append(FailingCheck(text, url, problem.line()))
    return failing
