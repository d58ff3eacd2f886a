"""The broker's Redis client and the store's Lua scripts, registered once per client."""

from __future__ import annotations

import weakref
from functools import cache
from pathlib import Path
from typing import Any

import dramatiq
import redis
from redis.commands.core import Script

LUA_DIR = Path(__file__).parent / "lua"

_scripts: weakref.WeakKeyDictionary[redis.Redis, dict[str, Script]] = weakref.WeakKeyDictionary()


def client() -> redis.Redis:
    """The broker's own Redis client (and connection pool)."""
    return dramatiq.get_broker().client  # type: ignore[attr-defined]  # the Redis broker's


def text(value: bytes | str) -> str:
    """A key, member or field read from Redis as text (the broker's client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


@cache
def lua_source(name: str) -> str:
    """The text of `lua/<name>.lua`, read once."""
    return (LUA_DIR / f"{name}.lua").read_text()


def script(name: str, conn: redis.Redis | None = None) -> Script:
    """`lua/<name>.lua` registered on `conn` (default: the broker's client), once per client.

    Calls go by EVALSHA; redis-py loads the script again only if Redis lost it
    (a restart), and a pipeline checks for it once per execute."""
    conn = conn if conn is not None else client()
    per_client = _scripts.setdefault(conn, {})
    if name not in per_client:
        per_client[name] = conn.register_script(lua_source(name))
    return per_client[name]


def run_readonly(name: str, keys: list[str], args: list, conn: redis.Redis | None = None) -> Any:
    """Run `lua/<name>.lua`, a script that only reads, by EVALSHA_RO: pages that read through it
    send no command that may write (loading the script once if Redis lost it)."""
    conn = conn if conn is not None else client()
    registered = script(name, conn)
    try:
        return conn.evalsha_ro(registered.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        conn.script_load(registered.script)
        return conn.evalsha_ro(registered.sha, len(keys), *keys, *args)
