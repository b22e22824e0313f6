"""Real ``portico`` processes for tests that need them: free loopback port, own data directory,
readiness polled with a deadline, stopped (or SIGKILLed) by pid and never by name.

Tests that prove crash safety or cross-process locking cannot use the in-process client: the
point is a process that dies, or two that race. Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.waiting import wait_for

BIN = Path(sys.executable).parent
STARTUP_DEADLINE = 60.0


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port free on 127.0.0.1 now (TCP by default; ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _test_defaults() -> dict[str, str]:
    """Noop provider unless a test asks for amphorae; each process its own health port."""
    return {**TEST_DEFAULTS, "PORTICO_HEALTH_BIND_PORT": str(free_port(socket.SOCK_DGRAM))}


@dataclass
class PorticoProcess:
    """One running ``portico <command>``; ``log`` holds its stdout and stderr."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook, no lifespan exit, no commit of anything in flight."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# API tests run on the noop provider; amphora tests ask for ``amphora`` explicitly, so only
# they boot haproxy.
TEST_DEFAULTS = {"PORTICO_DEFAULT_PROVIDER_DRIVER": "noop"}


def start_portico(
    command: str,
    *,
    data_dir: Path,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    log_name: str | None = None,
    startup_timeout: float = STARTUP_DEADLINE,
) -> PorticoProcess:
    """Start ``portico serve|api`` on a free loopback port and wait until ``GET /`` answers."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    full_env = {**clean, **_test_defaults(), **(env or {})}
    args = [str(BIN / "portico"), command, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--data-dir", str(data_dir)]
    if database_url:
        args += ["--database-url", database_url]
    log = data_dir / (log_name or f"{command}-{port}.log")
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    server = PorticoProcess(proc=proc, url=f"http://127.0.0.1:{port}", log=log)
    try:
        wait_ready(server, timeout=startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: PorticoProcess, *, timeout: float = STARTUP_DEADLINE) -> None:
    """Until ``server`` answers ``GET /``; its output is in the error if it exits or never does."""

    def ready() -> bool:
        if not server.alive():
            raise RuntimeError(f"portico exited ({server.proc.returncode}):\n{server.output()}")
        try:
            return httpx.get(server.url + "/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout=timeout, interval=0.05)
    except AssertionError as exc:
        raise RuntimeError(f"portico did not answer within {timeout}s:\n{server.output()}") from exc


def start_controller(
    *, data_dir: Path, database_url: str, env: dict[str, str] | None = None
) -> PorticoProcess:
    """``portico controller`` (the reconciler alone); it has no port, so no readiness probe."""
    data_dir.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    log = data_dir / "controller.log"
    args = [str(BIN / "portico"), "controller", "--database-url", database_url]
    args += ["--data-dir", str(data_dir)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**clean, **_test_defaults(), **(env or {})},
        )
    return PorticoProcess(proc=proc, url="", log=log)
