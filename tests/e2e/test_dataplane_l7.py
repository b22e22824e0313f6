"""L7 policies through a real amphora: each rule type routes to its pool, redirects answer
with their status code and Location, REJECT answers 403, an inverted rule matches what it
does not name, and of two matching policies the lower position wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.support.backends import backends
from tests.support.dataplane import (
    build_lb,
    by_name,
    change,
    delete_lb,
    fetch,
    http_pool,
    rendered_config,
)


def _rule(kind: str, value: str, *, compare: str = "EQUAL_TO", **more: Any) -> dict[str, Any]:
    return {"type": kind, "compare_type": compare, "value": value, **more}


def test_l7_policies_route_redirect_and_reject_in_position_order(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(9) as servers:

        def to_pool(name: str, index: int, *rules: dict[str, Any]) -> dict[str, Any]:
            return {
                "action": "REDIRECT_TO_POOL",
                "redirect_pool": http_pool(name, [servers[index]]),
                "rules": list(rules),
            }

        # Positions follow the order of the body (1, 2, …), as in Octavia.
        policies = [
            {"action": "REJECT", "rules": [_rule("PATH", "/admin", compare="STARTS_WITH")]},
            {
                "action": "REDIRECT_TO_URL",
                "redirect_url": "http://example.com/new",
                "redirect_http_code": 301,
                "rules": [_rule("PATH", "/old", compare="STARTS_WITH")],
            },
            {
                "action": "REDIRECT_PREFIX",
                "redirect_prefix": "https://example.org",
                "redirect_http_code": 307,
                "rules": [_rule("PATH", "/moved", compare="STARTS_WITH")],
            },
            to_pool("api", 1, _rule("PATH", "/api", compare="STARTS_WITH")),
            to_pool("host", 2, _rule("HOST_NAME", "www.example.com")),
            to_pool("header", 3, _rule("HEADER", "blue", key="X-Tenant")),
            to_pool("cookie", 4, _rule("COOKIE", "choc", key="flavor")),
            to_pool("image", 5, _rule("FILE_TYPE", "png")),
            # Both rules must match: a path under /inv without the header X-Skip: yes.
            to_pool(
                "inverted",
                6,
                _rule("PATH", "/inv", compare="STARTS_WITH"),
                _rule("HEADER", "yes", key="X-Skip", invert=True),
            ),
            to_pool("first", 7, _rule("PATH", "/both", compare="STARTS_WITH")),
            to_pool("second", 8, _rule("PATH", "/second", compare="STARTS_WITH")),
        ]
        lb = build_lb(
            amphora_client,
            [
                {
                    "name": "web",
                    "protocol": "HTTP",
                    "protocol_port": 8101,
                    "default_pool": http_pool("default", [servers[0]]),
                    "l7policies": policies,
                }
            ],
        )
        base = f"http://{lb['vip_address']}:8101"
        config = rendered_config(tmp_path)

        def answer(path: str, **kw: Any) -> str:
            response = fetch(base + path, **kw)
            assert response.status_code == 200, (path, response.status_code, config)
            return response.text

        assert answer("/") == "b0"
        assert answer("/api/v1") == "b1", config
        assert answer("/", headers={"Host": "www.example.com"}) == "b2", config
        assert answer("/", headers={"Host": "other.example.com"}) == "b0", config
        assert answer("/", headers={"X-Tenant": "blue"}) == "b3", config
        assert answer("/", headers={"X-Tenant": "red"}) == "b0", config
        assert answer("/", cookies={"flavor": "choc"}) == "b4", config
        assert answer("/pics/cat.png") == "b5", config
        assert answer("/pics/cat.jpg") == "b0", config
        assert answer("/inv/x") == "b6", config
        assert answer("/inv/x", headers={"X-Skip": "yes"}) == "b0", config
        assert answer("/both") == "b7", config
        assert answer("/second") == "b8", config

        rejected = fetch(base + "/admin/users")
        assert rejected.status_code == 403, config
        moved = fetch(base + "/old/page")
        assert (moved.status_code, moved.headers["location"]) == (301, "http://example.com/new")
        prefixed = fetch(base + "/moved/page?q=1")
        assert prefixed.status_code == 307, config
        assert prefixed.headers["location"] == "https://example.org/moved/page?q=1", config

        # A policy inserted at position 1 that also matches /both now wins over the older one.
        listener_id = lb["listeners"][0]["id"]
        second = by_name(amphora_client, lb["id"], "pools")["second"]["id"]
        policy = {
            "listener_id": listener_id,
            "action": "REDIRECT_TO_POOL",
            "redirect_pool_id": second,
            "position": 1,
            "rules": [_rule("PATH", "/both", compare="STARTS_WITH")],
        }
        change(amphora_client, lb["id"], "POST", "l7policies", {"l7policy": policy})
        assert answer("/both") == "b8", rendered_config(tmp_path)
        assert answer("/api/v1") == "b1"
        delete_lb(amphora_client, lb["id"], tmp_path)
