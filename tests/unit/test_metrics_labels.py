"""The pure parts of ``/metrics``: who may scrape, and the route label of a request."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.routing import Route

from portico.api.metrics import UNMATCHED, route_template
from portico.api.routers.metrics import address_allowed

DEFAULT = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.9.8.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # an IPv4 client of a dual-stack socket
        ("10.1.2.3", False),
        ("::2", False),
        ("testclient", False),
        ("", False),
        (None, False),
    ],
)
def test_only_addresses_in_the_allowed_networks_may_scrape(host: str | None, allowed: bool) -> None:
    assert address_allowed(host, DEFAULT) is allowed


def _endpoint() -> None:
    """Never called: routes need one."""


MEMBER = "/lbaas/pools/{pool_id}/members/{member_id}"


@pytest.mark.parametrize(
    ("template", "path", "label"),
    [
        (MEMBER, "/v2/lbaas/pools/p/members/m", "/v2" + MEMBER),
        (MEMBER, "/v2.0/lbaas/pools/p/members/m", "/v2.0" + MEMBER),
        ("/healthcheck", "/healthcheck", "/healthcheck"),
        ("/{anything}", "/v2/x", "/v2/{anything}"),
    ],
)
def test_route_label_is_the_prefix_and_the_template(template: str, path: str, label: str) -> None:
    assert route_template({"path": path, "route": Route(template, _endpoint)}) == label


def test_requests_no_route_matched_share_one_label() -> None:
    assert route_template({"path": "/nowhere/123"}) == UNMATCHED
