"""How the project connects to Redis: one URL, or the current master of a Sentinel-monitored service.

Everything that talks to Redis (the broker, and through its client the store, the rate limiters,
the signup throttle, task results) uses the one client built here, so with Sentinel every part
follows a failover: a connection that breaks asks the sentinels for the master again.

No Django settings are read here: project/settings.py imports it to build the broker's options.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.sentinel import Sentinel

# A hung Redis must fail fast (a signup never waits on it) and idle pooled sockets are checked
# before use; the URL path and the Sentinel path get the same.
CLIENT_TIMEOUTS: dict[str, float] = {"socket_connect_timeout": 2, "socket_timeout": 10, "health_check_interval": 15}
# Asking a sentinel where the master is: one dead sentinel must not stall the question.
SENTINEL_TIMEOUTS: dict[str, float] = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


class RedisConfigError(ImproperlyConfigured):
    """A Redis setting that cannot be used (says which and why)."""


def url_with_timeouts(url: str) -> str:
    """`url` with the client timeouts added, unless it sets them itself."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in CLIENT_TIMEOUTS.items():
        query.setdefault(name, f"{value:g}")
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """`"10.0.0.1:26379, [::1]:26380"` -> [("10.0.0.1", 26379), ("::1", 26380)]."""
    addresses = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RedisConfigError(f"REDIS_SENTINELS: {item!r} is not host:port")
        addresses.append((host, int(port)))
    if not addresses:
        raise RedisConfigError("REDIS_SENTINELS is set but names no sentinel (expected host:port,host:port,...)")
    return addresses


def _url_credentials(url: str) -> dict[str, Any]:
    """The database, user and password of a redis:// URL (its host and port do not matter under Sentinel)."""
    parts = urlsplit(url)
    found: dict[str, Any] = {}
    path = parts.path.strip("/")
    if path:
        if not path.isdigit():
            raise RedisConfigError(f"REDIS_URL: database {path!r} is not a number")
        found["db"] = int(path)
    if parts.username:
        found["username"] = unquote(parts.username)
    if parts.password:
        found["password"] = unquote(parts.password)
    return found


def sentinel_client(
    sentinels: list[tuple[str, int]],
    service_name: str,
    *,
    db: int = 0,
    password: str | None = None,
    username: str | None = None,
    sentinel_password: str | None = None,
    **options: Any,
) -> redis.Redis:
    """A client for the current master of `service_name`, as the sentinels see it.

    Each new connection asks the sentinels for the master; a connection that breaks
    (the master died) or lands on a replica (the old master came back demoted) is
    dropped, so the next command goes to whatever master the sentinels elected.
    """
    sentinel_kwargs: dict[str, Any] = dict(SENTINEL_TIMEOUTS)
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
    connection: dict[str, Any] = {**CLIENT_TIMEOUTS, "db": db, **options}
    if password:
        connection["password"] = password
    if username:
        connection["username"] = username
    # check_connection: PING a fresh connection, so a master that accepts TCP but does not answer is caught.
    return manager.master_for(service_name, check_connection=True, **connection)


def broker_connection_options(
    url: str, sentinels: str = "", service_name: str = "", *, password: str = "", sentinel_password: str = ""
) -> dict[str, Any]:
    """The connection part of the Dramatiq broker's OPTIONS: `{"url": ...}`, or with
    `sentinels` set `{"client": <Sentinel master client>}` (database and credentials
    still come from `url`; `password` overrides the URL's)."""
    if not sentinels:
        return {"url": url_with_timeouts(url)}
    if not service_name:
        raise RedisConfigError("REDIS_SENTINELS is set: REDIS_SENTINEL_MASTER must name the monitored service")
    credentials = _url_credentials(url)
    if password:
        credentials["password"] = password
    return {
        "client": sentinel_client(
            parse_sentinels(sentinels), service_name, sentinel_password=sentinel_password or None, **credentials
        )
    }
