# The quick start's settings lines (README.md shows exactly this file; ci/smoke_startproject.sh appends it).
INSTALLED_APPS += ["django_dramatiq", "dramaturg"]  # noqa: F821  (appended to a startproject settings.py)

from dramaturg.conf import dramatiq_broker  # noqa: E402

DRAMATIQ_BROKER = dramatiq_broker("redis://127.0.0.1:6379/0", namespace="quickstart")
TASKS = {"default": {"BACKEND": "dramaturg.tasks_backend.DramatiqBackend"}}
DRAMATURG: dict = {}  # every key has a default: see docs/settings.md
