"""Hostile strings in every user field that reaches a configuration never add a directive,
a word, a comment or an environment expansion (property-based).

Each field is rendered twice, with a benign value and with a hostile one; haproxy's
tokenizer (``haproxy_words``) must read the same lines, keywords and word counts from both.
Values with control characters cannot be made safe: rendering refuses them (RenderError),
as the API does before they are stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portico.domain import healthmonitors, l7
from portico.domain.desired import (
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    LoadBalancerSpec,
    PoolSpec,
    SessionPersistenceSpec,
)
from portico.render.capabilities import FULL
from portico.render.errors import RenderError
from portico.render.haproxy import render_haproxy
from tests.unit.render import variants
from tests.unit.render.haproxy_words import parse

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NASTY = [
    'a"b',
    "a'b",
    "x\ny",
    "x\r\ny",
    "# comment",
    "a b c",
    "\\",
    "\\\\\\",
    '\\"',
    "$HOME",
    "${HOME}",
    "%[src]",
    "%{+Q}[ssl_c_s_dn]",
    "-f /etc/passwd",
    "-i",
    "--",
    "a) if TRUE",
    "x,lower",
    "é\u2028ü\u00a0日本",
    "\t",
    "A" * 10_000,
    '" \\" # $X \\$ %%',
]
# Fields with a few legal forms (the API checks them): rendering refuses anything else.
RESTRICTED = frozenset({"http_method", "expected_codes", "verify result"})
hostile = st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=300))

Setter = Callable[[LoadBalancerSpec, str], LoadBalancerSpec]


def _listener(spec: LoadBalancerSpec, **changes: object) -> LoadBalancerSpec:
    return replace(spec, listeners=(replace(spec.listeners[0], **changes),))


def _pool(spec: LoadBalancerSpec, index: int, **changes: object) -> LoadBalancerSpec:
    pools = list(spec.pools)
    pools[index] = replace(pools[index], **changes)
    return replace(spec, pools=tuple(pools))


def _monitor(**changes: object) -> Setter:
    def set_(spec: LoadBalancerSpec, value: str) -> LoadBalancerSpec:
        monitor = spec.pools[0].health_monitor
        assert monitor is not None
        named = {k: value if v is None else v for k, v in changes.items()}
        return _pool(spec, 0, health_monitor=replace(monitor, **named))

    return set_


def _policy(index: int, **changes: object) -> Setter:
    """Set a field of policy ``index`` of the l7 variant (None in ``changes``: the value)."""

    def set_(spec: LoadBalancerSpec, value: str) -> LoadBalancerSpec:
        policies = list(spec.listeners[0].l7policies)
        named = {k: value if v is None else v for k, v in changes.items()}
        policies[index] = replace(policies[index], **named)
        return _listener(spec, l7policies=tuple(policies))

    return set_


def _rule(type_: str, *, key: str | None = "X-Key", value: str | None = None) -> Setter:
    """A REJECT policy with one rule of ``type_``; the hostile value goes in key or value."""

    def set_(spec: LoadBalancerSpec, text: str) -> LoadBalancerSpec:
        rule = L7RuleSpec(
            id=variants.uid(6, 99),
            type=type_,
            compare_type="CONTAINS",
            value=text if value is None else value,
            key=text if key is None else key,
        )
        policy = L7PolicySpec(id=variants.uid(5, 99), action="REJECT", position=0, rules=(rule,))
        listener = spec.listeners[0]
        return _listener(spec, l7policies=(policy, *listener.l7policies))

    return set_


def _cookie(spec: LoadBalancerSpec, value: str) -> LoadBalancerSpec:
    sp = SessionPersistenceSpec(type="APP_COOKIE", cookie_name=value)
    return _pool(spec, 0, session_persistence=sp)


def _insert_header(spec: LoadBalancerSpec, value: str) -> LoadBalancerSpec:
    headers = {name: value for name in ("X-Forwarded-For", "X-Forwarded-Port", "X-SSL-Issuer")}
    return _listener(spec, insert_headers=headers)


FIELDS: dict[str, tuple[Callable[[], LoadBalancerSpec], Setter]] = {
    "url_path": (variants.http_basic, _monitor(url_path=None)),
    "domain_name": (variants.http_basic, _monitor(domain_name=None)),
    "http_method": (variants.http_basic, _monitor(http_method=None)),
    "expected_codes": (variants.http_basic, _monitor(expected_codes=None)),
    "path value": (variants.l7_policies, _rule("PATH", key="")),
    "host value": (variants.l7_policies, _rule("HOST_NAME", key="")),
    "file type value": (variants.l7_policies, _rule("FILE_TYPE", key="")),
    "header key": (variants.l7_policies, _rule("HEADER", key=None, value="v")),
    "header value": (variants.l7_policies, _rule("HEADER")),
    "cookie key": (variants.l7_policies, _rule("COOKIE", key=None, value="v")),
    "cookie value": (variants.l7_policies, _rule("COOKIE")),
    "dn field key": (variants.l7_policies, _rule("SSL_DN_FIELD", key=None, value="v")),
    "dn field value": (variants.l7_policies, _rule("SSL_DN_FIELD", key="CN")),
    "verify result": (variants.l7_policies, _rule("SSL_VERIFY_RESULT", key="")),
    "redirect_url": (variants.l7_policies, _policy(3, redirect_url=None)),
    "redirect_prefix": (variants.l7_policies, _policy(4, redirect_prefix=None)),
    "cookie_name": (variants.l7_policies, _cookie),
    "insert_headers value": (variants.terminated_https, _insert_header),
    "listener tls_ciphers": (
        variants.terminated_https,
        lambda spec, v: _listener(spec, tls_ciphers=v),
    ),
    "pool tls_ciphers": (variants.terminated_https, lambda spec, v: _pool(spec, 0, tls_ciphers=v)),
    "listener alpn": (
        variants.terminated_https,
        lambda spec, v: _listener(spec, alpn_protocols=(v, "http/1.1")),
    ),
    "pool alpn": (variants.terminated_https, lambda spec, v: _pool(spec, 0, alpn_protocols=(v,))),
}


def _benign(field: str, value: str) -> str:
    """A harmless value that renders in the same shape as ``value``."""
    if "tls_ciphers" in field:
        # TLS 1.3 names (TLS_*) go to their own keyword: keep the same split.
        parts = value.split(":")
        return ":".join("TLS_A" if p.startswith("TLS_") else ("B" if p else "") for p in parts)
    if field == "insert_headers value":
        # The value switches a header on ("true", any case) or off: keep that meaning.
        return "true" if value.lower() == "true" else "benign"
    return {"http_method": "GET", "expected_codes": "200", "verify result": "0"}.get(
        field, "benign"
    )


def _shape(spec: LoadBalancerSpec) -> list[tuple[str, str, int]]:
    return [(line.section, line.keyword, len(line.words)) for line in parse(_text(spec))]


def _text(spec: LoadBalancerSpec) -> str:
    return render_haproxy(spec, FULL).text


@pytest.mark.parametrize("field", sorted(FIELDS))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=hostile)
@example(value="a\nfrontend evil")
def test_hostile_value_adds_no_directive(field: str, value: str) -> None:
    build, set_value = FIELDS[field]
    base = build()
    try:
        hostile_text = _text(set_value(base, value))
    except RenderError:
        # Only what no quoting can carry may be refused, or a value that is not one of a
        # field's few legal forms (method, codes, verify result: the API checks them).
        assert CONTROL.search(value) or field in RESTRICTED
        return
    # A line feed shows as an extra line below; no other control character may appear.
    assert not CONTROL.search(hostile_text.replace("\n", ""))
    benign_spec = set_value(base, _benign(field, value))
    assert [
        (line.section, line.keyword, len(line.words)) for line in parse(hostile_text)
    ] == _shape(benign_spec)


@given(value=hostile)
@settings(max_examples=100, deadline=None)
def test_redirect_location_reads_no_sample_expression(value: str) -> None:
    """Redirect targets are log-format strings: a user ``%`` stays a literal ``%``."""
    spec = _policy(3, redirect_url=None)(variants.l7_policies(), value)
    try:
        lines = parse(_text(spec))
    except RenderError:
        assert CONTROL.search(value)
        return
    location = next(line.words for line in lines if "location" in line.words)
    target = location[location.index("location") + 1]
    assert target.replace("%%", "").count("%") == 0
    assert target.replace("%%", "%") == value


def test_hostile_value_stays_one_literal_word() -> None:
    """The word haproxy reads is exactly the user's value, byte for byte."""
    value = '" \\" # $X \\$ -f'
    spec = _rule("PATH", key="")(variants.l7_policies(), value)
    acl = next(
        line for line in parse(_text(spec)) if line.words[:2] == ("acl", variants.uid(6, 99))
    )
    assert acl.words[-2:] == ("--", value)


