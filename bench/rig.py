"""What the amphora benchmarks share: fast loopback backends and a real ``portico serve``.

Backends are one haproxy process answering each port with its own name through
``http-request return``: far faster than any Python server, so the figures measure the load
balancer and not the backends. ``portico serve`` runs with the amphora provider and the local
compute driver on a temporary data directory and SQLite. Everything started here is stopped by
pid (the amphorae through the data directory's pid files), never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

BIN = Path(sys.executable).parent
SUBNET = "9f4c6a58-2f6e-4c55-9a35-7d1c0e7b0a01"
STARTUP_DEADLINE = 60.0
PG_ADMIN = os.environ.get(
    "PORTICO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@contextlib.contextmanager
def postgres_database(admin_url: str = PG_ADMIN, *, prefix: str = "portico_bench") -> Iterator[str]:
    """A new empty PostgreSQL database on ``admin_url``'s server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class Backend:
    name: str
    port: int
    address: str = "127.0.0.1"

    def member(self) -> dict[str, object]:
        return {"address": self.address, "protocol_port": self.port}


def wait_port(port: int, *, host: str = "127.0.0.1", deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.01)


@contextlib.contextmanager
def haproxy(config: str, workdir: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """One haproxy in the foreground on ``config``; stopped by pid."""
    path = workdir / f"{name}.cfg"
    path.write_text(config)
    with (workdir / f"{name}.log").open("ab") as log:
        # Its own session, as the agent starts haproxy: with the kernel's autogroup
        # scheduling a session is a scheduling group, and a proxy sharing wrk's group would
        # be scheduled differently from the one under test on a busy machine.
        proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(path)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def backends(names: list[str], workdir: Path) -> Iterator[list[Backend]]:
    """Backends named ``names``, each answering 200 with its name, keep-alive."""
    found = [Backend(name, free_port()) for name in names]
    lines = [
        "global",
        "    maxconn 4000",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
    ]
    for backend in found:
        lines += [
            f"frontend {backend.name}",
            f"    bind {backend.address}:{backend.port}",
            f"    http-request return status 200 content-type text/plain string {backend.name}",
        ]
    with haproxy("\n".join(lines) + "\n", workdir, "backends"):
        for backend in found:
            wait_port(backend.port)
        yield found


@dataclass
class Serve:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def serve(data_dir: Path, settings: dict[str, str] | None = None) -> Iterator[Serve]:
    """``portico serve`` with real amphorae; stopped with every amphora it booted.

    ``settings`` are extra ``PORTICO_*`` settings by name (``{"spares_pool_size": "1"}``).
    """
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    env |= {"PORTICO_DEFAULT_PROVIDER_DRIVER": "amphora", "PORTICO_COMPUTE_DRIVER": "local"}
    env |= {f"PORTICO_{name.upper()}": value for name, value in (settings or {}).items()}
    args = [str(BIN / "portico"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data_dir)]
    with (data_dir / "serve.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = Serve(f"http://127.0.0.1:{port}", data_dir, proc)
    try:
        end = time.monotonic() + STARTUP_DEADLINE
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"portico serve exited; see {data_dir / 'serve.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.url + "/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > end:
                raise RuntimeError("portico serve did not start")
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reap_amphorae(data_dir)


def reap_amphorae(data_dir: Path) -> None:
    """SIGTERM each agent and haproxy master named by a pid file under ``data_dir`` (the
    local driver's compute zones, ``zones/<zone>/<id>``, included)."""
    bases = [*(data_dir / "amphorae").glob("*/"), *(data_dir / "zones").glob("*/*/")]
    pids = []
    for path in [p for b in bases for p in (b / "agent.pid", b / "haproxy/run/haproxy.pid")]:
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(path.read_text().split()[0]))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def wait_active(client: httpx.Client, lb_id: str, *, deadline: float = 60.0) -> dict[str, object]:
    end = time.monotonic() + deadline
    while True:
        lb: dict[str, object] = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()[
            "loadbalancer"
        ]
        if lb["provisioning_status"] == "ACTIVE":
            return lb
        if lb["provisioning_status"] == "ERROR" or time.monotonic() > end:
            raise RuntimeError(f"load balancer {lb_id}: {lb['provisioning_status']}")
        time.sleep(0.01)
