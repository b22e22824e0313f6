"""DDoS limits on a listener: which protocols take which limit (pure rules), the lines they
render and where (the client's own header size, refused sources never tracked), and that a
limit change is a reload, never a runtime operation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portico.domain import limits
from portico.domain.desired import ListenerSpec, LoadBalancerSpec, PoolSpec
from portico.domain.errors import ValidationException
from portico.render.capabilities import FULL
from portico.render.errors import RenderError
from portico.render.haproxy import render_haproxy
from portico.render.runtime_plan import plan_runtime
from tests.unit.render.variants import LB, members, uid

ALL = {
    "connection_rate_limit": 10,
    "request_rate_limit": 20,
    "max_request_header_size": 1024,
    "max_request_body_size": 4096,
}


@pytest.mark.parametrize("protocol", ["HTTP", "TERMINATED_HTTPS", "PROMETHEUS"])
def test_http_listeners_take_every_limit(protocol: str) -> None:
    limits.check_limits(protocol, ALL)


@pytest.mark.parametrize("protocol", ["TCP", "HTTPS"])
def test_a_connection_rate_is_the_only_limit_of_a_tcp_listener(protocol: str) -> None:
    limits.check_limits(protocol, {"connection_rate_limit": 5})
    for name in ("request_rate_limit", "max_request_header_size", "max_request_body_size"):
        with pytest.raises(ValidationException, match=name):
            limits.check_limits(protocol, {name: 100})
        limits.check_limits(protocol, {name: None})  # unsetting is always fine


@pytest.mark.parametrize("protocol", ["UDP", "SCTP"])
def test_datagram_listeners_take_no_limit(protocol: str) -> None:
    with pytest.raises(ValidationException, match="connection_rate_limit"):
        limits.check_limits(protocol, {"connection_rate_limit": 5})


def _spec(**fields: object) -> LoadBalancerSpec:
    pool = PoolSpec(id=uid(2, 1), protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(1))
    listener = ListenerSpec(
        id=uid(1, 1),
        protocol=str(fields.pop("protocol", "HTTP")),
        protocol_port=80,
        default_pool_id=pool.id,
        insert_headers={"X-Forwarded-For": "true", "X-Forwarded-Port": "true"},
        allowed_cidrs=("127.0.0.0/8",),
        **fields,  # type: ignore[arg-type]
    )
    return LoadBalancerSpec(id=LB, vip_address="127.0.0.1", listeners=(listener,), pools=(pool,))


def _frontend(text: str) -> list[str]:
    block = text.split("\nfrontend ", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines()[1:]]


def test_without_limits_the_frontend_has_no_table_and_no_refusal() -> None:
    lines = _frontend(render_haproxy(_spec(), FULL).text)
    assert not [line for line in lines if "stick" in line or "track" in line or "deny" in line]
    assert "option http-buffer-request" not in lines


def test_limits_render_after_the_cidr_refusal_and_before_inserted_headers() -> None:
    lines = _frontend(render_haproxy(_spec(**ALL), FULL).text)
    order = [
        "tcp-request connection reject unless allowed-cidr",
        "stick-table type ipv6 size 100k expire 10s store conn_rate(1s),http_req_rate(1s)",
        "tcp-request connection track-sc0 src",
        "tcp-request connection reject if { sc_conn_rate(0) gt 10 }",
        "option forwardfor",
        "http-request set-header X-Forwarded-Port %[dst_port]",
    ]
    assert [lines.index(line) for line in order] == sorted(lines.index(line) for line in order)
    denies = [n for n, line in enumerate(lines) if line.startswith("http-request deny")]
    assert len(denies) == 3 and max(denies) < lines.index("option forwardfor")
    assert any("sc_http_req_rate(0) gt 20" in line and "429" in line for line in lines)
    assert any("req.hdrs,length gt 1024" in line and "431" in line for line in lines)
    assert any("req.body_size gt 4096" in line and "413" in line for line in lines)
    assert "option http-buffer-request" in lines


def test_a_tcp_listener_tracks_connections_only() -> None:
    lines = _frontend(render_haproxy(_spec(protocol="TCP", connection_rate_limit=7), FULL).text)
    assert "stick-table type ipv6 size 100k expire 10s store conn_rate(1s)" in lines
    assert "tcp-request connection reject if { sc_conn_rate(0) gt 7 }" in lines
    assert not [line for line in lines if line.startswith("http-request")]


@pytest.mark.parametrize("name", sorted(ALL))
def test_setting_changing_or_unsetting_a_limit_is_a_reload(name: str) -> None:
    off = render_haproxy(_spec(), FULL).text
    on = render_haproxy(_spec(**{name: ALL[name]}), FULL).text
    changed = render_haproxy(_spec(**{name: ALL[name] * 2}), FULL).text
    assert plan_runtime(off, on, FULL) is None
    assert plan_runtime(on, changed, FULL) is None
    assert plan_runtime(on, off, FULL) is None
    assert plan_runtime(on, on, FULL) == []


def test_limits_are_numbers_in_the_configuration() -> None:
    spec = _spec()
    hostile = replace(spec.listeners[0], request_rate_limit="5 } or { always_true")  # type: ignore[arg-type]
    with pytest.raises(RenderError):
        render_haproxy(replace(spec, listeners=(hostile,)), FULL)
