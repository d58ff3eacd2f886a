"""Django's SMTP backend with RFC 5321's timeouts, and what a failed send means for trying again
(`dramaturg.mail.EmailBackend`, `OutcomeUnknown`, `is_transient`; also importable from `dramaturg.mail`).

Written against Django 6.1 (django.core.mail.backends.smtp.EmailBackend: its `connection_class`
property and `_send` method) and Python 3.12's smtplib (`SMTP.data` sends the message and its
terminating "." in one `send` call, then reads the final reply with `getreply`);
tests/unit/test_smtp_backend.py fails loudly if either changes.

RFC 5321 §4.5.3.2 gives a client minutes for each step and 10 minutes for the reply to the end
of DATA, because the server may be delivering the message before it answers. Django has one
timeout for every step. Here the connection, the greeting and the commands keep `timeout` (short:
a dead server is noticed quickly), and only the final reply waits `data_timeout`. A timeout or a
dropped connection after the whole message was handed over raises OutcomeUnknown: the server may
have delivered it, so the caller must not treat it as "not sent".
"""

from __future__ import annotations

import base64
import email.charset
import logging
import os
import re
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.contentmanager import ContentManager, raw_data_manager
from email.headerregistry import AddressHeader, HeaderRegistry, MessageIDHeader, UnstructuredHeader
from email.message import Message, MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime
from functools import lru_cache, partial
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from dramatiq.rate_limits import RateLimitExceeded

logger = logging.getLogger(__name__)

END_OF_DATA = b"\r\n.\r\n"


class OutcomeUnknown(Exception):
    """The message was handed over (end of DATA sent) but the server's answer never came."""


class _FinalReplyTimeout:
    """smtplib.SMTP (or SMTP_SSL) that waits `data_timeout` for the reply to the end of DATA."""

    handed_over = False  # the current message's end of DATA went out

    def __init__(self, *args: Any, data_timeout: float | None = None, **kwargs: Any) -> None:
        self.data_timeout = data_timeout
        super().__init__(*args, **kwargs)  # connects

    def mail(self, *args: Any, **kwargs: Any) -> Any:
        if self.handed_over:  # a kept connection's next message: its commands get the short timeout again
            sock = getattr(self, "sock", None)
            if sock is not None:
                timeout = self.timeout  # type: ignore[attr-defined]
                # smtplib's default is socket's "no timeout given" marker: the process-wide default then.
                sock.settimeout(timeout if isinstance(timeout, int | float) else socket.getdefaulttimeout())
        self.handed_over = False  # MAIL FROM starts a new message on this connection
        return super().mail(*args, **kwargs)  # type: ignore[misc]

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(END_OF_DATA):
            # Only the message's final "." line ends so (dot-stuffing escapes any other).
            self.handed_over = True
            sock = getattr(self, "sock", None)
            if sock is not None and self.data_timeout is not None:
                sock.settimeout(self.data_timeout)


class SMTP(_FinalReplyTimeout, smtplib.SMTP):
    pass


class SMTP_SSL(_FinalReplyTimeout, smtplib.SMTP_SSL):
    pass


