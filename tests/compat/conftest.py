"""One real ``portico serve`` for the whole compat suite, and helpers that drive the unmodified
``openstack`` CLI (as a subprocess) and openstacksdk against it.

The point of this suite is what a user of the stock clients sees, so nothing here talks to
portico in-process: the server is a child process on a free loopback port with its own data
directory, and the CLI is the installed console script with no Keystone (``--os-auth-type
none``). Each CLI call pays ~1-2 s of start-up, so tests group assertions and run independent
calls side by side with :func:`Osc.many`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.support.processes import PorticoProcess, start_portico

BIN = Path(sys.executable).parent
CLI_TIMEOUT = 120.0
LOCAL_SUBNET = "9f4c6a58-2f6e-4c55-9a35-7d1c0e7b0a01"
LOCAL_NETWORK = "5b7b4e1c-8a0b-4a59-b3f3-2c9d8f4e6a02"


# Every compat module sets this: one shared server, so one xdist worker (--dist loadgroup).
COMPAT = [pytest.mark.compat, pytest.mark.xdist_group("compat")]


# The compat server is the same real process the e2e tests start; tests type it as Server.
Server = PorticoProcess


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """``portico serve`` on a free loopback port; stopped (by pid) and wiped at the end."""
    tmp = Path(tempfile.mkdtemp(prefix="portico-compat-"))
    srv: Server | None = None
    try:
        # The port is free when picked but another process may take it first: retry then.
        for attempt in range(3):
            try:
                srv = start_portico("serve", data_dir=tmp / "data", startup_timeout=90.0)
                break
            except RuntimeError as error:
                if "address already in use" not in str(error).lower() or attempt == 2:
                    pytest.fail(str(error))
        assert srv is not None
        yield srv
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


class CliError(AssertionError):
    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"openstack {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-3000:]}"
        )
        self.stderr = result.stderr
        self.stdout = result.stdout


def _parse(stdout: str) -> Any:
    return json.loads(stdout) if stdout.strip() else None


class Osc:
    """``openstack --os-auth-type none --os-endpoint URL loadbalancer …`` as a subprocess.

    Commands that print something get ``-f json`` (pass ``json=False`` for the ones that
    print nothing, like ``set`` and ``delete``) and return the parsed output.
    """

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        # No user clouds.yaml or cache may change what the CLI does.
        env["HOME"] = str(home)
        env["OS_CLIENT_CONFIG_FILE"] = str(home / "no-clouds.yaml")
        self.env = env

    def argv(self, args: Sequence[str], *, json: bool) -> list[str]:
        base = [str(BIN / "openstack"), "--os-auth-type", "none", "--os-endpoint", self.url]
        return [*base, "loadbalancer", *args, *(["-f", "json"] if json else [])]

    def _popen(self, args: Sequence[str], *, json: bool) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(args, json=json),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def _finish(
        self, args: Sequence[str], proc: subprocess.Popen[str], *, ok: bool
    ) -> subprocess.CompletedProcess[str]:
        try:
            stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        if ok and result.returncode != 0:
            raise CliError(args, result)
        return result

    def __call__(self, *args: str, json: bool = True) -> Any:
        """Run one command; raise :class:`CliError` unless it succeeds."""
        return _parse(self._finish(args, self._popen(args, json=json), ok=True).stdout)

    def fails(self, *args: str, json: bool = True) -> str:
        """Run one command that must fail; return its stderr."""
        result = self._finish(args, self._popen(args, json=json), ok=False)
        assert result.returncode != 0, f"openstack {' '.join(args)} succeeded: {result.stdout}"
        return result.stderr

    def many(self, *commands: Sequence[str]) -> list[Any]:
        """Run independent commands side by side (two cores: two at a time).

        Wrap a command in :class:`Plain` when it prints JSON by itself (no ``-f json``).
        """
        results: list[Any] = []
        for start in range(0, len(commands), 2):
            batch = [
                (c, self._popen(c, json=not isinstance(c, Plain)))
                for c in commands[start : start + 2]
            ]
            results.extend(_parse(self._finish(c, p, ok=True).stdout) for c, p in batch)
        return results


class Plain(tuple[str, ...]):
    """A command for :meth:`Osc.many` that takes no ``-f json`` (``set``, ``status show``)."""

    __slots__ = ()

    def __new__(cls, line: str) -> Plain:
        return super().__new__(cls, shlex.split(line))


def cli(line: str) -> list[str]:
    """``"pool show ID"`` -> ``["pool", "show", "ID"]`` (shell quoting rules)."""
    return shlex.split(line)


@pytest.fixture(scope="session")
def osc(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Osc:
    return Osc(server.url, tmp_path_factory.mktemp("cli-home"))


@pytest.fixture(scope="session")
def sdk(server: Server) -> Iterator[Any]:
    import openstack

    conn = openstack.connect(
        auth_type="none",
        auth={"endpoint": server.url},
        load_balancer_endpoint_override=server.url,
    )
    yield conn
    conn.close()


def api(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A raw HTTP call (what the curl examples of the README do)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def wait_lb_active(server: Server, lb_id: str) -> None:
    def active() -> bool:
        _, body = api(server, "GET", f"/v2/lbaas/loadbalancers/{lb_id}")
        return bool(body["loadbalancer"]["provisioning_status"] == "ACTIVE")

    wait_for(active, timeout=30)


def unique(prefix: str) -> str:
    """Names unique across the session (tests share one server and one database)."""
    return f"{prefix}-{os.urandom(3).hex()}"


def make_lb(server: Server, name: str | None = None) -> str:
    """An ACTIVE load balancer on the local subnet, made with plain HTTP (fast set-up)."""
    body = {"loadbalancer": {"name": name or unique("lb"), "vip_subnet_id": LOCAL_SUBNET}}
    status, created = api(server, "POST", "/v2/lbaas/loadbalancers", body)
    assert status == 201, created
    lb_id = str(created["loadbalancer"]["id"])
    wait_lb_active(server, lb_id)
    return lb_id


def delete_lb(server: Server, lb_id: str) -> None:
    """Cascade-delete a load balancer a test made, whatever it still holds."""
    status, body = api(server, "DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    assert status in (204, 404), body


def get(server: Server, path: str) -> Any:
    """GET ``/v2/lbaas`` + ``path`` over plain HTTP: a cheap check after a CLI change."""
    status, body = api(server, "GET", "/v2/lbaas" + path)
    assert status == 200, body
    return body
