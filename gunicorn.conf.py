"""Gunicorn's settings for `make serve` (the production way to serve the site); read from the
working directory. Environment: PORT / BIND, WEB_CONCURRENCY (processes), WEB_THREADS."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
wsgi_app = "project.wsgi:application"
# Threads per process: requests wait on the database and Redis, and past capacity a thread spends up to
# OVERLOAD_WAIT_S (0.2 s) shedding a signup with a 503. With 4 a flood's 503s queued behind each other
# (bench/overload.py, 200 clients: p99 11.3 s, 34% answered within 1 s); with 16, p99 2.4 s, 95%. Each
# thread may hold a database connection: 5 processes x 16 = 80 on 2 cores, under PostgreSQL's default 100.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", "16"))
# Many clients connecting at once (a burst of signups) queue here instead of being refused.
backlog = 2048
keepalive = 5
timeout = 30
graceful_timeout = 30
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
