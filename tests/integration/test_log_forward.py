"""The agent's log forwarding against real syslog receivers on 127.0.0.1: a TCP target that
goes away and comes back on the same port gets the lines queued meanwhile (up to
``log_queue_size``, the rest dropped and counted), retries that run out drop the line they
were for when no target is behind it, and hand every queued line on to the next target when
one is; each line goes to the first target of its stream that is not suspended, and a
suspended one gets lines again once it is back. ``forward_all_logs`` ships the agent's
records and keepalived's output to the admin targets with the administrative facility, and
nothing of them without it."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path

from portico.agent.agent_logs import TAIL_SECONDS, LogOffloading
from portico.agent.log_forward import LogForwarder
from portico.wire.agent_diagnostics import LogTargetState
from portico.wire.log_forwarding import LogForwarding
from tests.support.processes import free_port
from tests.support.syslog import SyslogReceiver, syslog_receiver

AMPHORA = "0c4a5d8e-6b1f-4f7e-9a53-2d1e0b7c9f11"


async def _until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    """Poll ``predicate`` while the forwarder's loop runs, until true or the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met")
        await asyncio.sleep(0.01)


def _texts(receiver: SyslogReceiver) -> list[str]:
    return [m.rsplit(" ", 1)[-1] for m in receiver.messages()]


def _message(text: str) -> bytes:
    return f"<141>1 2026-12-03T12:00:00.000000+00:00 amp haproxy 7 - - {text}".encode()


def _stats(forwarder: LogForwarder) -> LogTargetState:
    [stats] = forwarder.stats()
    return stats


def _target(forwarder: LogForwarder, target: str) -> LogTargetState:
    [stats] = [s for s in forwarder.stats() if s.target == target]
    return stats


def test_a_tcp_target_back_on_its_port_gets_the_queued_lines_and_the_overflow_is_counted() -> None:
    port = free_port()
    settings = LogForwarding(
        admin_targets=[f"127.0.0.1:{port}"],
        protocol="TCP",
        retry_count=1000,
        retry_interval=0.05,
        queue_size=50,
    )

    async def scenario() -> None:
        forwarder = LogForwarder(settings)
        forwarder.start()
        try:
            with syslog_receiver("TCP", port) as receiver:
                forwarder.send("admin", _message("first"))
                await _until(lambda: _texts(receiver) == ["first"])
            await _until(lambda: not _stats(forwarder).connected)
            for n in range(80):  # the target is away: 50 wait, 30 are dropped
                forwarder.send("admin", _message(f"queued-{n:02d}"))
            await asyncio.sleep(0.2)  # attempts fail meanwhile; the queued lines stay
            assert _stats(forwarder).queued == 50
            with syslog_receiver("TCP", port) as receiver:
                wanted = [f"queued-{n:02d}" for n in range(50)]
                await _until(lambda: _texts(receiver) == wanted)
                stats = _stats(forwarder)
        finally:
            await forwarder.close()
        assert (stats.sent, stats.queued, stats.dropped_queue_full) == (51, 0, 30)
        assert stats.dropped_retries_exhausted == 0

    asyncio.run(scenario())


def test_when_the_retries_run_out_the_line_is_dropped_and_counted_and_later_lines_go() -> None:
    port = free_port()  # nothing listens there yet
    settings = LogForwarding(
        tenant_targets=[f"127.0.0.1:{port}"], protocol="TCP", retry_count=2, retry_interval=0.05
    )

    async def scenario() -> None:
        forwarder = LogForwarder(settings)
        forwarder.start()
        try:
            for n in range(3):
                forwarder.send("tenant", _message(f"lost-{n}"))
            forwarder.send("admin", _message("no admin target"))
            await _until(lambda: _stats(forwarder).dropped_retries_exhausted == 3)
            stats = _stats(forwarder)
            # Nothing behind it to take over: the lines are dropped, the target stays in use.
            assert (stats.queued, stats.handed_over, stats.suspended) == (0, 0, False)
            with syslog_receiver("TCP", port) as receiver:
                forwarder.send("tenant", _message("later"))
                await _until(lambda: _texts(receiver) == ["later"])
        finally:
            await forwarder.close()

    asyncio.run(scenario())


