"""A steady stream of signups over HTTP from a background thread, recording every answer."""

from __future__ import annotations

import threading
import time
import urllib.error
from dataclasses import dataclass, field

from harness.http import post_json

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Answer:
    email: str
    status: int  # 0: no HTTP answer at all (connection refused, timed out)
    seconds: float
    at: float  # monotonic time the request was sent


@dataclass
class SignupFlow:
    """POSTs /api/signup/ one after another (pausing `pause` s between) until stopped."""

    base_url: str
    prefix: str
    pause: float = 0.02
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"signups-{self.prefix}", daemon=True)
        self._lock = threading.Lock()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            email = f"{self.prefix}{n}@example.com"
            started = time.monotonic()
            try:
                status, _, seconds = post_json(
                    f"{self.base_url}/api/signup/", {"email": email, "password": PASSWORD}, timeout=30
                )
            except (urllib.error.URLError, OSError):
                status, seconds = 0, time.monotonic() - started
            with self._lock:
                self.answers.append(Answer(email, status, seconds, started))
            n += 1
            self._stop.wait(self.pause)

    def start(self) -> SignupFlow:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(40)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)
