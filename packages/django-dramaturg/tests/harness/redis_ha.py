"""A Redis primary, a replica and three sentinels on loopback, as real processes the test can kill."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import redis

from harness.processes import RedisServer, wait_for

SERVICE = "ha"


class Sentinel(RedisServer):
    """A redis-server in sentinel mode, configured by `config` (the `sentinel ...` lines)."""

    def __init__(self, directory: Path, config: str):
        super().__init__(directory)
        self.config = config

    def command(self) -> list[str]:
        conf = self.directory / "sentinel.conf"  # a sentinel rewrites its own config file
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\nlogfile {self.log_path}\n" + self.config
        )
        return ["redis-server", str(conf), "--sentinel"]


class SentinelGroup:
    """Primary, replica and three sentinels (quorum 2) with short timeouts, so a failover takes seconds."""

    def __init__(self, directory: Path, *, down_after_ms: int = 1000, failover_timeout_ms: int = 3000):
        self.primary = RedisServer(directory / "primary", appendfsync="everysec")
        self.replica = RedisServer(directory / "replica", appendfsync="everysec")
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.directory = directory
        self.sentinels: list[Sentinel] = []

    @property
    def sentinels_setting(self) -> str:
        """The value of REDIS_SENTINELS."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def start(self) -> SentinelGroup:
        self.primary.start()
        self.replica.options += ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.replica.start()
        wait_for(
            lambda: self.replica.client().info("replication").get("master_link_status") == "up",
            15,
            what="the replica to sync",
        )
        config = (
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.sentinels = [Sentinel(self.directory / f"sentinel{n}", config).start() for n in range(3)]

        def settled() -> bool:
            # Every sentinel knows the replica and the two other sentinels, so a failover can be agreed.
            try:
                return all(
                    len(cast(list, s.client().sentinel_slaves(SERVICE))) == 1
                    and len(cast(list, s.client().sentinel_sentinels(SERVICE))) == 2
                    for s in self.sentinels
                )
            except redis.RedisError:
                return False

        wait_for(settled, 30, interval=0.2, what="the sentinels to discover the replica and each other")
        return self

    def master_port(self) -> int | None:
        """The master's port as the sentinels' majority sees it."""
        ports = []
        for sentinel in self.sentinels:
            try:
                address = cast(tuple, sentinel.client().sentinel_get_master_addr_by_name(SERVICE))
            except redis.RedisError:
                continue
            if address:
                ports.append(int(address[1]))
        for port in set(ports):
            if ports.count(port) >= 2:
                return port
        return None

    def wait_for_promotion(self, timeout: float = 30) -> float:
        """Wait until the sentinels name the replica master and it acts as one; the monotonic time it did."""

        def promoted() -> bool:
            if self.master_port() != self.replica.port:
                return False
            try:
                return self.replica.client().info("replication").get("role") == "master"
            except redis.RedisError:
                return False

        try:
            wait_for(promoted, timeout, interval=0.05, what="the sentinels to promote the replica")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log_tail()}") from None
        return time.monotonic()

    def log_tail(self, lines: int = 25) -> str:
        """The end of each sentinel's log: what they saw and decided."""
        return "\n".join(
            f"--- {s.name}\n" + "\n".join(s.log_path.read_text(errors="replace").splitlines()[-lines:])
            for s in self.sentinels
        )

    def stop(self) -> None:
        """Teardown: every node killed (nothing of theirs is looked at afterwards)."""
        for node in [*self.sentinels, self.replica, self.primary]:
            node.kill()
