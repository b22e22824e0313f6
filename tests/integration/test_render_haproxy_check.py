"""Rendered configurations run on the real haproxy 2.6: every golden variant passes
``haproxy -c``, and the behaviours that depend on haproxy's semantics (SOURCE_IP_PORT
hashing, dynamic servers under it, L7 policies in position order) carry real traffic.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from portico.domain.desired import (
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from portico.render.capabilities import FULL
from portico.render.haproxy import RenderedConfig, render_haproxy
from portico.render.peers import Peer, Peers
from portico.render.runtime_plan import plan_runtime
from tests.conftest import wait_for
from tests.support.backends import Backend, backends
from tests.support.processes import free_port
from tests.unit.render import variants
from tests.unit.render.test_injection import CONTROL, FIELDS, NASTY, RESTRICTED
from tests.unit.render.variants import LB, VARIANTS, uid

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "haproxy"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="needs the haproxy binary")


def _lay_out(directory: Path, text: str, rendered: RenderedConfig) -> Path:
    """The amphora's haproxy directory: the configuration, certs/ and run/."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "certs").mkdir()
    (directory / "run").mkdir()
    for name, content in rendered.files:
        (directory / "certs" / name).write_text(content)
    path = directory / "haproxy.cfg"
    path.write_text(text)
    return path