def test_udp_lines_go_to_the_first_target_only_while_it_takes_them() -> None:
    with syslog_receiver("UDP") as first, syslog_receiver("UDP") as backup:
        settings = LogForwarding(tenant_targets=[first.address, backup.address])

        async def scenario() -> None:
            forwarder = LogForwarder(settings)
            forwarder.start()
            try:
                for n in range(3):
                    forwarder.send("tenant", _message(f"flow-{n}"))
                forwarder.send("admin", _message("not for tenant targets"))
                await _until(lambda: _texts(first) == ["flow-0", "flow-1", "flow-2"])
                # The counters are taken when the datagram is sent: the backup sent none.
                assert _target(forwarder, first.address).sent == 3
                assert _target(forwarder, backup.address).sent == 0
                assert not any(s.suspended for s in forwarder.stats())
            finally:
                await forwarder.close()

        asyncio.run(scenario())
        assert first.messages()[0].startswith("<141>1 ")  # forwarded as haproxy wrote it
        assert backup.messages() == []


def test_a_udp_target_whose_send_is_refused_is_passed_by_until_the_retry_interval_is_over() -> None:
    # The kernel refuses a datagram to port 0 (EINVAL): a send that fails on loopback, so
    # nothing leaves the host.
    refused = "127.0.0.1:0"
    with syslog_receiver("UDP") as backup:
        settings = LogForwarding(tenant_targets=[refused, backup.address], retry_interval=0.5)

        async def scenario() -> None:
            forwarder = LogForwarder(settings)
            forwarder.start()
            try:
                for n in range(3):  # the first is refused and handed on, the others pass by
                    forwarder.send("tenant", _message(f"early-{n}"))
                stats = _target(forwarder, refused)
                assert (stats.suspended, stats.handed_over, stats.dropped_queue_full) == (
                    True,
                    1,
                    0,
                )
                await _until(lambda: not _target(forwarder, refused).suspended)
                forwarder.send("tenant", _message("late"))  # tried again, refused again
                assert _target(forwarder, refused).handed_over == 2
                wanted = ["early-0", "early-1", "early-2", "late"]
                await _until(lambda: _texts(backup) == wanted)
                assert _target(forwarder, backup.address).sent == 4
            finally:
                await forwarder.close()

        asyncio.run(scenario())


def _tcp_chain(*targets: str) -> LogForwarding:
    return LogForwarding(
        tenant_targets=list(targets), protocol="TCP", retry_count=2, retry_interval=0.05
    )


def test_lines_for_a_tcp_target_whose_retries_run_out_go_to_the_next_target_and_none_is_lost() -> (
    None
):
    down = f"127.0.0.1:{free_port()}"  # nothing listens there

    async def scenario(backup: SyslogReceiver) -> None:
        forwarder = LogForwarder(_tcp_chain(down, backup.address))
        forwarder.start()
        try:
            for n in range(20):  # queued at the first target while its attempts fail
                forwarder.send("tenant", _message(f"line-{n:02d}"))
            wanted = [f"line-{n:02d}" for n in range(20)]
            await _until(lambda: _texts(backup) == wanted)
            forwarder.send("tenant", _message("next"))  # straight to the backup now
            await _until(lambda: _texts(backup) == [*wanted, "next"])
            first, second = forwarder.stats()
        finally:
            await forwarder.close()
        assert (first.suspended, first.connected, first.queued, first.sent) == (True, False, 0, 0)
        assert (first.handed_over, first.dropped_retries_exhausted) == (20, 0)
        assert (second.suspended, second.sent, second.handed_over) == (False, 21, 0)
        assert (second.dropped_queue_full, second.dropped_retries_exhausted) == (0, 0)

    with syslog_receiver("TCP") as backup:
        asyncio.run(scenario(backup))


def test_lines_pass_down_a_chain_of_tcp_targets_until_one_takes_them() -> None:
    downs = [f"127.0.0.1:{free_port()}" for _ in range(2)]

    async def scenario(last: SyslogReceiver) -> None:
        forwarder = LogForwarder(_tcp_chain(*downs, last.address))
        forwarder.start()
        try:
            for n in range(5):
                forwarder.send("tenant", _message(f"line-{n}"))
            await _until(lambda: _texts(last) == [f"line-{n}" for n in range(5)])
            stats = forwarder.stats()
        finally:
            await forwarder.close()
        # The second took the first's lines, then its own retries ran out as well.
        assert [(s.suspended, s.handed_over, s.sent) for s in stats] == [
            (True, 5, 0),
            (True, 5, 0),
            (False, 0, 5),
        ]

    with syslog_receiver("TCP") as last:
        asyncio.run(scenario(last))


