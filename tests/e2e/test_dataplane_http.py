"""HTTP behaviour through a real amphora: what a client of the VIP sees for each balancing
algorithm, session persistence type, member option and listener option Octavia documents.

Each test builds one load balancer whose listeners each exercise one behaviour (one boot
per test), and counts which backend answered bounded numbers of requests.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_for
from tests.support.backends import backends
from tests.support.dataplane import (
    build_lb,
    by_name,
    change,
    delete_lb,
    fetch,
    http_pool,
    members_by_name,
    rendered_config,
    tally,
    tally_one_connection,
)


def _listener(port: int, pool: dict[str, object], **fields: object) -> dict[str, object]:
    return {
        "name": f"l{port}",
        "protocol": "HTTP",
        "protocol_port": port,
        "default_pool": pool,
        **fields,
    }


def test_each_algorithm_distributes_as_documented(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(3) as web, backends(2, prefix="lc") as lc:
        lc[0].delay = 1.0  # the slow member: it holds a connection while the others answer
        lb = build_lb(
            amphora_client,
            [
                _listener(8001, http_pool("rr", web)),
                _listener(8002, http_pool("lc", lc, algorithm="LEAST_CONNECTIONS")),
                _listener(8003, http_pool("sip", web, algorithm="SOURCE_IP")),
                _listener(8004, http_pool("sipp", web, algorithm="SOURCE_IP_PORT")),
            ],
        )
        vip = lb["vip_address"]
        config = rendered_config(tmp_path)

        assert tally(f"http://{vip}:8001/", 30) == {"b0": 10, "b1": 10, "b2": 10}, config

        # Overlapping requests: while the slow member holds one, leastconn picks the idle one.
        answers: list[str] = []
        threads = [
            threading.Thread(target=lambda: answers.append(fetch(f"http://{vip}:8002/").text))
            for _ in range(10)
        ]
        for thread in threads:
            thread.start()
            time.sleep(0.05)  # paces the requests so that they overlap the slow one
        for thread in threads:
            thread.join(timeout=10)
        assert len(answers) == 10
        assert answers.count("lc0") <= 3 and answers.count("lc1") >= 7, (answers, config)

        # SOURCE_IP: one client address always reaches the same member; addresses spread.
        chosen = {}
        for n in range(2, 10):
            seen = tally(f"http://{vip}:8003/", 3, source=f"127.0.0.{n}")
            assert len(seen) == 1, (n, seen, config)
            chosen[n] = next(iter(seen))
        assert len(set(chosen.values())) > 1, (chosen, config)

        # SOURCE_IP_PORT: one connection (same address and port) sticks; new ports spread.
        assert len(tally_one_connection(f"http://{vip}:8004/", 6)) == 1, config
        assert len(tally(f"http://{vip}:8004/", 30)) > 1, config
        delete_lb(amphora_client, lb["id"], tmp_path)


def test_session_persistence_types_keep_a_client_on_one_member(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(3) as web:
        for server in web:
            server.set_cookie = f"JSESSIONID=session-{server.name}; Path=/"
        lb = build_lb(
            amphora_client,
            [
                _listener(8011, http_pool("sip", web, session_persistence={"type": "SOURCE_IP"})),
                _listener(
                    8012, http_pool("cookie", web, session_persistence={"type": "HTTP_COOKIE"})
                ),
                _listener(
                    8013,
                    http_pool(
                        "app",
                        web,
                        session_persistence={"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
                    ),
                ),
            ],
        )
        vip = lb["vip_address"]
        config = rendered_config(tmp_path)

        # SOURCE_IP persistence on round robin: one client address stays on one member.
        for n in (2, 3):
            assert len(tally(f"http://{vip}:8011/", 6, source=f"127.0.0.{n}")) == 1, config

        # HTTP_COOKIE: haproxy inserts its cookie; a client that sends it back sticks.
        first = fetch(f"http://{vip}:8012/")
        cookies = dict(first.cookies)
        assert "SRV" in cookies, (first.headers, config)
        assert tally(f"http://{vip}:8012/", 6, cookies=cookies) == {first.text: 6}, config

        # APP_COOKIE: the backend's own cookie is learned; requests carrying it stick.
        for _ in range(2):
            first = fetch(f"http://{vip}:8013/")
            session = {"JSESSIONID": first.cookies["JSESSIONID"]}
            assert tally(f"http://{vip}:8013/", 6, cookies=session) == {first.text: 6}, config
        delete_lb(amphora_client, lb["id"], tmp_path)


def test_member_weight_backup_and_admin_state_and_their_updates(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(3) as web:
        lb = build_lb(
            amphora_client,
            [
                _listener(
                    8021,
                    http_pool("weighted", web[:2], member_fields=[{"weight": 3}, {"weight": 1}]),
                ),
                _listener(8022, http_pool("backup", web[:2], member_fields=[{}, {"backup": True}])),
                _listener(
                    8023,
                    http_pool("disabled", web, member_fields=[{"admin_state_up": False}, {}, {}]),
                ),
            ],
        )
        vip = lb["vip_address"]
        config = rendered_config(tmp_path)
        pools = by_name(amphora_client, lb["id"], "pools")

        weighted = tally(f"http://{vip}:8021/", 40)
        assert 28 <= weighted["b0"] <= 32 and weighted["b0"] + weighted["b1"] == 40, config

        # The backup member serves only when every primary is down (here: disabled by the API).
        assert tally(f"http://{vip}:8022/", 10) == {"b0": 10}, config
        backup_members = members_by_name(amphora_client, pools["backup"]["id"])
        change(
            amphora_client,
            lb["id"],
            "PUT",
            f"pools/{pools['backup']['id']}/members/{backup_members['b0']['id']}",
            {"member": {"admin_state_up": False}},
        )
        assert tally(f"http://{vip}:8022/", 6) == {"b1": 6}, rendered_config(tmp_path)

        # A disabled member gets nothing; enabling it (and reweighting) through the API
        # converges on the running haproxy.
        assert "b0" not in tally(f"http://{vip}:8023/", 12), config
        disabled = members_by_name(amphora_client, pools["disabled"]["id"])
        change(
            amphora_client,
            lb["id"],
            "PUT",
            f"pools/{pools['disabled']['id']}/members/{disabled['b0']['id']}",
            {"member": {"admin_state_up": True, "weight": 2}},
        )
        reweighted = tally(f"http://{vip}:8023/", 12)
        assert 5 <= reweighted["b0"] <= 7 and len(reweighted) == 3, rendered_config(tmp_path)
        delete_lb(amphora_client, lb["id"], tmp_path)


def test_connection_limit_allowed_cidrs_and_insert_headers(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(1, prefix="slow") as slow, backends(1) as web:
        lb = build_lb(
            amphora_client,
            [
                _listener(8031, http_pool("limited", slow), connection_limit=2),
                _listener(8032, http_pool("cidr", web), allowed_cidrs=["127.0.0.2/32"]),
                _listener(
                    8033,
                    http_pool("headers", web),
                    insert_headers={
                        "X-Forwarded-For": "true",
                        "X-Forwarded-Port": "true",
                        "X-Forwarded-Proto": "true",
                    },
                ),
            ],
        )
        vip = lb["vip_address"]
        config = rendered_config(tmp_path)

        # connection_limit 2: two slow requests hold both slots; a third connection is not
        # served until one of them finishes.
        results: dict[str, int] = {}

        def timed(key: str, url: str) -> None:
            results[key] = fetch(url, timeout=10).status_code

        holders = [
            threading.Thread(target=timed, args=(f"slow{i}", f"http://{vip}:8031/?delay=2"))
            for i in range(2)
        ]
        for thread in holders:
            thread.start()
        wait_for(lambda: slow[0].hits == 2, timeout=5)
        third = threading.Thread(target=timed, args=("third", f"http://{vip}:8031/"))
        third.start()
        third.join(timeout=1.0)
        assert "third" not in results and slow[0].hits == 2, (results, config)
        for thread in [*holders, third]:
            thread.join(timeout=10)
        assert set(results) == {"slow0", "slow1", "third"} and slow[0].hits == 3, results

        # allowed_cidrs: haproxy itself refuses other sources.
        assert fetch(f"http://{vip}:8032/", source="127.0.0.2").text == "b0"
        with pytest.raises(httpx.HTTPError):
            fetch(f"http://{vip}:8032/", source="127.0.0.3")

        # insert_headers reach the member.
        web[0].received.clear()
        assert fetch(f"http://{vip}:8033/", source="127.0.0.5").status_code == 200
        headers = {k.lower(): v for k, v in web[0].received[-1].items()}
        assert headers.get("x-forwarded-for") == "127.0.0.5", (headers, config)
        assert headers.get("x-forwarded-port") == "8033", (headers, config)
        assert headers.get("x-forwarded-proto") == "http", (headers, config)
        delete_lb(amphora_client, lb["id"], tmp_path)


def test_deleting_member_listener_pool_stops_their_traffic_and_lb_delete_leaves_nothing(
    amphora_client: TestClient, tmp_path: Path
) -> None:
    with backends(2) as web:
        lb = build_lb(
            amphora_client,
            [_listener(8041, http_pool("first", web)), _listener(8042, http_pool("second", web))],
        )
        vip = lb["vip_address"]
        listeners = by_name(amphora_client, lb["id"], "listeners")
        pools = by_name(amphora_client, lb["id"], "pools")
        assert tally(f"http://{vip}:8041/", 4) == {"b0": 2, "b1": 2}

        members = members_by_name(amphora_client, pools["first"]["id"])
        change(
            amphora_client,
            lb["id"],
            "DELETE",
            f"pools/{pools['first']['id']}/members/{members['b1']['id']}",
        )
        assert tally(f"http://{vip}:8041/", 4) == {"b0": 4}, rendered_config(tmp_path)

        change(amphora_client, lb["id"], "DELETE", f"pools/{pools['first']['id']}")
        # A listener without a default pool answers 503 (haproxy has no backend for it).
        assert fetch(f"http://{vip}:8041/").status_code == 503, rendered_config(tmp_path)

        change(amphora_client, lb["id"], "DELETE", f"listeners/{listeners['l8042']['id']}")
        with pytest.raises(httpx.ConnectError):
            fetch(f"http://{vip}:8042/")

        delete_lb(amphora_client, lb["id"], tmp_path)
        with pytest.raises(httpx.ConnectError):
            fetch(f"http://{vip}:8041/")