def haproxy_check(directory: Path, text: str, rendered: RenderedConfig) -> str:
    """Run ``haproxy -c`` as the agent does (cwd: the haproxy directory); its output."""
    _lay_out(directory, text, rendered)
    done = subprocess.run(
        [HAPROXY, "-c", "-f", "haproxy.cfg"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_golden_variant_is_valid_for_haproxy(name: str, tmp_path: Path) -> None:
    spec, target = VARIANTS[name]
    rendered = render_haproxy(spec, target)
    output = haproxy_check(tmp_path, (GOLDEN / f"{name}.cfg").read_text(), rendered)
    assert "[WARNING]" not in output and "[ALERT]" not in output, output


@pytest.mark.parametrize("name", ["tcp_algorithms", "l7_policies", "ddos_limits"])
def test_a_pair_member_with_synced_stick_tables_is_valid_for_haproxy(
    name: str, tmp_path: Path
) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    peers = Peers(local=b, members=(Peer(a, "127.0.0.1", 1025), Peer(b, "127.0.0.2", 1025)))
    spec, target = VARIANTS[name]
    rendered = render_haproxy(spec, target, peers=peers)
    assert "peers portico_peers" in rendered.text
    output = haproxy_check(tmp_path, rendered.text, rendered)
    assert "[WARNING]" not in output and "[ALERT]" not in output, output


@contextmanager
def running(directory: Path, rendered: RenderedConfig, port: int) -> Iterator[Path]:
    """haproxy on ``rendered`` until the block ends; yields its runtime socket."""
    _lay_out(directory, rendered.text, rendered)
    proc = subprocess.Popen(
        [HAPROXY, "-db", "-f", "haproxy.cfg"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _accepts(port) or proc.poll() is not None)
        assert proc.poll() is None, "haproxy exited"
        yield directory / "run" / "stats.sock"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _get(port: int, path: str = "/", *, source_port: int = 0) -> tuple[int, str]:
    """One HTTP/1.0 request from ``source_port`` (0: any); the status and the body."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.settimeout(5)
        sock.bind(("127.0.0.1", source_port))
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: lb.example.com\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def _members(found: list[Backend]) -> tuple[MemberSpec, ...]:
    return tuple(
        MemberSpec(id=uid(3, i), address=b.address, protocol_port=b.port)
        for i, b in enumerate(found)
    )


def _tcp_lb(port: int, algorithm: str, found: list[Backend]) -> LoadBalancerSpec:
    pool = PoolSpec(id=uid(2, 1), protocol="TCP", lb_algorithm=algorithm, members=_members(found))
    listener = ListenerSpec(
        id=uid(1, 1), protocol="TCP", protocol_port=port, default_pool_id=pool.id
    )
    return LoadBalancerSpec(id=LB, vip_address="127.0.0.1", listeners=(listener,), pools=(pool,))


def _spread(port: int, requests: int) -> Counter[str]:
    """Which member answered each of ``requests`` connections, each from a new port."""
    return Counter(_get(port)[1] for _ in range(requests))


def test_source_ip_port_spreads_one_client_over_members_by_port(tmp_path: Path) -> None:
    with backends(3) as found:
        port = free_port()
        by_ip = render_haproxy(_tcp_lb(port, "SOURCE_IP", found), FULL)
        with running(tmp_path / "ip", by_ip, port):
            assert len(_spread(port, 30)) == 1  # one client address: one member
        by_port = render_haproxy(_tcp_lb(port, "SOURCE_IP_PORT", found), FULL)
        with running(tmp_path / "port", by_port, port):
            assert len(_spread(port, 30)) >= 2


def test_source_ip_port_sends_one_source_port_to_one_member(tmp_path: Path) -> None:
    with backends(3) as found:
        port = free_port()
        rendered = render_haproxy(_tcp_lb(port, "SOURCE_IP_PORT", found), FULL)
        with running(tmp_path, rendered, port):
            for _ in range(3):
                source = free_port()
                # The member closes first (HTTP/1.0), so the client port is reusable.
                answers = {_get(port, source_port=source)[1] for _ in range(4)}
                assert len(answers) == 1


def _runtime(sock_path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(sock_path))
        sock.sendall(command.encode() + b"\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode()


def test_source_ip_port_pool_takes_servers_at_runtime(tmp_path: Path) -> None:
    """The algorithm stays dynamic: ``add server`` works, which map-based hashing refuses."""
    with backends(2) as found:
        port = free_port()
        rendered = render_haproxy(_tcp_lb(port, "SOURCE_IP_PORT", found[:1]), FULL)
        backend = f"{uid(2, 1)}:{uid(1, 1)}"
        with running(tmp_path, rendered, port) as stats:
            added = _runtime(stats, f"add server {backend}/new {found[1].address}:{found[1].port}")
            assert "New server registered" in added, added
            assert _runtime(stats, f"set server {backend}/new state ready").strip() == ""
            assert wait_for(lambda: len(_spread(port, 20)) == 2, timeout=5)


def _rule(n: int, prefix: str) -> tuple[L7RuleSpec, ...]:
    return (L7RuleSpec(id=uid(6, n), type="PATH", compare_type="STARTS_WITH", value=prefix),)


def test_l7_policies_apply_in_position_order(tmp_path: Path) -> None:
    """A REJECT after a matching REDIRECT_TO_POOL does not win, and the reverse."""
    with backends(2) as found:
        port = free_port()
        default = PoolSpec(
            id=uid(2, 1), protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=_members(found[:1])
        )
        other = PoolSpec(
            id=uid(2, 2), protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=_members(found[1:])
        )
        policies = (
            L7PolicySpec(
                id=uid(5, 4),
                action="REDIRECT_TO_POOL",
                position=4,
                redirect_pool_id=other.id,
                rules=_rule(4, "/private"),
            ),
            L7PolicySpec(id=uid(5, 2), action="REJECT", position=2, rules=_rule(2, "/api/admin")),
            L7PolicySpec(
                id=uid(5, 1),
                action="REDIRECT_TO_POOL",
                position=1,
                redirect_pool_id=other.id,
                rules=_rule(1, "/api"),
            ),
            L7PolicySpec(id=uid(5, 3), action="REJECT", position=3, rules=_rule(3, "/private")),
            L7PolicySpec(
                id=uid(5, 5),
                action="REDIRECT_PREFIX",
                position=5,
                redirect_prefix="https://new.example.com",
                rules=_rule(5, "/old"),
            ),
        )
        listener = ListenerSpec(
            id=uid(1, 1),
            protocol="HTTP",
            protocol_port=port,
            default_pool_id=default.id,
            l7policies=policies,
        )
        spec = LoadBalancerSpec(
            id=LB, vip_address="127.0.0.1", listeners=(listener,), pools=(default, other)
        )
        with running(tmp_path, render_haproxy(spec, FULL), port):
            assert _get(port, "/api/admin/users") == (200, found[1].name)
            assert _get(port, "/private/x")[0] == 403
            assert _get(port, "/old/page")[0] == 302
            assert _get(port, "/") == (200, found[0].name)
            # Switching the first policy off lets the REJECT at position 2 act.
            off = replace(policies[2], admin_state_up=False)
            listener2 = replace(listener, l7policies=(*policies[:2], off, *policies[3:]))
            spec2 = replace(spec, listeners=(listener2,))
        port2 = free_port()
        spec2 = replace(spec2, listeners=(replace(listener2, protocol_port=port2),))
        with running(tmp_path / "second", render_haproxy(spec2, FULL), port2):
            assert _get(port2, "/api/admin/users")[0] == 403
            assert _get(port2, "/api/v1") == (200, found[0].name)


# Fields whose hostile values haproxy must accept as plain data (ciphers and ALPN names go
# to OpenSSL, which knows its own; the API accepts only those, as it does for methods,
# codes and verify results).
DATA_FIELDS = [n for n in FIELDS if not n.endswith(("tls_ciphers", "alpn"))]
SAMPLES = [v for v in NASTY if not CONTROL.search(v)]


@pytest.mark.parametrize("value", SAMPLES)
def test_hostile_values_keep_the_configuration_valid(value: str, tmp_path: Path) -> None:
    """All hostile-value fields of a variant at once; haproxy reads a valid configuration."""
    for n, builder in enumerate({FIELDS[name][0] for name in DATA_FIELDS}):
        spec = builder()
        for name in DATA_FIELDS:
            if FIELDS[name][0] is builder and name not in RESTRICTED:
                spec = FIELDS[name][1](spec, value)
        rendered = render_haproxy(spec, FULL)
        directory = tmp_path / str(n)
        directory.mkdir()
        haproxy_check(directory, rendered.text, rendered)


def test_reencrypting_pool_takes_servers_at_runtime(tmp_path: Path) -> None:
    """The planner's ``add server`` options (TLS files, SNI, versions) run on the live API."""
    spec = variants.terminated_https()
    port = free_port()
    spec = replace(spec, listeners=(replace(spec.listeners[0], protocol_port=port),))
    pool = spec.pools[0]
    member = MemberSpec(id="new", address="127.0.0.1", protocol_port=9, weight=3)
    grown = replace(spec, pools=(replace(pool, members=(*pool.members, member)), spec.pools[1]))
    before = render_haproxy(spec, FULL)
    ops = plan_runtime(before.text, render_haproxy(grown, FULL).text, FULL)
    assert ops is not None and [op.op for op in ops] == ["add"]
    with running(tmp_path, before, port) as stats:
        add = ops[0]
        command = f"add server {add.backend}/{add.server} {add.address}:{add.port} {add.options}"
        assert "New server registered" in _runtime(stats, command)
