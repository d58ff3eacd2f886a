"""A real SMTP server on loopback (aiosmtpd) that records what it receives."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections.abc import Callable
from email.message import Message

from aiosmtpd.controller import Controller

from harness.ports import reserve_port

# A port reserved for this test process (tests/ports.py): nothing else takes it before or between uses.
free_port = reserve_port


class RecordingHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.times: list[float] = []
        self.delay = 0.0  # seconds to wait before answering DATA (the mail is then accepted)
        self.rcpt_delay = 0.0  # seconds to wait before answering RCPT (no mail has been sent yet)
        self.rcpts = 0
        self.reply: str | None = None  # an SMTP error reply to give instead of accepting
        # After the message is stored: seconds to wait before the "250" (it is delivered either way), and a
        # function of the message run (in a thread) before replying, e.g. to make the database unavailable at
        # that moment. The sink is the session's: a test that acts on its own message checks which it is.
        self.final_reply_delay = 0.0
        self.on_accepted: Callable[[Message], None] | None = None
        self.eight_bit = True  # whether EHLO lists 8BITMIME (aiosmtpd takes 8-bit data either way)
        self.mail_options: list[list[str]] = []  # each accepted message's MAIL FROM parameters

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:
        session.host_name = hostname
        return responses if self.eight_bit else [r for r in responses if r[4:] != "8BITMIME"]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        self.rcpts += 1
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply:
            return self.reply
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            self.messages.append(message)
            self.times.append(time.time())
            self.mail_options.append(list(envelope.mail_options))
        if self.on_accepted is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_accepted, message)
        if self.final_reply_delay:
            await asyncio.sleep(self.final_reply_delay)
        return "250 Message accepted for delivery"


class SmtpSink:
    """Start, stop and restart on one fixed port, as a mail server that goes down would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.messages.clear()
            self.handler.times.clear()
            self.handler.mail_options.clear()
        self.handler.delay = self.handler.rcpt_delay = self.handler.final_reply_delay = 0.0
        self.handler.on_accepted = None
        self.handler.rcpts = 0
        self.handler.reply = None
        self.handler.eight_bit = True

    def received_at(self) -> list[float]:
        with self.handler.lock:
            return list(self.handler.times)

    def received(self, to: str | None = None) -> list[Message]:
        with self.handler.lock:
            return [m for m in self.handler.messages if to is None or m["To"] == to]
