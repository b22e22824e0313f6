"""``openstack loadbalancer listener|pool|member|healthmonitor|l7policy|l7rule …`` end to end.

Each test walks one family through create, list, show, set, unset and delete with the stock
CLI, the way an operator would, and checks what the CLI prints. Independent calls run side by
side (``osc.many``) to keep the suite's wall time down.
"""

from __future__ import annotations

from tests.compat.conftest import (
    COMPAT,
    LOCAL_SUBNET,
    Osc,
    Plain,
    Server,
    cli,
    delete_lb,
    get,
    make_lb,
    unique,
    wait_lb_active,
)

pytestmark = COMPAT

NONE = (None, "", "None", {})


def tags_of(value: object) -> list[str]:
    """The CLI prints tags as a newline-joined string or a list, depending on the command."""
    if isinstance(value, str):
        return sorted(t for t in value.replace(",", "\n").split("\n") if t.strip())
    assert isinstance(value, list)
    return sorted(str(t) for t in value)


def test_listener_pool_member_healthmonitor_lifecycle(osc: Osc, server: Server) -> None:
    lb = make_lb(server)
    listener = osc(
        *cli(f"listener create --name {unique('web')} --protocol HTTP --protocol-port 80"),
        *cli(f"--connection-limit 50 --tag t1 --wait {lb}"),
    )
    assert listener["provisioning_status"] == "ACTIVE"
    assert (listener["protocol_port"], listener["connection_limit"]) == (80, 50)
    lis = listener["id"]
    pool = osc(
        *cli(f"pool create --name {unique('pool')} --protocol HTTP --lb-algorithm ROUND_ROBIN"),
        *cli(f"--listener {lis} --session-persistence type=SOURCE_IP"),
    )
    assert pool["lb_algorithm"] == "ROUND_ROBIN"
    assert lb in str(pool["loadbalancers"])
    assert lis in str(pool["listeners"])
    pid = pool["id"]
    member, monitor = osc.many(
        cli(
            f"member create --name {unique('m')} --address 127.0.0.10 --protocol-port 8080 "
            f"--subnet-id local --weight 3 {pid}"
        ),
        cli(
            f"healthmonitor create --name {unique('hm')} --delay 5 --timeout 3 --max-retries 2 "
            f"--type HTTP --url-path /health --expected-codes 200-204 {pid}"
        ),
    )
    assert (member["address"], member["subnet_id"]) == ("127.0.0.10", LOCAL_SUBNET)
    assert (member["protocol_port"], member["weight"]) == (8080, 3)
    assert (monitor["url_path"], monitor["expected_codes"]) == ("/health", "200-204")
    mid, hid = member["id"], monitor["id"]
    wait_lb_active(server, lb)

    listeners, pools, members, monitors = osc.many(
        cli(f"listener list --loadbalancer {lb}"),
        cli(f"pool list --loadbalancer {lb}"),
        cli(f"member list {pid}"),
        cli("healthmonitor list"),
    )
    assert [row["id"] for row in listeners] == [lis]
    assert [row["id"] for row in pools] == [pid]
    assert [row["id"] for row in members] == [mid]
    assert hid in [row["id"] for row in monitors]

    osc.many(
        Plain(f"listener set --description edge --connection-limit 80 {lis}"),
        Plain(f"pool set --description backends --lb-algorithm LEAST_CONNECTIONS {pid}"),
        Plain(f"member set --weight 7 --monitor-port 9000 --wait {pid} {mid}"),
        Plain(f"healthmonitor set --delay 10 --max-retries-down 4 {hid}"),
    )
    wait_lb_active(server, lb)
    listener, pool, member, monitor = osc.many(
        cli(f"listener show {lis}"),
        cli(f"pool show {pid}"),
        cli(f"member show {pid} {mid}"),
        cli(f"healthmonitor show {hid}"),
    )
    assert (listener["description"], listener["connection_limit"]) == ("edge", 80)
    assert (pool["description"], pool["lb_algorithm"]) == ("backends", "LEAST_CONNECTIONS")
    assert (member["weight"], member["monitor_port"]) == (7, 9000)
    assert (monitor["delay"], monitor["max_retries_down"]) == (10, 4)
    assert member["provisioning_status"] == "ACTIVE"  # member set --wait

    osc.many(
        Plain(f"listener unset --description --connection-limit --tag t1 {lis}"),
        Plain(f"pool unset --description --session-persistence {pid}"),
        Plain(f"member unset --weight --monitor-port {pid} {mid}"),
        Plain(f"healthmonitor unset --url-path --expected-codes {hid}"),
    )
    wait_lb_active(server, lb)
    # The CLI's show is checked above; read the unset results cheaply over HTTP.
    listener = get(server, f"/listeners/{lis}")["listener"]
    pool = get(server, f"/pools/{pid}")["pool"]
    member = get(server, f"/pools/{pid}/members/{mid}")["member"]
    monitor = get(server, f"/healthmonitors/{hid}")["healthmonitor"]
    assert listener["description"] in NONE
    assert listener["connection_limit"] == -1
    assert tags_of(listener["tags"]) == []
    assert pool["description"] in NONE
    assert pool["session_persistence"] in NONE
    assert member["weight"] == 1
    assert member["monitor_port"] in NONE
    assert (monitor["url_path"], monitor["expected_codes"]) == ("/", "200")

    stats, status = osc.many(cli(f"listener stats show {lis}"), Plain(f"status show {lb}"))
    assert stats["total_connections"] == 0
    (tree_listener,) = status["loadbalancer"]["listeners"]
    (tree_pool,) = tree_listener["pools"]
    assert tree_pool["id"] == pid
    assert tree_pool["health_monitor"]["id"] == hid
    assert [m["id"] for m in tree_pool["members"]] == [mid]

    osc.many(Plain(f"healthmonitor delete {hid}"), Plain(f"member delete {pid} {mid}"))
    osc(*cli(f"pool delete --wait {pid}"), json=False)
    osc(*cli(f"listener delete {lis}"), json=False)
    wait_lb_active(server, lb)
    assert get(server, f"/listeners?loadbalancer_id={lb}")["listeners"] == []
    assert get(server, f"/pools?loadbalancer_id={lb}")["pools"] == []
    delete_lb(server, lb)


