"""How the Redis client is built from the settings: the URL path keeps its timeouts, Sentinel settings are checked."""

from __future__ import annotations

import pytest
from redis.sentinel import SentinelConnectionPool

from dramaturg.redis_connection import RedisConfigError, broker_connection_options, parse_sentinels


def test_the_url_path_adds_timeouts_and_health_checks_unless_the_url_sets_them():
    options = broker_connection_options("redis://127.0.0.1:6379/3?socket_timeout=5")
    assert set(options) == {"url"}
    assert "socket_timeout=5" in options["url"] and "socket_connect_timeout=2" in options["url"]
    assert "health_check_interval=15" in options["url"]


def test_sentinels_are_parsed_and_bad_ones_are_named():
    assert parse_sentinels(" 10.0.0.1:26379, [::1]:26380,") == [("10.0.0.1", 26379), ("::1", 26380)]
    with pytest.raises(RedisConfigError, match="'sentinel-a' is not host:port"):
        parse_sentinels("sentinel-a")
    with pytest.raises(RedisConfigError, match="names no sentinel"):
        parse_sentinels(" , ")
    with pytest.raises(RedisConfigError, match="REDIS_SENTINEL_MASTER"):
        broker_connection_options("redis://x/0", "127.0.0.1:26379", "")


def test_under_sentinel_the_url_gives_database_and_credentials_and_the_timeouts_stay():
    client = broker_connection_options("redis://app:s%40cret@ignored:1/4", "127.0.0.1:26379", "main")["client"]
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "main"
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["username"], kwargs["password"]) == (4, "app", "s@cret")
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"], kwargs["health_check_interval"]) == (2, 10, 15)
    overridden = broker_connection_options("redis://:old@x/0", "127.0.0.1:26379", "main", password="new")["client"]
    assert overridden.connection_pool.connection_kwargs["password"] == "new"
