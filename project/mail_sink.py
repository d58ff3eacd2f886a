"""The development mail sink `make run` starts (Procfile `smtp`): an SMTP server on loopback that prints each
email it receives as a person reads it: its subject, sender and recipients decoded, its text part decoded
(Korean included), and one line for each other part; nothing is delivered anywhere.

    python -m aiosmtpd -n -l 127.0.0.1:1025 -c project.mail_sink.ReadableSink
"""

from __future__ import annotations

import email
import email.policy
import sys
from email.message import EmailMessage
from typing import Any, TextIO

RULE = "-" * 72


def readable(raw: bytes, recipients: list[str]) -> str:
    """One email as text: headers decoded (RFC 2047), the text part decoded from its transfer
    encoding and charset, the other parts summarised."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the default policy's class
    lines = [
        RULE,
        f"Subject: {message.get('Subject', '')}",
        f"From:    {message.get('From', '')}",
        f"To:      {', '.join(recipients) or message.get('To', '')}",
        f"Date:    {message.get('Date', '')}",
    ]
    body = message.get_body(preferencelist=("plain",))
    lines.append("")
    lines.append(body.get_content().rstrip() if isinstance(body, EmailMessage) else "(no text part)")
    others = [part for part in message.walk() if not part.is_multipart() and part is not body]
    for part in others:
        payload = part.get_payload(decode=True) or b""
        name = part.get_filename()
        lines.append(f"[{part.get_content_type()}{f' {name}' if name else ''}: {len(payload):,} bytes not shown]")
    lines.append(RULE)
    return "\n".join(lines) + "\n"


class ReadableSink:
    """An aiosmtpd handler: accepts every email and prints it readable (`readable`)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        out = self.out or sys.stdout
        raw = envelope.original_content or envelope.content
        try:
            out.write(readable(raw if isinstance(raw, bytes) else raw.encode(), list(envelope.rcpt_tos)))
        except Exception as error:  # a malformed email is still accepted, and said
            out.write(f"{RULE}\n(an email this sink could not read: {type(error).__name__}: {error})\n{RULE}\n")
        out.flush()
        return "250 Message accepted for delivery"
