"""The mail server of bench/welcome_email.py, a process of its own (its CPU is nobody's worker's):
aiosmtpd on loopback that accepts every message and notes, on the counter Redis, when it arrived, to
whom and its size (`bench:mail`: "<epoch s> <recipient> <bytes>"), which is how emails are timed and
duplicates counted.

    python bench/welcome_sink.py PORT
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import redis
from aiosmtpd.controller import Controller


class Handler:
    def __init__(self) -> None:
        self.counter = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])

    async def handle_DATA(self, server, session, envelope) -> str:
        size = len(envelope.original_content or b"")
        self.counter.rpush("bench:mail", *(f"{time.time()} {rcpt} {size}" for rcpt in envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def main() -> None:
    controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
