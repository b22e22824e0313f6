"""Pure health monitor rules: types per pool protocol, HTTP defaults, timing, formats."""

from __future__ import annotations

from typing import Any

import pytest

from portico.domain import healthmonitors as rules
from portico.domain.errors import InvalidInput, ValidationException


def hm(**fields: Any) -> dict[str, Any]:
    return {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, **fields}


def test_http_monitor_gets_octavia_defaults() -> None:
    state = rules.resolve_create(hm())
    assert state["http_method"] == "GET"
    assert state["url_path"] == "/"
    assert state["expected_codes"] == "200"
    assert state["max_retries_down"] == 3


@pytest.mark.parametrize("hm_type", ["TCP", "PING", "TLS-HELLO", "UDP-CONNECT", "SCTP"])
def test_non_http_monitor_has_no_http_fields(hm_type: str) -> None:
    state = rules.resolve_create(hm(type=hm_type))
    assert state["http_method"] is None and state["url_path"] is None
    assert state["expected_codes"] is None


@pytest.mark.parametrize("field", ["http_method", "url_path", "expected_codes"])
def test_http_fields_on_a_tcp_monitor_are_refused(field: str) -> None:
    with pytest.raises(InvalidInput, match=f"{field} is not a valid option for health monitors"):
        rules.resolve_create(hm(type="TCP", **{field: "/x"}))


def test_timeout_may_exceed_delay_as_octavia_allows() -> None:
    # Octavia's reference advises timeout < delay but its API accepts more; clients rely on it.
    assert rules.resolve_create(hm(delay=3, timeout=4))["timeout"] == 4
    current = rules.resolve_create(hm(delay=5, timeout=3))
    assert rules.resolve_update(current, {"timeout": 6}) == {"timeout": 6}


def test_domain_name_needs_http_version_1_1() -> None:
    with pytest.raises(ValidationException, match="'http_version' must be specified"):
        rules.resolve_create(hm(domain_name="example.com"))
    with pytest.raises(InvalidInput, match=r"http_version 1\.0 is not a valid option"):
        rules.resolve_create(hm(domain_name="example.com", http_version=1.0))
    rules.resolve_create(hm(domain_name="example.com", http_version=1.1))


def test_update_null_resets_http_defaults_and_refuses_null_timing() -> None:
    current = rules.resolve_create(hm(url_path="/health"))
    assert rules.resolve_update(current, {"url_path": None, "max_retries_down": None}) == {
        "url_path": "/",
        "max_retries_down": 3,
    }
    with pytest.raises(InvalidInput, match="None is not a valid option for delay"):
        rules.resolve_update(current, {"delay": None})


def test_update_of_http_field_on_tcp_monitor_is_refused_even_null() -> None:
    current = rules.resolve_create(hm(type="TCP"))
    with pytest.raises(InvalidInput):
        rules.resolve_update(current, {"url_path": None})


@pytest.mark.parametrize(
    ("hm_type", "protocol", "ok"),
    [
        ("UDP-CONNECT", "UDP", True),
        ("SCTP", "SCTP", True),
        ("TCP", "UDP", True),
        ("HTTP", "UDP", True),
        ("PING", "UDP", False),
        ("TLS-HELLO", "UDP", False),
        ("HTTPS", "SCTP", False),
        ("UDP-CONNECT", "TCP", False),
        ("SCTP", "HTTP", False),
        ("PING", "HTTP", True),
        ("TLS-HELLO", "HTTPS", True),
        ("HTTPS", "TCP", True),
    ],
)
def test_monitor_type_must_suit_the_pool_protocol(hm_type: str, protocol: str, ok: bool) -> None:
    if ok:
        rules.check_type_for_pool(hm_type, protocol, delay=5)
    else:
        with pytest.raises(ValidationException):
            rules.check_type_for_pool(hm_type, protocol, delay=5)


def test_udp_connect_delay_has_a_minimum() -> None:
    with pytest.raises(ValidationException, match="should be larger than 3"):
        rules.check_type_for_pool("UDP-CONNECT", "UDP", delay=2)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("200", True),
        ("200,202", True),
        ("200, 202", True),
        ("200-204", True),
        ("20", False),
        ("200-", False),
        ("200,", False),
        ("abc", False),
        ("200\n", False),
    ],
)
def test_expected_codes_format(value: str, ok: bool) -> None:
    assert rules.is_expected_codes(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("/", True),
        ("/health?full=1", True),
        ("health", False),
        ("//host/x", False),
        ("http://h/x", False),
        ("/a b", False),
        ("/a\r\nX: y", False),
        ("", False),
    ],
)
def test_url_path_format(value: str, ok: bool) -> None:
    assert rules.is_url_path(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("example.com", True),
        ("a-b.example.com.", True),
        ("_srv.example", True),
        ("-bad.com", False),
        ("bad-.com", False),
        ("a..b", False),
        ("a b", False),
        ("x" * 64 + ".com", False),
    ],
)
def test_domain_name_format(value: str, ok: bool) -> None:
    assert rules.is_domain_name(value) is ok
