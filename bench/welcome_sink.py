"""The mail server of bench/welcome_email.py, a process of its own (its CPU is nobody's worker's):
aiosmtpd on loopback that accepts every message and notes, on the counter Redis, when it arrived, to
whom and its size (`bench:mail`: "<epoch s> <recipient> <bytes>"), which is how emails are timed and
duplicates counted. The notes go in one RPUSH every 10 ms from a thread of their own: a round trip per
message in the event loop cost the server more CPU than reading some of the messages did, and the
faster a system under test, the more of the shared cores it took.

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

FLUSH_S = 0.01


class Handler:
    def __init__(self) -> None:
        self.counter = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])
        self.notes: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.flush, daemon=True, name="notes").start()

    async def handle_DATA(self, server, session, envelope) -> str:
        size = len(envelope.original_content or b"")
        arrived = time.time()  # when the message arrived, not when its note is flushed
        with self.lock:
            self.notes.extend(f"{arrived} {rcpt} {size}" for rcpt in envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def flush(self) -> None:
        while True:
            time.sleep(FLUSH_S)
            with self.lock:
                notes, self.notes = self.notes, []
            if notes:
                self.counter.rpush("bench:mail", *notes)


def main() -> None:
    controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
