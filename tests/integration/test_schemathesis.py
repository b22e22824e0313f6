"""Property-based fuzzing of every operation in portico's OpenAPI schema: no input yields a 5xx.

The schema is read from a real ``portico serve`` (reconciler running; SQLite, then PostgreSQL)
on a free loopback port, so operations other engineers add later are covered without touching this
file. Each operation gets a bounded number of schema-conforming examples (with the ids of
real seeded objects in its path, so handlers get past the 404) and of schema-violating ones
(generated path ids). Failures are collected over the whole run and reported together, each
with a curl line to reproduce it, instead of stopping at the first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from tests.conftest import LOCAL_SUBNET, wait_for
from tests.support.processes import PorticoProcess, start_portico

# Per operation and mode; raise it for a deeper run: PORTICO_TEST_FUZZ_EXAMPLES=300 pytest …
MAX_EXAMPLES = int(os.environ.get("PORTICO_TEST_FUZZ_EXAMPLES", "25"))
REQUEST_TIMEOUT = 10.0
BUDGET_SECONDS = float(os.environ.get("PORTICO_TEST_FUZZ_BUDGET", "170"))
# Writes go first-last so the seeded objects survive until the deletes run.
METHOD_ORDER = {"GET": 0, "HEAD": 0, "POST": 1, "PATCH": 2, "PUT": 2, "DELETE": 3}

pytestmark = pytest.mark.xdist_group("schemathesis")


@pytest.fixture
def server(database_url: str) -> Iterator[PorticoProcess]:
    """``portico serve`` on SQLite and on PostgreSQL (which refuses more, e.g. NUL in text)."""
    tmp = Path(tempfile.mkdtemp(prefix="portico-fuzz-"))
    env = {"PORTICO_RECONCILE_INTERVAL": "0.2"}
    url = None if database_url.startswith("sqlite") else database_url
    srv = start_portico("serve", data_dir=tmp, database_url=url, env=env)
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _post(client: httpx.Client, path: str, key: str, body: dict[str, Any]) -> str:
    response = client.post(path, json={key: body})
    assert response.status_code == 201, (path, response.text)
    return str(response.json()[key]["id" if "id" in response.json()[key] else "name"])


def _wait_active(client: httpx.Client, lb_id: str) -> None:
    def active() -> bool:
        lb = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
        return bool(lb["provisioning_status"] == "ACTIVE")

    wait_for(active, timeout=30, interval=0.05)


def seed(url: str) -> dict[str, str]:
    """One object of each kind, so positive examples can reach past the lookups."""
    base = "/v2/lbaas"
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as client:
        ids: dict[str, str] = {}

        def post(resource: str, key: str, body: dict[str, Any], path: str = "") -> str:
            object_id = _post(client, path or f"{base}/{resource}", key, body)
            if "lb_id" in ids:
                _wait_active(client, ids["lb_id"])
            return object_id

        ids["lb_id"] = post("loadbalancers", "loadbalancer", {"vip_subnet_id": LOCAL_SUBNET})
        ids["listener_id"] = post(
            "listeners",
            "listener",
            {"loadbalancer_id": ids["lb_id"], "protocol": "HTTP", "protocol_port": 80},
        )
        ids["pool_id"] = post(
            "pools",
            "pool",
            {"listener_id": ids["listener_id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
        )
        ids["member_id"] = post(
            "",
            "member",
            {"address": "127.0.0.10", "protocol_port": 8080},
            path=f"{base}/pools/{ids['pool_id']}/members",
        )
        hm = {"pool_id": ids["pool_id"], "type": "HTTP", "delay": 5, "timeout": 3}
        ids["hm_id"] = post("healthmonitors", "healthmonitor", {**hm, "max_retries": 3})
        ids["policy_id"] = post(
            "l7policies", "l7policy", {"listener_id": ids["listener_id"], "action": "REJECT"}
        )
        ids["rule_id"] = post(
            "",
            "rule",
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"},
            path=f"{base}/l7policies/{ids['policy_id']}/rules",
        )
        ids["flavorprofile"] = post(
            "flavorprofiles",
            "flavorprofile",
            {"name": "fp", "provider_name": "noop", "flavor_data": "{}"},
        )
        ids["flavor_id"] = post(
            "flavors", "flavor", {"name": "f", "flavor_profile_id": ids["flavorprofile"]}
        )
        ids["azprofile"] = post(
            "availabilityzoneprofiles",
            "availability_zone_profile",
            {"name": "azp", "provider_name": "noop", "availability_zone_data": "{}"},
        )
        ids["name"] = post(
            "availabilityzones",
            "availability_zone",
            {"name": "az1", "availability_zone_profile_id": ids["azprofile"]},
        )
    ids["project_id"] = "default-project"
    ids["provider"] = "noop"
    return ids


def path_values(path: str, names: list[str], ids: dict[str, str]) -> dict[str, str] | None:
    """Real ids for every path parameter of ``path``, or None if one is unknown."""
    values: dict[str, str] = {}
    for name in names:
        key = name
        if name == "profile_id":
            key = "azprofile" if "availabilityzoneprofiles" in path else "flavorprofile"
        if key not in ids:
            return None
        values[name] = ids[key]
    return values


def fuzz_operation(operation: Any, *, url: str, ids: dict[str, str], failures: list[str]) -> None:
    names = [p.name for p in operation.path_parameters]
    fixed = path_values(operation.path, names, ids) if names else {}
    modes: list[tuple[GenerationMode, dict[str, str] | None]] = [
        (GenerationMode.POSITIVE, fixed),
        (GenerationMode.NEGATIVE, None),
    ]
    for mode, path_parameters in modes:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=os.environ.get("PORTICO_TEST_FUZZ_RANDOM") is None,
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            try:
                response = case.call(base_url=url, timeout=REQUEST_TIMEOUT)
            except Exception as exc:  # a hang or a dropped connection is as bad as a 500
                failures.append(f"{operation.label}: {type(exc).__name__}: {exc}")
                return
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except (AssertionError, BaseExceptionGroup):
                failures.append(
                    f"{operation.label} -> {response.status_code} {response.text[:300]}\n"
                    f"    {case.as_curl_command()}"
                )

        # Unsatisfiable: nothing in the operation can be made invalid (GET / has no inputs).
        with contextlib.suppress(Unsatisfiable):
            run()


def test_no_operation_answers_5xx(server: PorticoProcess) -> None:
    ids = seed(server.url)
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: METHOD_ORDER.get(op.method.upper(), 1))
    failures: list[str] = []
    started = time.monotonic()
    for operation in operations:
        if time.monotonic() - started > BUDGET_SECONDS:
            failures.append(f"time budget of {BUDGET_SECONDS}s spent before {operation.label}")
            break
        fuzz_operation(operation, url=server.url, ids=ids, failures=failures)
    assert server.alive(), server.output()[-3000:]
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:40])
