"""The project's settings as the peers of bench/welcome_email.py see them: Django's own SMTP backend
(a connection per `send_mail`, as the seed tutorial's task has it), not the package's."""

from project.settings import *  # noqa: F403
from project.settings import EMAIL_TIMEOUT_S, env

_url = env.str("EMAIL_URL")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": _url.rsplit("//", 1)[1].rsplit(":", 1)[0],
            "port": int(_url.rsplit(":", 1)[1]),
            "timeout": EMAIL_TIMEOUT_S,
        },
    }
}
