"""The test settings with Django's default password hashers (PBKDF2 first), for a web process
whose signups must cost what they cost in production."""

from django.conf import global_settings

from tests.settings import *  # noqa: F403

PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS

# runserver listens with a backlog of 10 (django.core.servers.basehttp.WSGIServer): 50 clients connecting
# at once overflow it and the kernel resets a few connections before Django ever sees them. Production
# servers listen with a backlog in the hundreds (gunicorn: 2048); the test's web process gets the same room.
from django.core.servers import basehttp  # noqa: E402

basehttp.WSGIServer.request_queue_size = 1024