class _HeaderClasses(HeaderRegistry):
    """The standard library's header registry, less a new class made for every header it parses
    (`type(...)` per call: a third of the time Django takes to build a message): one per name."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}
        self._plain: dict[str, re.Pattern[str] | None] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made

    def plain_form(self, name: str) -> re.Pattern[str] | None:
        """The form of this header's values that are kept as written (None: every value is parsed).
        Dates and the MIME headers, whose parameters the email package reads, are always parsed."""
        key = name.lower()
        if key not in self._plain:
            kind = self[key]
            self._plain[key] = next((form for cls, form in _PLAIN_FORMS if issubclass(kind, cls)), None)
        return self._plain[key]


# local@domain with a dot-atom local part (RFC 5322 atext) and an ASCII host name: Django's prep_address
# finds no defect in it and returns it unchanged (tests/unit/test_smtp_backend.py compares the two).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*"
_PLAIN_ADDRESS = re.compile(_ADDR_SPEC)
_MAILBOX = rf"(?:{_ADDR_SPEC}|{_ATEXT}(?: {_ATEXT})* <{_ADDR_SPEC}>)"
# Values the standard parser reads back exactly as they are written (the tests compare the two), so
# they need no parse: printable ASCII words with single spaces and no quotes, comments or escapes;
# plain mailboxes; a plain message id. An encoded word ("=?"), which the parser decodes, is refused.
_PLAIN_WORDS = re.compile(r"[!#-'*-\[\]-~]+(?: [!#-'*-\[\]-~]+)*")
_PLAIN_FORMS: tuple[tuple[type, re.Pattern[str]], ...] = (
    (UnstructuredHeader, _PLAIN_WORDS),
    (AddressHeader, re.compile(rf"{_MAILBOX}(?:, {_MAILBOX})*")),
    (MessageIDHeader, re.compile(f"<{_ADDR_SPEC}>")),
)


_UNSET = object()


class _SmtpPolicy(EmailPolicy):
    """email.policy.SMTP that parses a header value it has parsed before only once (From, the MIME
    headers, a subject: most of each message's headers are the same as the last one's). A parsed
    header is an immutable str; the same one may be in any number of messages.

    A short plain-ASCII text, address or message-id value (a recipient, a subject, a Message-ID: new
    in each message) is not parsed at all: it is kept as the str it is, as the standard policy keeps
    a header read from a message's source, and written out unchanged, as the standard policy writes
    one that fits its line (tests/unit/test_smtp_backend.py compares the bytes). So is text of plain
    words longer than a line, folded as the standard policy folds it, and printable non-ASCII text,
    written as encoded words (_folded_text). Reading it back gives that str, not a header object:
    this policy builds messages to send, not to read."""

    def clone(self, **kw: Any) -> Any:
        # The generator clones its policy for each part to set the line ending it already has; the same
        # policy keeps the parts' headers in the caches below, which are per policy.
        if all(getattr(self, name, _UNSET) == value for name, value in kw.items()):  # an unknown name: clone's error
            return self
        return super().clone(**kw)

    def _plain(self, name: str, value: str) -> bool:
        forms = self.header_factory
        # Asked for each header each time it is stored, read or written: answered once per value.
        return isinstance(forms, _HeaderClasses) and _kept_as_written(forms, self.max_line_length, name, value)

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is datetime:
            # Django's Date: the text a DateHeader makes of it, so that the messages of one second share one parse.
            value = format_datetime(value)
        if type(value) is str:
            if self._plain(name, value):
                return name, value
            return _parsed_header(self, name, value)
        return super().header_store_parse(name, value)

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if type(value) is str and self._plain(name, value):
            return value
        return super().header_fetch_parse(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if hasattr(value, "name"):  # a parsed header: the same one (from _parsed_header's cache) folds the same way
            return _folded_header(self, name, _Same(value))
        if (
            type(value) is str
            and self._plain(name, value)
            and not (value.isascii() and _fits(name, value, self.max_line_length))
        ):
            folded = _folded_text(name, value, self.max_line_length, self.linesep)
            # None: folded as the standard policy folds it (a word longer than a line, a very long name).
            return folded if folded is not None else super().fold_binary(name, self.header_factory(name, value))
        return super().fold_binary(name, value)


def _fits(name: str, value: str, max_line_length: int | None) -> bool:
    """Whether `name: value` fits one line: the standard policy writes it as it is then."""
    return max_line_length is None or len(name) + len(value) + 2 <= max_line_length


@lru_cache(maxsize=512)
def _kept_as_written(forms: _HeaderClasses, max_line_length: int | None, name: str, value: str) -> bool:
    """Whether SMTP_POLICY keeps this header value as the str it is (_SmtpPolicy)."""
    if "=?" in value:
        return False
    form = forms.plain_form(name)
    if form is _PLAIN_WORDS:  # text: plain words of any length (folded below), or printable non-ASCII text
        return form.fullmatch(value) is not None or (not value.isascii() and value.isprintable())
    return form is not None and _fits(name, value, max_line_length) and form.fullmatch(value) is not None


_WORD_LINE = 76  # RFC 2047 §2: a line with an encoded word holds at most 76 characters
_WORD_ROOM = 75  # and an encoded word at most 75


def _folded_text(name: str, value: str, max_line_length: int | None, linesep: str) -> bytes | None:
    """`name: value` folded for a text header kept as written that does not fit a line as it is (None:
    the standard policy's to fold).

    Plain ASCII words are folded as the standard policy folds them (the tests
    compare the bytes): the whole value on a line of its own if it fits one, else as many words on
    each line as it holds. Non-ASCII text goes as RFC 2047 "B" encoded words of whole UTF-8 characters,
    one per line, as Django wrote it before 6.0 (email.header.Header): the standard policy's parse and
    fold of such a value was a tenth of a welcome email's cost."""
    if value.isascii():
        assert max_line_length is not None  # a value that does not fit a line has one
        if len(value) + 1 <= max_line_length:
            return f"{name}:{linesep} {value}{linesep}".encode()
        lines, line = [], f"{name}:"
        for word in value.split(" "):
            if len(line) + 1 + len(word) <= max_line_length:
                line += " " + word
            elif len(word) + 1 > max_line_length:
                return None
            else:
                lines.append(line)
                line = " " + word
        return linesep.join([*lines, line]).encode() + linesep.encode()
    limit = min(_WORD_LINE, max_line_length or _WORD_LINE)
    room = min(_WORD_ROOM, limit - len(name) - 2)
    if room < 24:  # too little room left by the name for a word of a few characters
        return None
    words, chunk = [], b""
    for char in value:
        data = char.encode()
        if chunk and len("=?utf-8?b??=") + 4 * -(-(len(chunk) + len(data)) // 3) > room:
            words.append(chunk)
            chunk, room = b"", min(_WORD_ROOM, limit - 1)
        chunk += data
    words.append(chunk)
    encoded = f"{linesep} ".join(f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)
    return f"{name}: {encoded}{linesep}".encode()


@lru_cache(maxsize=1024)
def _parsed_header(policy: Any, name: str, value: str) -> tuple[str, Any]:
    return EmailPolicy.header_store_parse(policy, name, value)


class _Same:
    """A key that matches the very same object only. A parsed header equals any str of its decoded text,
    which two different values can share ('"Ann" <a@x>' and 'Ann <a@x>') while they fold differently."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value  # held by the cache entry: its id stays its own while the entry lives

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


@lru_cache(maxsize=1024)
def _folded_header(policy: Any, name: str, header: _Same) -> bytes:
    return EmailPolicy.fold_binary(policy, name, header.value)


@lru_cache(maxsize=256)
def _prepared_address(backend_class: type[DjangoSmtpBackend], address: str, force_ascii: bool) -> str:
    return backend_class.prep_address(None, address, force_ascii)  # type: ignore[arg-type]  # uses no self


# The policy dramaturg.mail.EmailBackend builds messages with: email.policy.SMTP's, parsed faster.
SMTP_POLICY = _SmtpPolicy(linesep="\r\n", header_factory=_HeaderClasses())

_LINE_LIMIT = 998  # octets in a line of a message, CRLF not counted (RFC 5322 §2.1.1)


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+")  # RFC 2045's token: a subtype or a charset name as it is


class _TextAsIs(ContentManager):
    """The standard content manager, but text goes as it is when its lines allow it: "7bit" if ASCII,
    else "8bit" (RFC 6152), not quoted-printable or base64. An explicit `cte` is kept."""

    def get_content(self, msg: Message, *args: Any, **kw: Any) -> Any:
        return raw_data_manager.get_content(msg, *args, **kw)

    def set_content(self, msg: Message, obj: Any, *args: Any, **kw: Any) -> None:
        if isinstance(obj, str) and len(args) < 3 and kw.get("cte") is None:
            charset = kw.get("charset") or (args[1] if len(args) > 1 else "utf-8")
            data = obj.encode(charset)
            lines = data.splitlines()
            if b"\0" not in data and all(len(line) <= _LINE_LIMIT for line in lines):
                cte = "7bit" if data.isascii() else "8bit"
                subtype = kw.get("subtype") or (args[0] if args else "plain")
                simple = kw.keys() <= {"subtype", "charset"} and _TOKEN.fullmatch(subtype) and _TOKEN.fullmatch(charset)
                if simple and isinstance(msg, MIMEPart):
                    _set_text(msg, lines, subtype, email.charset.ALIASES.get(charset, charset), cte)
                    return
                kw["cte"] = cte
        raw_data_manager.set_content(msg, obj, *args, **kw)


def _set_text(msg: MIMEPart, lines: list[bytes], subtype: str, charset: str, cte: str) -> None:
    """What raw_data_manager.set_content(msg, text, subtype, charset, cte=cte) does for 7bit or 8bit
    text with no other argument (tests/unit/test_smtp_backend.py compares the two), in fewer steps:
    its Content-Type is set once, whole, instead of set and then parsed again to add the charset."""
    if msg.get_content_maintype() == "multipart":
        raise TypeError("set_content not valid on multipart")  # the standard manager's refusal
    msg.clear_content()
    msg["Content-Type"] = f'text/{subtype}; charset="{charset}"'
    msg.set_payload((b"\n".join(lines) + b"\n").decode("ascii", "surrogateescape"))
    msg["Content-Transfer-Encoding"] = cte


# SMTP_POLICY for a server that takes 8-bit text (it lists 8BITMIME): text parts go as they are, as Django
# before 6.0 sent them; no quoted-printable to encode and the server to read. For a line over RFC 5322's
# limit the standard choice stays.
SMTP_8BIT_POLICY = SMTP_POLICY.clone(content_manager=_TextAsIs())


class _KeptConnections:
    """Open SMTP connections between sends, one per worker thread and mailer, closed by a thread of
    their own once idle for their `keep_alive_s`. A connection is here only while nobody uses it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.idle: dict[tuple, tuple[smtplib.SMTP, float]] = {}  # (thread, mailer) -> (connection, closes at)
        self.changed = threading.Condition()
        self.wake_at = float("inf")
        self.closer: threading.Thread | None = None

    def take(self, key: tuple) -> smtplib.SMTP | None:
        with self.changed:
            kept = self.idle.pop((threading.get_ident(), key), None)
        return kept[0] if kept else None

    def put(self, key: tuple, connection: smtplib.SMTP, keep_alive_s: float) -> None:
        closes_at = time.monotonic() + keep_alive_s
        with self.changed:
            self.idle[(threading.get_ident(), key)] = (connection, closes_at)
            if self.closer is None:
                self.closer = threading.Thread(target=self._close_idle, name="smtp-idle", daemon=True)
                self.closer.start()
            elif closes_at < self.wake_at:
                self.changed.notify()

    def _close_idle(self) -> None:
        while True:
            with self.changed:
                now = time.monotonic()
                expired = [k for k, (_, closes_at) in self.idle.items() if closes_at <= now]
                idle = [self.idle.pop(k)[0] for k in expired]
                if not idle:
                    self.wake_at = min((at for _, at in self.idle.values()), default=now + 60)
                    self.changed.wait(self.wake_at - now)
                    continue
            for connection in idle:
                _quit(connection)


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):  # gone already, or not answering: the socket is closed either way
        connection.close()


_kept_lock = threading.Lock()
_kept: _KeptConnections | None = None


def _kept_connections() -> _KeptConnections:
    """This process's kept connections (a forked child starts with none: its parent's are its parent's)."""
    global _kept
    if _kept is None or _kept.pid != os.getpid():
        with _kept_lock:
            if _kept is None or _kept.pid != os.getpid():
                _kept = _KeptConnections()
    return _kept


class EmailBackend(DjangoSmtpBackend):
    """Django's SMTP backend plus OPTIONS `data_timeout` (seconds to wait for the reply to the end of
    DATA; `timeout` covers the rest) and OutcomeUnknown for an answer lost after the hand-over.

    OPTIONS `keep_alive_s` (default 30; 0: a connection per `send_messages`, as Django's): the
    connection stays open after a send for the same thread's next one, and is closed once idle that
    long. One that failed is closed at once. One the server dropped meanwhile fails at MAIL FROM,
    before anything was handed over: the message is then sent once on a new connection.

    OPTIONS `eight_bit` (default True): to a server that lists 8BITMIME, text parts go as they are
    ("8bit", "7bit" if ASCII) with BODY=8BITMIME, as Django sent them before 6.0; to one that does not,
    or with False, as Django 6 encodes them (quoted-printable or base64: for a relay chain whose DKIM
    signer signs before a hop that would have to re-encode 8-bit text)."""

    def __init__(
        self,
        *args: Any,
        data_timeout: float | None = None,
        keep_alive_s: float = 30,
        eight_bit: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.data_timeout = data_timeout
        self.keep_alive_s = keep_alive_s
        self.eight_bit = eight_bit
        self._reused = False  # the open connection was kept from an earlier send
        self._broken = False  # a send failed on it: not kept

    @property
    def connection_class(self) -> Callable[..., smtplib.SMTP]:  # type: ignore[override]  # stubs: type[SMTP]
        data_timeout = self.data_timeout if self.data_timeout is not None else self.timeout
        return partial(SMTP_SSL if self.use_ssl else SMTP, data_timeout=data_timeout)

    @property
    def _keeps(self) -> bool:
        # Not with fail_silently: a dropped kept connection would then lose the message without a word.
        return bool(self.keep_alive_s) and not self.fail_silently

    def _key(self) -> tuple:
        return (
            self.host,
            self.port,
            self.username,
            self.password,
            self.use_tls,
            self.use_ssl,
            self.timeout,
            self.data_timeout,
            self.ssl_keyfile,
            self.ssl_certfile,
        )

    def open(self) -> bool | None:
        if self.connection is None and self._keeps:
            kept = _kept_connections().take(self._key())
            if kept is not None:
                self.connection, self._reused, self._broken = kept, True, False
                return True  # send_messages closes it when done, which keeps it again
        self._reused, self._broken = False, False
        return super().open()

    def close(self) -> None:
        if self.connection is not None and self._keeps and not self._broken and self._partial_connection is None:  # type: ignore[attr-defined]
            connection, self.connection = self.connection, None
            _kept_connections().put(self._key(), connection, self.keep_alive_s)
            return
        super().close()

    def _send(self, email_message: Any) -> bool:
        try:
            try:
                return self._send_once(email_message)
            except (smtplib.SMTPServerDisconnected, ConnectionError) as error:
                if not self._reused or getattr(self.connection, "handed_over", False):
                    raise
                # The kept connection was dropped while idle; nothing of this message went out on it.
                logger.info("The kept SMTP connection to %s was closed (%s); sending on a new one", self.host, error)
                dropped, self.connection, self._reused = self.connection, None, False
                if dropped is not None:
                    dropped.close()
                DjangoSmtpBackend.open(self)
                return self._send_once(email_message)
        except BaseException:
            self._broken = True  # its state is unknown: closed, never kept
            raise

    def _send_once(self, email_message: Any) -> bool:
        try:
            return self._django_send(email_message)
        except OSError as error:  # timeouts, resets and SMTPServerDisconnected (an SMTPException)
            if getattr(self.connection, "handed_over", False) and not isinstance(error, smtplib.SMTPResponseException):
                raise OutcomeUnknown(f"no answer after the message was handed over: {error}") from error
            raise

    def prep_address(self, address: Any, force_ascii: bool = True) -> str:
        """Django's, remembered (most messages come from the same address; it parses it each time), and
        without the parse for a plain ASCII address, which it returns as it is (a recipient's, new each time)."""
        if type(address) is str:
            if _PLAIN_ADDRESS.fullmatch(address):
                return address
            return _prepared_address(DjangoSmtpBackend, address, force_ascii)
        return super().prep_address(address, force_ascii)

    def _django_send(self, email_message: Any) -> bool:
        """Django 6.1's `_send`, the message built with SMTP_POLICY (or SMTP_8BIT_POLICY) instead of
        email.policy.SMTP."""
        if not email_message.recipients():
            return False
        from_email = self.prep_address(email_message.from_email)
        recipients = [self.prep_address(addr) for addr in email_message.recipients()]
        assert self.connection is not None  # send_messages opened it
        try:
            # sendmail's first step, taken before the message is built: whether the server takes 8-bit text.
            self.connection.ehlo_or_helo_if_needed()
            eight_bit = self.eight_bit and self.connection.has_extn("8bitmime")
            message = email_message.message(policy=SMTP_8BIT_POLICY if eight_bit else SMTP_POLICY)
            _set_boundaries(message)
            self.connection.sendmail(
                from_email, recipients, message.as_bytes(), mail_options=["BODY=8BITMIME"] if eight_bit else ()
            )
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True


_BOUNDARY_PREFIX = "=_dramaturg_"


def _set_boundaries(message: Message) -> None:
    """A fixed boundary for each multipart part of `message` that none of its contents holds.

    Left to itself, the standard library's generator makes a random boundary per part, compiles a
    regular expression from it to check the part, and parses the part's Content-Type header again
    with it: about a tenth of a welcome email's worker CPU. A fixed one is parsed once per process
    (SMTP_POLICY's cache). RFC 2046 asks only that a boundary occur nowhere in the parts it encloses:
    one that does (in a header or a body below the part, e.g. an attached email of ours) is left to
    the generator's random choice."""
    parts = list(message.walk())
    multiparts = [part for part in parts if part.is_multipart() and part.get_content_maintype() == "multipart"]
    if not multiparts:
        return
    # The usual case, checked once: nothing below the top holds the prefix, so every fixed boundary is free.
    held = any(_holds(part, _BOUNDARY_PREFIX) for part in parts[1:])
    for n, part in enumerate(multiparts):
        boundary = f"{_BOUNDARY_PREFIX}{n}_"  # the closing "_": no part's boundary begins another's
        if part.get_boundary() is None and not (
            held and any(_holds(p, boundary) for p in part.walk() if p is not part)
        ):
            part.set_boundary(boundary)


def _holds(part: Message, text: str) -> bool:
    """Whether a header value of `part` or, unless it holds parts, its body holds `text`. The body is
    read decoded, which is cheaper: quoted-printable and base64 never write the "=_" the boundaries
    begin with, so only a 7bit or 8bit body, the same decoded, can hold one."""
    if any(text in value for value in part.values()):
        return True
    body = None if part.is_multipart() else part.get_payload(decode=True)
    return isinstance(body, bytes) and text.encode() in body  # None: a part without a body


def is_transient(error: BaseException) -> bool:
    """Whether a failed send is worth trying again later: no connection, a timeout, a 4xx reply,
    our own rate limit. A 5xx reply, an address no server takes, or a bug is permanent."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code < 500
    return isinstance(error, OSError | RateLimitExceeded)
