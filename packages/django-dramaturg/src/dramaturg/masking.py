"""What an operator may see of a message or a log line: secrets masked, long values cut.

A key is secret-looking when its name matches `SECRET_KEY_PATTERN` (case-insensitive,
anywhere in the name unless noted):

- passwords: ``password``, ``passwd``, ``passphrase``, ``pwd``, and ``pass`` as a whole
  word (``db_pass``, not ``passenger``)
- ``secret`` (``client_secret``, ``SECRET_KEY``), ``token`` (``access_token``, ``csrftoken``)
- keys: ``api_key``/``apikey``/``api-key``, ``access_key``, ``private_key``, ``signing_key``,
  ``encryption_key``
- ``authorization``/``authorisation``, ``auth`` as a whole word, ``credential``, ``cookie``,
  ``signature``
- sessions: ``session_id``, ``sessionid``, ``session_key``, ``session_token``, ``sid``
  as a whole word
- one-time codes: ``otp``, ``pin``, ``cvv`` as whole words

`mask_secrets` masks the values of such keys in data (at any depth); `mask_text`
masks them in free text (log lines): ``key=value``, ``key: value``, ``'key': value``,
``"key": "value"`` (the value quoted or up to the next space, comma or bracket; an
``Authorization: Bearer <token>`` keeps the scheme and masks the token), and the
password in URLs (``scheme://user:password@host``). `SecretMaskingFilter` applies
`mask_text` to every log record, exception text included; settings attach it to
the log handlers, so Dramatiq's own lines (which print arguments) are covered.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_WHOLE = r"(?<![a-z])(?:{})(?![a-z])"
SECRET_KEY_PATTERN = re.compile(
    "|".join(
        [
            r"passw(?:or)?d",
            r"passphrase",
            r"pwd",
            _WHOLE.format("pass"),
            r"secret",
            r"token",
            r"api[-_]?key",
            r"access[-_]?key",
            r"private[-_]?key",
            r"signing[-_]?key",
            r"encryption[-_]?key",
            r"authori[sz]ation",
            _WHOLE.format("auth"),
            r"credential",
            r"cookie",
            r"signature",
            r"session[-_]?(?:id|key|token)",
            _WHOLE.format("sid"),
            _WHOLE.format("otp|pin|cvv"),
        ]
    ),
    re.I,
)
MASK = "********"

# key<sep>value in free text. The key may be quoted; the value is a quoted string,
# an auth scheme and its credential, or a bare word up to a separator. The value
# is a lookahead, so a pair that is not secret consumes only its key and the scan
# goes on inside its value ("url=https://h/?token=x"). A key starts where no letter
# or underscore precedes it: a match inside a word would start earlier, so the lookbehind finds the
# same pairs, and spares re-reading each word from each of its letters (half of what
# masking a traceback cost).
_PAIR = re.compile(
    r"""(?P<q>['"]?)(?<![A-Za-z_])(?P<name>[A-Za-z_][\w.-]*)(?P=q)\s*[:=]\s*"""
    r"""(?=(?P<value>b?'(?:[^'\\]|\\.)*'|b?"(?:[^"\\]|\\.)*"|(?:Bearer|Basic|Token|Digest)\s+[^\s,;'"]+"""
    r"""|[^\s,;&)}\]'"]+))""",
)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?P<at>@)", re.I)
_SCHEME = re.compile(r"(?P<scheme>Bearer|Basic|Token|Digest)\s+", re.I)


def is_secret_key(name: str) -> bool:
    return bool(SECRET_KEY_PATTERN.search(name))


def mask_secrets(value: Any) -> Any:
    """A copy of `value` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if is_secret_key(str(k)) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_secrets(v) for v in value]
    return value


def _masked_value(value: str) -> str:
    scheme = _SCHEME.match(value)
    if scheme:
        return scheme[0] + MASK
    if value[-1:] in ("'", '"'):
        quote = value[-1]
        return value[: value.index(quote) + 1] + MASK + quote  # keeps a b'' prefix and the quotes
    return MASK


def mask_text(text: str) -> str:
    """`text` with the values of secret-looking keys and URL passwords masked."""
    if not text:
        return text
    parts, pos = [], 0
    for match in _PAIR.finditer(text):
        if match.start() < pos or not is_secret_key(match["name"]):
            continue
        parts += [text[pos : match.end()], _masked_value(match["value"])]
        pos = match.end() + len(match["value"])
    text = "".join(parts) + text[pos:] if parts else text
    if "://" not in text:  # no URL, no password in one: most log lines and tracebacks
        return text
    return _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["at"], text)


@functools.lru_cache(maxsize=256)
def mask_traceback(text: str) -> str:
    """`mask_text` of a traceback, kept for the tracebacks that repeat (a failure that repeats has the
    same text: `dramaturg.tracebacks`)."""
    return mask_text(text)


def mask_address(address: str) -> str:
    """An email address an operator may see: its first character and its domain (`a***@example.com`);
    a display name is dropped."""
    _, _, addr = address.rpartition("<")
    local, at, domain = addr.rstrip(">").strip().rpartition("@")
    if not at:
        return MASK
    return f"{local[:1]}***@{domain}"


_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def mask_error(text: str) -> str:
    """An error an operator may see (an SMTP reply quotes the recipient): secrets and addresses masked."""
    return _ADDRESS.sub(lambda m: mask_address(m[0]), mask_text(text or ""))


def pretty(value: Any) -> str:
    """Masked, indented JSON for a detail page (escaped by the template)."""
    return json.dumps(mask_secrets(value), indent=2, sort_keys=True, default=str)


def preview(args: Any, kwargs: Any, limit: int = 80) -> str:
    """A one-line call preview such as `(42, subject="Hi")`, masked and cut to `limit`."""
    parts = [json.dumps(a, default=str) for a in mask_secrets(list(args or []))]
    parts += [f"{k}={json.dumps(v, default=str)}" for k, v in mask_secrets(dict(kwargs or {})).items()]
    text = "(" + ", ".join(parts) + ")"
    return text if len(text) <= limit else text[: limit - 1] + "…"


ERROR_LINE_CHARS = 300


def one_line(text: str, limit: int = ERROR_LINE_CHARS) -> str:
    """`text` masked, its lines joined into one, cut to `limit` characters."""
    line = " ".join(part.strip() for part in mask_text(text or "").splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def one_line_error(error: BaseException) -> str:
    """An exception as one masked line: `TimeoutError: timed out`."""
    return one_line(f"{type(error).__name__}: {error}")
