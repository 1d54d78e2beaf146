"""A real redis-server on a free loopback port for the fleet tests (Debian `redis-server`).

It keeps an append-only file in its own directory, so `stop()` + `start()` is a Redis restart
that keeps the streams, as a production Redis with persistence does. ACL users for the tests
are set with `acl()`. With `tls=True` it listens on TLS only (certificates made with openssl
at start, clients not asked for one): `url` is then rediss:// and `ca` the CA to trust.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

try:
    from processes import end, spawn
except ImportError:  # imported as tests.redis_helpers
    from tests.processes import end, spawn

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(
        self, workdir: Path, *, port: int | None = None, tls: bool = False, cluster: bool = False
    ) -> None:
        assert shutil.which(REDIS_SERVER), "redis-server is missing: scripts/install-test-deps.sh"
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin_password = "admin-secret-for-tests"
        self.tls = tls
        self.cluster = cluster
        self.bus_port = free_port() if cluster else 0
        self.certs: dict[str, Path] = {}
        if tls:
            from tests.certs import make_certs

            self.certs = make_certs(self.dir / "certs")

    @property
    def ca(self) -> Path:
        return self.certs["ca"]

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        listen = ["--port", str(self.port)]
        if self.tls:
            listen = [
                "--port", "0", "--tls-port", str(self.port),
                "--tls-cert-file", str(self.certs["cert"]),
                "--tls-key-file", str(self.certs["key"]),
                "--tls-ca-cert-file", str(self.certs["ca"]),
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        if self.cluster:
            listen += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.dir / "nodes.conf"),
                "--cluster-port", str(self.bus_port),
                "--cluster-node-timeout", "5000",
            ]  # fmt: skip
        self.proc = spawn(
            [
                REDIS_SERVER,
                *listen,
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--aclfile", str(self._aclfile()),
                "--daemonize", "no",
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        up = False
        try:
            while not up and time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    up = bool(self.admin(timeout=1.0).ping())
                except (redis.ConnectionError, redis.TimeoutError):
                    time.sleep(0.05)
        finally:
            if not up:
                self.stop()  # never left running by a start that failed (whatever failed)
        if up:
            return self
        log = self.dir / "redis.log"
        raise RuntimeError(f"redis-server did not start: {log.read_text() if log.exists() else ''}")

    def _aclfile(self) -> Path:
        path = self.dir / "users.acl"
        if not path.exists():
            path.write_text(f"user default on >{self.admin_password} ~* &* +@all\n")
        return path

    def admin(self, timeout: float | None = None) -> redis.Redis:
        tls = {"ssl": True, "ssl_ca_certs": str(self.ca)} if self.tls else {}
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=timeout,
            password=self.admin_password,
            decode_responses=True,
            protocol=2,
            **tls,  # type: ignore[arg-type]
        )

    def acl(self, lines: list[str]) -> None:
        """Apply ACL SETUSER rule lines and save them to the ACL file (kept across restarts)."""
        r = self.admin()
        for line in lines:
            parts = line.split()
            assert parts[:2] == ["ACL", "SETUSER"], line
            r.execute_command(*parts)
        r.execute_command("ACL", "SAVE")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis writes its append-only file and exits (SIGKILL
        if it has not within 10 s)."""
        if self.proc is not None:
            end(self.proc)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisClusterServers:
    """A Redis Cluster of `n` primaries (no replicas) on loopback, made with Debian's
    redis-server and `redis-cli --cluster create`; the slots are split evenly in node order."""

    def __init__(self, workdir: Path, n: int = 3) -> None:
        self.nodes = [RedisServer(workdir / f"node{i}", cluster=True) for i in range(n)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisClusterServers:
        try:
            return self._start()
        except BaseException:
            self.stop()  # no node left running by a cluster that did not come up
            raise

    def _start(self) -> RedisClusterServers:
        for node in self.nodes:
            node.start()
        password = self.nodes[0].admin_password
        subprocess.run(
            ["redis-cli", "--no-auth-warning", "-a", password, "--cluster", "create"]
            + [f"127.0.0.1:{node.port}" for node in self.nodes]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [str(n.admin().execute_command("CLUSTER", "INFO")) for n in self.nodes]
            if all("cluster_state:ok" in s for s in states):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the cluster did not come up: {states}")

    def node_of(self, key: str) -> int:
        """Which node (index in `nodes`) serves `key`'s hash slot."""
        r = self.nodes[0].admin()
        slot = int(r.execute_command("CLUSTER", "KEYSLOT", key))
        ports = {node.port: i for i, node in enumerate(self.nodes)}
        for lo, hi, primary, *_ in r.execute_command("CLUSTER", "SLOTS"):
            if int(lo) <= slot <= int(hi):
                return ports[int(primary[1])]
        raise AssertionError(f"no node serves slot {slot}")

    def acl(self, lines: list[str]) -> None:
        for node in self.nodes:
            node.acl(lines)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