def test_l7policy_and_l7rule_lifecycle(osc: Osc, server: Server) -> None:
    lb = make_lb(server)
    listener, pool = osc.many(
        cli(f"listener create --protocol HTTP --protocol-port 8080 {lb}"),
        cli(f"pool create --protocol HTTP --lb-algorithm ROUND_ROBIN --loadbalancer {lb}"),
    )
    lis, pid = listener["id"], pool["id"]
    policy = osc(
        *cli(f"l7policy create --name {unique('l7p')} --action REDIRECT_TO_POOL"),
        *cli(f"--redirect-pool {pid} --tag x {lis}"),
    )
    assert (policy["action"], policy["redirect_pool_id"]) == ("REDIRECT_TO_POOL", pid)
    assert policy["position"] == 1
    pol = policy["id"]
    rule = osc(*cli(f"l7rule create --compare-type STARTS_WITH --type PATH --value /api {pol}"))
    assert (rule["type"], rule["compare_type"], rule["value"]) == ("PATH", "STARTS_WITH", "/api")
    rid = rule["id"]
    wait_lb_active(server, lb)

    policies, rules = osc.many(cli(f"l7policy list --listener {lis}"), cli(f"l7rule list {pol}"))
    assert [row["id"] for row in policies] == [pol]
    assert [row["id"] for row in rules] == [rid]

    osc.many(
        Plain(
            "l7policy set --action REDIRECT_TO_URL --redirect-url https://example.test/ "
            f"--redirect-http-code 301 --description go {pol}"
        ),
        Plain(
            "l7rule set --type HEADER --key X-Env --value prod --compare-type EQUAL_TO "
            f"--invert --tag y {pol} {rid}"
        ),
    )
    wait_lb_active(server, lb)
    policy, rule = osc.many(cli(f"l7policy show {pol}"), cli(f"l7rule show {pol} {rid}"))
    assert (policy["action"], policy["redirect_url"]) == (
        "REDIRECT_TO_URL",
        "https://example.test/",
    )
    assert policy["redirect_http_code"] == 301
    assert policy["redirect_pool_id"] in NONE
    assert (rule["type"], rule["key"], rule["value"]) == ("HEADER", "X-Env", "prod")
    assert rule["invert"] is True
    assert tags_of(rule["tags"]) == ["y"]

    osc.many(
        Plain(f"l7policy unset --description --redirect-http-code --tag x {pol}"),
        Plain(f"l7rule unset --invert --tag y {pol} {rid}"),
    )
    wait_lb_active(server, lb)
    policy = get(server, f"/l7policies/{pol}")["l7policy"]
    rule = get(server, f"/l7policies/{pol}/rules/{rid}")["rule"]
    assert policy["description"] in NONE
    assert policy["redirect_http_code"] == 302
    assert tags_of(policy["tags"]) == []
    assert rule["invert"] is False
    assert tags_of(rule["tags"]) == []

    osc(*cli(f"l7rule delete {pol} {rid}"), json=False)
    assert get(server, f"/l7policies/{pol}/rules")["rules"] == []
    osc(*cli(f"l7policy delete --wait {pol}"), json=False)
    assert get(server, f"/l7policies?listener_id={lis}")["l7policies"] == []
    delete_lb(server, lb)
