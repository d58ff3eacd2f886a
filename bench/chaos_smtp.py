"""The soak's SMTP server: tests/smtp_sink.py's recording handler, which also notes which
worker process sent each message, so a duplicate can be tied to the death of its sender."""

from __future__ import annotations

import asyncio
import email
import os
import time
from collections.abc import Callable
from pathlib import Path

from harness.smtp_sink import RecordingHandler


def socket_owner(client_port: int, server_port: int, groups: dict[int, str]) -> str | None:
    """The name of the process group (among `groups`: pgid -> name) holding the loopback
    TCP socket from `client_port` to `server_port`, read from /proc; None if not found."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == client_port and int(remote.rsplit(":", 1)[1], 16) == server_port:
                inode = fields[9]
                break
        if inode:
            break
    if not inode:
        return None
    target = f"socket:[{inode}]"
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            if pgid not in groups:
                continue
            fds = list(os.scandir(Path(entry.path, "fd")))
        except OSError:  # the process ended meanwhile
            continue
        for fd in fds:
            try:
                if os.readlink(fd.path) == target:
                    return groups[pgid]
            except OSError:  # this descriptor was closed meanwhile: not the socket, which is still open
                continue
    return None


class AttributingHandler(RecordingHandler):
    """Records like RecordingHandler and, in `senders`, who sent each message (or None)."""

    def __init__(self, server_port: int, groups: Callable[[], dict[int, str]]):
        super().__init__()
        self.server_port = server_port
        self.groups = groups
        self.senders: list[str | None] = []
        self.session_senders: dict[tuple, str | None] = {}  # (host, port) of a session -> who sent its MAIL FROM

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        # Look while the client waits for this answer: by the time its DATA is read (the server may be
        # busy with other sessions) it may have exited, its socket closed, the data still in the buffer.
        self.session_senders[session.peer] = socket_owner(session.peer[1], self.server_port, self.groups())
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        # Who sent MAIL FROM; looked up again if unknown then (before any delay: a client killed while
        # the server is slow is gone afterwards).
        sender = self.session_senders.pop(session.peer, None) or socket_owner(
            session.peer[1], self.server_port, self.groups()
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply:
            return self.reply
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
            self.times.append(time.time())
            self.senders.append(sender)
        if self.final_reply_delay:  # stored: a copy sent after this one is a duplicate
            await asyncio.sleep(self.final_reply_delay)
        return "250 Message accepted for delivery"
