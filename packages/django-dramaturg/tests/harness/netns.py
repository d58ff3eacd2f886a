"""Separate network hosts on one machine: Linux network namespaces on a bridge of the test's own.

Each host is a namespace with one veth whose other end sits on a bridge in the root namespace;
the bridge carries the only address of the test's /24 outside the namespaces (10.77.<k>.1,
where Redis and the SMTP sink listen). Nothing is routed anywhere else: the namespaces have no
default route, and every address used is one of these interfaces or loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from harness.smtp_sink import SmtpSink


class NetnsUnavailable(Exception):
    """Why this machine cannot run network namespaces (the test skips with it)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=15)


def unavailable_reason() -> str | None:
    """None if namespaces, veths and bridges can be made here; else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: iproute2, util-linux)"
    probe = f"djqprobe{os.getpid()}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _free_subnet() -> int:
    """A third octet k such that no interface on this machine has an address in 10.77.k.0/24."""
    used = _ip("-o", "-4", "addr", "show").stdout
    start = 20 + os.getpid() % 200
    for offset in range(235):
        k = (start + offset) % 235 + 20
        if f"10.77.{k}." not in used:
            return k
    raise NetnsUnavailable("no free 10.77.x.0/24")


@dataclass
class Host:
    name: str  # also its hostname, as the dashboard shows it
    namespace: str
    address: str
    veth: str  # the root-namespace end: set it down to cut the host off

    def command(self, args: list[str]) -> list[str]:
        """`args` run inside this host: its network namespace and a UTS namespace with its own hostname."""
        return [
            "ip",
            "netns",
            "exec",
            self.namespace,
            "unshare",
            "--uts",
            "sh",
            "-c",
            f'hostname {self.name} && exec "$@"',
            "sh",
            *args,
        ]

    def cut(self) -> None:
        """Pull the cable: the link goes down, nothing in flight arrives (no reset, no FIN)."""
        _ip("link", "set", self.veth, "down")


@dataclass
class Lan:
    """A bridge in the root namespace and one namespace per host, created by `up`, removed by `down`."""

    host_names: list[str]
    tag: str = field(default_factory=lambda: str(os.getpid() % 100_000))
    hosts: dict[str, Host] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bridge = f"dq{self.tag}br"
        self.subnet = 0
        self._namespaces: list[str] = []
        self._links: list[str] = []

    @property
    def gateway(self) -> str:
        """The root namespace's address on the LAN (the bridge): where Redis and SMTP listen."""
        return f"10.77.{self.subnet}.1"

    def up(self) -> Lan:
        self.subnet = _free_subnet()
        _ip("link", "add", self.bridge, "type", "bridge")
        self._links.append(self.bridge)
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for n, name in enumerate(self.host_names):
            namespace, veth = f"djq{self.tag}-{name}", f"dq{self.tag}h{n}"
            _ip("netns", "add", namespace)
            self._namespaces.append(namespace)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            self._links.append(veth)
            _ip("link", "set", veth, "master", self.bridge, "up")
            address = f"10.77.{self.subnet}.{10 + n}"
            for args in (
                ["addr", "add", f"{address}/24", "dev", "eth0"],
                ["link", "set", "eth0", "up"],
                ["link", "set", "lo", "up"],
            ):
                _ip("-n", namespace, *args)
            self.hosts[name] = Host(name, namespace, address, veth)
        return self

    def down(self) -> None:
        """Remove every namespace (and with it its veth pair) and the bridge; safe to call twice."""
        for namespace in self._namespaces:
            _ip("netns", "del", namespace, check=False)
        for link in reversed(self._links):
            _ip("link", "del", link, check=False)  # already gone with its namespace's end: fine
        self._namespaces, self._links = [], []


class LanSmtpSink(SmtpSink):
    """The recording SMTP server, listening on a LAN address instead of loopback."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self.handler, hostname=self.host, port=self.port)
            self._controller.start()
