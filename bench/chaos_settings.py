"""Settings of the chaos soak's processes (bench/chaos.py): the project's own, read
from the environment the soak sets, with one exception: a fast password hasher.

Django's PBKDF2 costs a few hundred ms of CPU per signup; at the soak's steady
signup rate on a small machine it would starve the workers the soak is testing.
"""

from project.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