def test_a_suspended_tcp_target_back_on_its_port_gets_the_lines_again() -> None:
    port = free_port()
    primary = f"127.0.0.1:{port}"

    async def scenario(backup: SyslogReceiver) -> None:
        forwarder = LogForwarder(_tcp_chain(primary, backup.address))
        forwarder.start()
        try:
            with syslog_receiver("TCP", port) as receiver:
                forwarder.send("tenant", _message("while-up"))
                await _until(lambda: _texts(receiver) == ["while-up"])
            await _until(lambda: not _target(forwarder, primary).connected)
            forwarder.send("tenant", _message("while-down"))
            await _until(lambda: _texts(backup) == ["while-down"])
            assert _target(forwarder, primary).suspended
            with syslog_receiver("TCP", port) as receiver:
                # Retried in the background, with no line waiting for it.
                await _until(lambda: not _target(forwarder, primary).suspended)
                forwarder.send("tenant", _message("back"))
                await _until(lambda: _texts(receiver) == ["back"])
                stats = _target(forwarder, primary)
        finally:
            await forwarder.close()
        assert (stats.sent, stats.handed_over, stats.dropped_retries_exhausted) == (2, 1, 0)
        assert _texts(backup) == ["while-down"]

    with syslog_receiver("TCP") as backup:
        asyncio.run(scenario(backup))


def _offload(tmp_path: Path, receiver: SyslogReceiver, *, forward_all: bool) -> None:
    """Run the amphora's log relay: an agent record, a keepalived line, haproxy lines."""
    settings = LogForwarding(
        admin_targets=[receiver.address], admin_facility=3, forward_all_logs=forward_all
    )
    keepalived_log = tmp_path / "log" / "keepalived.log"

    async def scenario() -> None:
        offloading = LogOffloading(settings, base_dir=tmp_path, host=AMPHORA)
        offloading.start()
        try:
            logging.getLogger("portico.agent.test").warning("%s vrrp reloaded", AMPHORA)
            keepalived_log.parent.mkdir(parents=True, exist_ok=True)
            with keepalived_log.open("a") as fh:
                fh.write("(VI_1) Entering MASTER STATE\n")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as haproxy:
                haproxy.sendto(_message("flow"), str(tmp_path / "run" / "tenant.sock"))
                haproxy.sendto(_message("server-DOWN"), str(tmp_path / "run" / "admin.sock"))
            await _until(lambda: "server-DOWN" in _texts(receiver))
            if forward_all:
                await _until(lambda: len(receiver.messages()) >= 3)
            else:
                await asyncio.sleep(3 * TAIL_SECONDS)  # three tail passes: none may come
        finally:
            await offloading.close()

    asyncio.run(scenario())


def test_forward_all_logs_ships_the_agents_records_and_keepalived_to_the_admin_targets(
    tmp_path: Path,
) -> None:
    with syslog_receiver("UDP") as admin:
        _offload(tmp_path, admin, forward_all=True)
        messages = admin.messages()
    [record] = [m for m in messages if "vrrp reloaded" in m]
    assert record.startswith("<156>1 ")  # local3 (19) * 8 + warning (4)
    assert record.split(" ")[2:4] == [AMPHORA, "portico-agent"]
    assert record.endswith(f"portico.agent.test: {AMPHORA} vrrp reloaded")
    [vrrp] = [m for m in messages if "MASTER" in m]
    assert vrrp.startswith("<157>1 ")  # local3, notice (5)
    assert vrrp.split(" ")[2:4] == [AMPHORA, "keepalived"]
    assert vrrp.endswith(" - - - (VI_1) Entering MASTER STATE")
    assert not [m for m in messages if m.endswith(" flow")]  # tenant lines never go there


def test_without_forward_all_logs_only_haproxys_admin_lines_reach_the_admin_targets(
    tmp_path: Path,
) -> None:
    with syslog_receiver("UDP") as admin:
        _offload(tmp_path, admin, forward_all=False)
        assert _texts(admin) == ["server-DOWN"]


def test_pushed_log_settings_take_effect_at_once_for_the_next_line(tmp_path: Path) -> None:
    with syslog_receiver("UDP") as old, syslog_receiver("UDP") as new:

        async def scenario() -> None:
            offloading = LogOffloading(
                LogForwarding(admin_targets=[old.address]), base_dir=tmp_path, host=AMPHORA
            )
            offloading.start()
            admin_socket = str(tmp_path / "run" / "admin.sock")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as haproxy:
                    haproxy.sendto(_message("before"), admin_socket)
                    await _until(lambda: _texts(old) == ["before"])
                    pushed = LogForwarding(admin_targets=[new.address], local_storage=False)
                    await offloading.reconfigure(pushed)
                    haproxy.sendto(_message("after"), admin_socket)
                    await _until(lambda: _texts(new) == ["after"])
            finally:
                await offloading.close()

        asyncio.run(scenario())
        assert _texts(old) == ["before"]
    stored = (tmp_path / "log" / "admin.log").read_text().splitlines()
    assert [line.rsplit(" ", 1)[-1] for line in stored] == ["before"]  # no local storage now