def test_header_key_stays_one_fetch_argument() -> None:
    """A key with ``,`` or ``)`` cannot add an argument or a converter to ``req.hdr``."""
    spec = _rule("HEADER", key=None, value="v")(variants.l7_policies(), "a),lower,b(")
    acl = next(
        line for line in parse(_text(spec)) if line.words[:2] == ("acl", variants.uid(6, 99))
    )
    assert acl.words[2] == 'req.hdr("a),lower,b(")'


def test_empty_listener_and_pool_lists_render() -> None:
    spec = LoadBalancerSpec(
        id=variants.LB,
        vip_address="127.0.0.1",
        listeners=(ListenerSpec(id=variants.uid(1, 1), protocol="HTTP", protocol_port=80),),
        pools=(PoolSpec(id=variants.uid(2, 1), protocol="HTTP", lb_algorithm="ROUND_ROBIN"),),
    )
    assert "default_backend" not in _text(spec)


@pytest.mark.parametrize("separator", ["\n", "\r", "\x85", "\u2028", "\u2029"])
def test_api_validators_refuse_what_rendering_cannot_carry(separator: str) -> None:
    """Line breaks of any kind are refused before they are stored (400 at the API)."""
    assert not healthmonitors.is_url_path(f"/a{separator}b")
    assert not l7.is_valid_url(f"http://example.com/a{separator}b")
    with pytest.raises(l7.L7RuleInvalid):
        l7.validate_rule(l7.RuleSpec(type="PATH", compare_type="EQUAL_TO", value=f"/{separator}"))
