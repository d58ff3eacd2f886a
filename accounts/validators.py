"""What the account forms and the signup API accept beyond Django's own field checks.

Text must be storable and sendable (UTF-8: JSON's "\\udfff" and a form posted in another charset
can carry a lone surrogate, which no hasher, database or mail server takes). Addresses we mail
must be ones a mail server is given: Django's EmailValidator follows the RFCs further than mail
servers do (quoted local parts with control characters, IP literals, `localhost`).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

# C0 controls, DEL and C1 controls: never part of an address we send to.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1: servers may refuse longer


def validate_utf8(value: object) -> None:
    """Refuse text that cannot be encoded in UTF-8 (lone surrogates)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                _("This field contains characters that are not valid text (unpaired surrogates)."),
                code="invalid_text",
            ) from None


class DeliverableEmailValidator:
    """Django's validate_email (its message for what is not an address at all), then what mail servers
    refuse or we must not mail: a quoted local part, a control character, a local part over 64
    characters, a domain without a dot (an IP literal such as x@[127.0.0.1], `localhost`)."""

    message = _("Enter an email address that can receive mail: name@example.com.")
    code = "undeliverable"

    def __call__(self, value: str | None) -> None:
        value = value or ""
        validate_email(value)
        local, _at, domain = value.rpartition("@")
        if (
            _CONTROL.search(value)
            or '"' in local
            or len(local) > MAX_LOCAL_PART
            or domain.startswith("[")
            or "." not in domain
        ):
            raise ValidationError(self.message, code=self.code, params={"value": value})


validate_deliverable_email = DeliverableEmailValidator()
