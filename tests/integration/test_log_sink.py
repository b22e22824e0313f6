"""The agent's log sink on real unix sockets: a datagram, or a line of a ring's stream,
becomes one line of its stream's file, files rotate at their bound, deep directories work,
a killed agent's socket is taken over, a real haproxy's lines land in the right file, and
through rings none is lost in a burst or while the agent restarts."""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import socket
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pytest

from portico.agent.log_sink import LogSink
from portico.render import log_lines
from portico.render.log_lines import LogOptions
from tests.support.processes import free_port
from tests.support.waiting import wait_for

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


async def _until(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    """Poll ``predicate`` while the sink's loop runs, until true or the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met")
        await asyncio.sleep(0.01)


def _send(base: Path, name: str, data: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.sendto(data, str(base / "run" / f"{name}.sock"))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _ends_with(path: Path, prefix: str) -> bool:
    lines = _lines(path)
    return bool(lines) and lines[-1].startswith(prefix)


def test_each_datagram_is_one_line_of_its_streams_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        sink = LogSink(tmp_path)
        sink.start()
        try:
            _send(tmp_path, "tenant", b"2026-12-02T10:00:00+00:00 flow one\n")
            _send(tmp_path, "tenant", b"flow\ntwo\r\x00")
            _send(tmp_path, "admin", b"server x is DOWN\n")
            await _until(lambda: len(_lines(tmp_path / "log" / "tenant.log")) == 2)
            await _until(lambda: _lines(tmp_path / "log" / "admin.log"))
        finally:
            sink.close()

    asyncio.run(scenario())
    assert _lines(tmp_path / "log" / "tenant.log") == [
        "2026-12-02T10:00:00+00:00 flow one",
        "flow two ",
    ]
    assert _lines(tmp_path / "log" / "admin.log") == ["server x is DOWN"]


def test_a_file_past_its_bound_becomes_dot_one_and_a_new_one_starts(tmp_path: Path) -> None:
    log = tmp_path / "log"

    async def scenario() -> None:
        sink = LogSink(tmp_path, max_bytes=1000)
        sink.start()
        try:
            for n in range(25):  # 100-byte lines, each waited for: ten fit in a file
                _send(tmp_path, "tenant", f"{n:03d}".encode() + b"x" * 96 + b"\n")
                await _until(partial(_ends_with, log / "tenant.log", f"{n:03d}"))
        finally:
            sink.close()

    asyncio.run(scenario())
    assert [line[:3] for line in _lines(log / "tenant.log")] == [f"{n:03d}" for n in range(20, 25)]
    assert [line[:3] for line in _lines(log / "tenant.log.1")] == [
        f"{n:03d}" for n in range(10, 20)
    ]
    assert not (log / "tenant.log.2").exists()


def test_a_directory_deeper_than_a_socket_path_allows_works(tmp_path: Path) -> None:
    base = tmp_path / ("d" * 60) / ("e" * 60)

    async def scenario() -> None:
        sink = LogSink(base)
        sink.start()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
                fd = os.open(base / "run", os.O_PATH | os.O_DIRECTORY)
                try:
                    client.sendto(b"deep\n", f"/proc/self/fd/{fd}/admin.sock")
                finally:
                    os.close(fd)
            await _until(lambda: _lines(base / "log" / "admin.log") == ["deep"])
        finally:
            sink.close()

    asyncio.run(scenario())


def test_a_socket_left_by_a_killed_agent_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(tmp_path / "run" / "tenant.sock"))
    stale.close()  # the file stays, as after a SIGKILL

    async def scenario() -> None:
        sink = LogSink(tmp_path)
        sink.start()
        try:
            _send(tmp_path, "tenant", b"after restart\n")
            await _until(lambda: _lines(tmp_path / "log" / "tenant.log") == ["after restart"])
        finally:
            sink.close()

    asyncio.run(scenario())


@pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy is not installed")
def test_real_haproxy_lines_go_to_the_file_of_their_stream(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "haproxy.cfg").write_text(
        "global\n"
        "    log unix@run/tenant.sock len 8192 format rfc5424 local0\n"
        "    log unix@run/admin.sock len 8192 format rfc5424 local1 notice\n"
        "defaults\n    log global\n    mode http\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n"
        f'frontend f\n    bind 127.0.0.1:{port}\n    log-format "flow %ST %r"\n'
        "    default_backend b\n"
        f"backend b\n    server dead 127.0.0.1:{free_port()} check inter 200ms fall 1\n"
    )

    async def scenario() -> None:
        sink = LogSink(tmp_path)
        sink.start()
        proc = await asyncio.create_subprocess_exec(HAPROXY, "-f", "haproxy.cfg", cwd=tmp_path)
        try:
            await _until(
                lambda: any("is DOWN" in m for m in _lines(tmp_path / "log" / "admin.log"))
            )
            await asyncio.to_thread(_get, port)
            await _until(lambda: _lines(tmp_path / "log" / "tenant.log"))
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
            sink.close()

    asyncio.run(scenario())
    tenant = _lines(tmp_path / "log" / "tenant.log")
    assert [line for line in tenant if line.endswith("flow 503 GET /probe HTTP/1.1")]
    assert tenant[0][:4].isdigit() and "T" in tenant[0].split(" ")[0]  # ISO timestamp
    assert not [m for m in _lines(tmp_path / "log" / "admin.log") if "flow " in m]


def _get(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while conn.recv(4096):
            pass


def test_each_line_of_a_ring_connection_is_one_message(tmp_path: Path) -> None:
    async def scenario() -> None:
        sink = LogSink(tmp_path)
        sink.start()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ring:
                ring.connect(str(tmp_path / "run" / "tenant.ring"))
                ring.sendall(b"one\ntw")  # a line split across reads is joined
                await _until(lambda: _lines(tmp_path / "log" / "tenant.log") == ["one"])
                ring.sendall(b"o\nthree\nfou")
                await _until(lambda: len(_lines(tmp_path / "log" / "tenant.log")) == 3)
            # The connection closed mid-line: what came is kept.
            await _until(lambda: len(_lines(tmp_path / "log" / "tenant.log")) == 4)
        finally:
            sink.close()

    asyncio.run(scenario())
    assert _lines(tmp_path / "log" / "tenant.log") == ["one", "two", "three", "fou"]


def _ring_config(port: int) -> str:
    options = LogOptions()
    lines = log_lines.global_lines(options, rings=True)
    rings = log_lines.ring_sections(options, rings=True)
    return (
        "global\n" + _indented(lines) + "defaults\n    log global\n    mode http\n"
        "    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n"
        + "".join(f"ring {ring.name}\n" + _indented(ring.lines) for ring in rings)
        + f'frontend f\n    bind 127.0.0.1:{port}\n    log-format "flow %r"\n'
        "    http-request return status 200 content-type text/plain string ok\n"
    )


def _indented(lines: Sequence[str]) -> str:
    return "".join(f"    {line}\n" for line in lines)


def _burst(port: int, *, clients: int, each: int) -> None:
    """``clients`` keep-alive connections sending ``each`` requests at once, bounded."""

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(each):
            conn.request("GET", "/burst")
            assert conn.getresponse().read() == b"ok"
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


@pytest.mark.skipif(not Path(HAPROXY).exists(), reason="haproxy is not installed")
def test_rings_lose_no_line_of_a_burst_nor_while_the_agent_restarts(tmp_path: Path) -> None:
    # A datagram socket queues ten lines and haproxy drops the rest; this burst, with the
    # sink sharing its process with the clients, lost lines that way.
    port = free_port()
    (tmp_path / "haproxy.cfg").write_text(_ring_config(port))
    tenant = tmp_path / "log" / "tenant.log"

    def flows() -> int:
        return sum(1 for line in _lines(tenant) if line.endswith("flow GET /burst HTTP/1.1"))

    async def scenario() -> None:
        sink = LogSink(tmp_path)
        sink.start()
        proc = await asyncio.create_subprocess_exec(HAPROXY, "-f", "haproxy.cfg", cwd=tmp_path)
        try:
            await asyncio.to_thread(wait_for, lambda: _answers(port), timeout=10)
            await asyncio.to_thread(_burst, port, clients=8, each=250)
            await _until(lambda: flows() >= 2000, seconds=10)
            sink.close()  # the agent is away: the ring holds what comes meanwhile
            await asyncio.to_thread(_burst, port, clients=2, each=50)
            sink = LogSink(tmp_path)
            sink.start()
            await _until(lambda: flows() >= 2100, seconds=15)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
            sink.close()

    asyncio.run(scenario())
    assert flows() == 2100


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
