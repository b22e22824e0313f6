"""Where haproxy's logs go: the global ``log`` lines and the flow log format."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.domain.constants import DEFAULT_USER_LOG_FORMAT
from portico.render import log_lines
from portico.render.errors import RenderError
from portico.render.haproxy import LogOptions, RenderOptions, render_haproxy
from tests.unit.render import variants
from tests.unit.render.haproxy_words import parse

LB = variants.LB
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _render(options: LogOptions, name: str = "http_basic", project: str | None = "p1") -> str:
    spec, target = variants.VARIANTS[name]
    spec = replace(spec, project_id=project)
    return render_haproxy(spec, target, RenderOptions(logs=options)).text


def _logs(text: str) -> list[tuple[str, ...]]:
    return [line.words for line in parse(text) if line.keyword == "log"]


def test_both_streams_go_to_the_agents_rings_with_octavias_facilities() -> None:
    assert log_lines.global_lines(LogOptions(), rings=True) == [
        "log ring@portico-tenant local0",
        "log ring@portico-admin local1 notice",
    ]
    assert log_lines.global_lines(LogOptions(user_facility=3, admin_facility=5), rings=True) == [
        "log ring@portico-tenant local3",
        "log ring@portico-admin local5 notice",
    ]
    rings = log_lines.ring_sections(LogOptions(), rings=True)
    assert [ring.name for ring in rings] == ["portico-tenant", "portico-admin"]
    tenant = rings[0].lines
    assert "format rfc5424" in tenant and "maxlen 8192" in tenant
    assert tenant[-1] == "server agent unix@run/tenant.ring"
    assert rings[1].lines[-1] == "server agent unix@run/admin.ring"


def test_an_agent_without_rings_gets_the_datagram_sockets_as_rfc5424() -> None:
    assert log_lines.global_lines(LogOptions(), rings=False) == [
        "log unix@run/tenant.sock len 8192 format rfc5424 local0",
        "log unix@run/admin.sock len 8192 format rfc5424 local1 notice",
    ]
    assert log_lines.ring_sections(LogOptions(), rings=False) == []
    text = _render(LogOptions(), name="old_image_http_basic")
    assert "\nring " not in text
    assert [words[1] for words in _logs(text) if words[1] != "global"] == [
        "unix@run/tenant.sock",
        "unix@run/admin.sock",
    ]


def test_no_syslog_target_is_in_haproxys_configuration() -> None:
    # The agent forwards (with Octavia's queue and retries): haproxy sends only to it.
    text = _render(LogOptions())
    assert [words[1] for words in _logs(text) if words[1] != "global"] == [
        "ring@portico-tenant",
        "ring@portico-admin",
    ]
    servers = [line.words for line in parse(text) if line.keyword == "server"]
    assert ("server", "agent", "unix@run/tenant.ring") in servers
    assert not [words for words in servers if words[1] == "agent" and "ring" not in words[2]]


def test_without_connection_logging_no_tenant_logger_and_no_log_format() -> None:
    options = LogOptions(connection_logging=False)
    assert log_lines.global_lines(options, rings=True) == ["log ring@portico-admin local1 notice"]
    assert [ring.name for ring in log_lines.ring_sections(options, rings=True)] == ["portico-admin"]
    assert log_lines.global_lines(options, rings=False) == [
        "log unix@run/admin.sock len 8192 format rfc5424 local1 notice"
    ]
    text = _render(options)
    assert "log-format" not in text
    assert "tenant" not in text


def test_http_frontends_log_octavias_default_fields_with_project_and_lb_ids() -> None:
    text = _render(LogOptions(), project="5408b89aa45b48c69a53dca1aaec58db")
    formats = [line.words for line in parse(text) if line.keyword == "log-format"]
    assert formats == [
        (
            "log-format",
            f"5408b89aa45b48c69a53dca1aaec58db {LB} %f %ci %cp %t %{{+Q}}r %ST %B %U "
            "%[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc",
        )
    ]


def test_tcp_frontends_log_a_dash_for_the_http_only_fields() -> None:
    text = _render(LogOptions(), name="tcp_algorithms")
    formats = {line.words[1] for line in parse(text) if line.keyword == "log-format"}
    assert formats == {
        f"p1 {LB} %f %ci %cp %t - - %B %U %[ssl_c_verify] %{{+Q}}[ssl_c_s_dn] %b %s %Tt %tsc"
    }


def test_http_only_fields_are_recognised_with_their_flags_but_not_their_lookalikes() -> None:
    custom = LogOptions(user_log_format="%r %{+Q}r %ST %{+Q}ST %rt %rc %Tr")
    line = log_lines.frontend_lines(project_id="p", lb_id="lb", http=False, options=custom)
    assert line == ['log-format "- - - - %rt %rc %Tr"']


def test_the_load_balancer_name_is_never_in_a_flow_log_line() -> None:
    # Only ids are: a name is free text of the user's.
    assert "name" not in DEFAULT_USER_LOG_FORMAT


@given(project=st.text(min_size=1, max_size=40).filter(lambda s: not CONTROL.search(s)))
def test_a_hostile_project_id_stays_one_literal_word_of_the_format(project: str) -> None:
    options = LogOptions()
    [line] = log_lines.frontend_lines(project_id=project, lb_id=LB, http=True, options=options)
    parsed = parse(f"frontend x\n    {line}\n")[-1]
    assert parsed.words[0] == "log-format" and len(parsed.words) == 2
    first = parsed.words[1].split(" ")[0]
    # haproxy reads "%%" as one literal "%": no sample expression starts in the id.
    assert first.replace("%%", "") == project.replace("%", "").replace(" ", "_")
    assert first.count("%") == 2 * project.count("%")


@pytest.mark.parametrize("bad", ["a\nlog 10.0.0.1:514 local0", "x\ry", "a\u2028b"])
def test_a_project_id_with_control_characters_is_refused(bad: str) -> None:
    with pytest.raises(RenderError):
        _render(LogOptions(), project=bad)


def test_log_lines_are_global_ones_and_every_proxy_uses_them() -> None:
    text = _render(LogOptions())
    sections = {line.section for line in parse(text) if line.keyword == "log"}
    assert sections == {"global", "defaults"}
    assert ("log", "global") in _logs(text)
