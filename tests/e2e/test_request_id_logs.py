"""A real ``portico serve`` with ``use_json``: its log lines are JSON objects, and those of one
request, from the access line to the service it called, carry the request id its response
header gave the client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import LOCAL_SUBNET, wait_for
from tests.support.processes import start_portico


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_line_of_a_request_carries_the_request_id_of_its_response(tmp_path: Path) -> None:
    server = start_portico("serve", data_dir=tmp_path, env={"PORTICO_USE_JSON": "true"})
    try:
        created = httpx.post(
            f"{server.url}/v2/lbaas/loadbalancers",
            json={"loadbalancer": {"vip_subnet_id": LOCAL_SUBNET, "name": "web"}},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        request_id = created.headers["x-openstack-request-id"]
        assert request_id.startswith("req-") and len(request_id) == 40
        other = httpx.get(f"{server.url}/v2/lbaas/loadbalancers", timeout=10)
        other_id = other.headers["x-openstack-request-id"]
        assert other_id != request_id

        def lines_of(rid: str) -> list[dict[str, Any]]:
            return [r for r in _records(server.output()) if r.get("request_id") == rid]

        wait_for(lambda: {r["logger"] for r in lines_of(other_id)} == {"portico.api.access"})
        mine = lines_of(request_id)
        by_logger = {r["logger"]: r for r in mine}
        lb_id = created.json()["loadbalancer"]["id"]
        # The service the route called logs in a worker thread; the id followed it there.
        assert by_logger["portico.services.loadbalancers"]["message"].startswith(lb_id)
        assert (
            '"POST /v2/lbaas/loadbalancers HTTP/1.1" status: 201'
            in (by_logger["portico.api.access"]["message"])
        )
        for record in mine:
            assert {"time", "level", "logger", "message", "process", "pid"} <= set(record)
            assert record["process"] == "serve" and record["pid"] == server.pid
        # Every line the process wrote is one JSON object (uvicorn's included).
        lines = [line for line in server.output().splitlines() if line.strip()]
        assert lines and all(line.startswith("{") for line in lines), lines[:5]
        # Ids are per request: the others seen are the readiness probes' (GET /).
        strangers = [
            r for r in _records(server.output()) if r.get("request_id") not in (None, request_id)
        ]
        assert {r["logger"] for r in strangers} == {"portico.api.access"}
    finally:
        server.stop()
