"""Capability-aware rendering: the same load balancer on a current amphora (FULL) and on an
old image; what the old one cannot run is rendered compatibly or refused with a clear
error (shown to the user on the object)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portico.render.capabilities import FULL, RenderTarget
from portico.render.errors import RenderError
from portico.render.haproxy import render_haproxy
from tests.unit.render import variants
from tests.unit.render.variants import OLD_IMAGE


def _bind(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith("bind "))


def test_info_versions_become_a_target() -> None:
    target = RenderTarget.from_info("2.6.12-1+deb12u4", ["http2", "tls13"])
    assert target.haproxy_version == (2, 6, 12)
    assert target.capabilities == {"http2", "tls13"}
    assert RenderTarget.from_info(None, []).haproxy_version == ()


def test_full_amphora_gets_http2_tls13_and_idle_close() -> None:
    text = render_haproxy(variants.terminated_https(), FULL).text
    bind = _bind(text)
    assert "alpn h2,http/1.1" in bind
    assert "ssl-max-ver TLSv1.3" in bind
    assert "ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256" in bind
    assert "option idle-close-on-response" in text


def test_old_image_gets_a_compatible_rendering() -> None:
    """No h2, TLS up to 1.2 without 1.3 suites, no idle-close: the listener still serves."""
    text = render_haproxy(variants.terminated_https(), OLD_IMAGE).text
    bind = _bind(text)
    assert "alpn http/1.1" in bind and "h2" not in bind
    assert "ssl-min-ver TLSv1.1 ssl-max-ver TLSv1.2" in bind
    assert "ciphersuites" not in text
    assert "idle-close-on-response" not in text


def test_old_image_refuses_the_prometheus_exporter() -> None:
    with pytest.raises(RenderError, match="no Prometheus exporter"):
        render_haproxy(variants.prometheus(), OLD_IMAGE)
    assert "prometheus-exporter" in render_haproxy(variants.prometheus(), FULL).text


def test_old_image_refuses_source_ip_port() -> None:
    """``balance hash <expression>`` is haproxy 2.6: older images cannot hash on the port."""
    with pytest.raises(RenderError, match=r"SOURCE_IP_PORT needs haproxy 2\.6"):
        render_haproxy(variants.tcp_algorithms(), OLD_IMAGE)
    assert "balance hash src" in render_haproxy(variants.tcp_algorithms(), FULL).text


def test_old_image_refuses_a_tls13_only_listener() -> None:
    spec = variants.terminated_https()
    only13 = replace(spec, listeners=(replace(spec.listeners[0], tls_versions=("TLSv1.3",)),))
    with pytest.raises(RenderError, match=r"cannot serve TLS 1\.3"):
        render_haproxy(only13, OLD_IMAGE)
    assert "ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3" in render_haproxy(only13, FULL).text


def test_tls_versions_with_a_gap_are_refused() -> None:
    """OpenSSL enables one range: TLSv1 + TLSv1.2 without TLSv1.1 cannot be honoured."""
    spec = variants.terminated_https()
    gap = replace(spec, listeners=(replace(spec.listeners[0], tls_versions=("TLSv1", "TLSv1.2")),))
    with pytest.raises(RenderError, match="leave a gap"):
        render_haproxy(gap, FULL)


def test_unknown_certificate_is_a_clear_error() -> None:
    spec = replace(variants.terminated_https(), certificates={})
    with pytest.raises(RenderError, match="could not be found in the certificate store"):
        render_haproxy(spec, FULL)


def test_datagram_listener_is_refused_by_rendering() -> None:
    """The API refuses UDP/SCTP for provider amphora; rendering is the second line."""
    spec = variants.http_basic()
    udp = replace(spec, listeners=(replace(spec.listeners[0], protocol="UDP"),))
    with pytest.raises(RenderError, match="protocol UDP cannot run"):
        render_haproxy(udp, FULL)
