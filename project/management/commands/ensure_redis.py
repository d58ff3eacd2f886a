"""Make sure a Redis server answers at REDIS_URL, starting (and installing) one if not."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except redis.RedisError:
        return False


class Command(BaseCommand):
    help = "Start a local redis-server when none answers at REDIS_URL (installing Debian's package if missing)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default=settings.REDIS_URL)
        parser.add_argument("--appendonly", action="store_true", help="Start it with AOF persistence on.")

    def handle(self, url: str, appendonly: bool, **options) -> None:
        if redis_answers(url):
            self.stdout.write(f"Redis answers at {url}")
            return
        parts = urlsplit(url)
        if parts.hostname not in LOOPBACK:
            raise CommandError(f"No Redis answers at {url}, and it is not on this machine to start.")
        server = shutil.which("redis-server") or self._install()
        data_dir = Path(settings.BASE_DIR) / "var" / f"redis-{parts.port or 6379}"
        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                server,
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                str(parts.port or 6379),
                "--save",
                "",
                "--appendonly",
                "yes" if appendonly else "no",
                "--dir",
                str(data_dir),
                "--logfile",
                str(data_dir / "redis.log"),
            ],
            check=True,
        )
        for _ in range(50):
            if redis_answers(url):
                self.stdout.write(f"Started redis-server for {url} (data in {data_dir})")
                return
            time.sleep(0.2)
        raise CommandError(f"redis-server did not answer at {url}; see {data_dir / 'redis.log'}")

    def _install(self) -> str:
        if not shutil.which("apt-get"):
            raise CommandError("redis-server is not installed and apt-get is not available to install it.")
        self.stdout.write("Installing Debian's redis-server package...")
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True)
        return shutil.which("redis-server") or "/usr/bin/redis-server"
