"""Gunicorn's settings for `make serve` (the production way to serve the site); read from the
working directory. Environment: PORT / BIND, WEB_CONCURRENCY (processes), WEB_THREADS."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
wsgi_app = "project.wsgi:application"
# Threads per process: requests wait on the database and Redis, so a few threads keep each core busy.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Many clients connecting at once (a burst of signups) queue here instead of being refused.
backlog = 2048
keepalive = 5
timeout = 30
graceful_timeout = 30
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
