"""The test settings with Django's default password hashers (PBKDF2 first), for a web process
whose signups must cost what they cost in production."""
from django.conf import global_settings

from tests.settings import *  # noqa: F403

PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
