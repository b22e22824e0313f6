"""The operator side of ``openstack loadbalancer …``: quotas, providers, flavors, availability
zones, amphorae. The noauth caller is admin by default, as an operator on their own machine is.

The quota commands resolve their project argument through Keystone; portico's noauth
stand-in answers that lookup, so plain project names work.
"""

from __future__ import annotations

import json

from tests.compat.conftest import (
    COMPAT,
    Osc,
    Plain,
    Server,
    api,
    cli,
    delete_lb,
    unique,
)
from tests.conftest import wait_for

pytestmark = COMPAT

QUOTA_KEYS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy")


def test_quota_set_show_list_unset_reset(osc: Osc, server: Server) -> None:
    project = unique("team")
    quota = osc(*cli(f"quota set --loadbalancer 5 --listener 10 --member 20 {project}"))
    assert (quota["load_balancer"], quota["listener"], quota["member"]) == (5, 10, 20)
    shown, listed, defaults = osc.many(
        cli(f"quota show {project}"), cli("quota list"), cli("quota defaults show")
    )
    assert (shown["load_balancer"], shown["listener"], shown["member"]) == (5, 10, 20)
    (row,) = [r for r in listed if r["project_id"] == project]
    assert row["load_balancer"] == 5
    assert all(isinstance(defaults[key], int) for key in QUOTA_KEYS)

    osc(*cli(f"quota unset --loadbalancer {project}"), json=False)
    unset = osc(*cli(f"quota show {project}"))
    assert unset["load_balancer"] == defaults["load_balancer"]
    assert unset["listener"] == 10

    osc(*cli(f"quota reset {project}"), json=False)
    reset = osc(*cli(f"quota show {project}"))
    assert {k: reset[k] for k in QUOTA_KEYS} == {k: defaults[k] for k in QUOTA_KEYS}


def test_provider_list_and_capabilities(osc: Osc, server: Server) -> None:
    providers, flavor_caps, az_caps = osc.many(
        cli("provider list"),
        cli("provider capability list --flavor noop"),
        cli("provider capability list --availability-zone noop"),
    )
    # Exactly the configured enabled_provider_drivers (the default: noop alone).
    assert [p["name"] for p in providers] == ["amphora", "noop"]
    assert {(c["type"], c["name"]) for c in flavor_caps} >= {("flavor", "loadbalancer_topology")}
    assert {(c["type"], c["name"]) for c in az_caps} >= {("availability_zone", "compute_zone")}
    assert "no-such-provider" in osc.fails(*cli("provider capability list no-such-provider"))


def test_flavor_and_availability_zone_profiles_and_their_objects(osc: Osc, server: Server) -> None:
    fp_name, azp_name = unique("fp"), unique("azp")
    fp_data = json.dumps({"loadbalancer_topology": "SINGLE"})
    az_data = json.dumps({"compute_zone": "zone-a"})
    fp, azp = osc.many(
        [*cli(f"flavorprofile create --name {fp_name} --provider noop"), "--flavor-data", fp_data],
        [
            *cli(f"availabilityzoneprofile create --name {azp_name} --provider noop"),
            *("--availability-zone-data", az_data),
        ],
    )
    assert (fp["provider_name"], json.loads(fp["flavor_data"])) == ("noop", json.loads(fp_data))
    assert json.loads(azp["availability_zone_data"]) == {"compute_zone": "zone-a"}

    flavor_name, az_name = unique("small"), unique("az")
    flavor, zone = osc.many(
        cli(f"flavor create --name {flavor_name} --flavorprofile {fp_name} --description s"),
        cli(f"availabilityzone create --name {az_name} --availabilityzoneprofile {azp['id']}"),
    )
    assert (flavor["flavor_profile_id"], flavor["enabled"]) == (fp["id"], True)
    assert zone["availability_zone_profile_id"] == azp["id"]

    flavors, zones, fps, azps = osc.many(
        cli("flavor list"),
        cli("availabilityzone list"),
        cli("flavorprofile list"),
        cli("availabilityzoneprofile list"),
    )
    assert flavor["id"] in [f["id"] for f in flavors]
    assert az_name in [z["name"] for z in zones]
    assert fp["id"] in [p["id"] for p in fps]
    assert azp["id"] in [p["id"] for p in azps]

    lb = osc(
        *cli(f"create --name {unique('lb')} --vip-subnet-id local --flavor {flavor_name}"),
        *cli(f"--availability-zone {az_name}"),
    )
    assert (lb["flavor_id"], lb["availability_zone"]) == (flavor["id"], az_name)
    delete_lb(server, lb["id"])
    wait_for(
        lambda: api(server, "GET", f"/v2/lbaas/loadbalancers/{lb['id']}")[0] == 404, timeout=30
    )

    osc.many(
        Plain(f"flavor set --disable --description tiny {flavor_name}"),
        Plain(f"availabilityzone set --description west {az_name}"),
    )
    flavor, zone, fp_shown, azp_shown = osc.many(
        cli(f"flavor show {flavor_name}"),
        cli(f"availabilityzone show {az_name}"),
        cli(f"flavorprofile show {fp_name}"),
        cli(f"availabilityzoneprofile show {azp_name}"),
    )
    assert (flavor["enabled"], flavor["description"]) == (False, "tiny")
    assert zone["description"] == "west"
    assert fp_shown["id"] == fp["id"]
    assert azp_shown["id"] == azp["id"]

    osc.many(Plain(f"flavor delete {flavor_name}"), Plain(f"availabilityzone delete {az_name}"))
    osc.many(
        Plain(f"flavorprofile delete {fp_name}"),
        Plain(f"availabilityzoneprofile delete {azp_name}"),
    )
    flavors, fps = osc.many(cli("flavor list"), cli("flavorprofile list"))
    assert flavor["id"] not in [f["id"] for f in flavors]
    assert fp["id"] not in [p["id"] for p in fps]


def test_amphora_list_is_empty_with_the_noop_provider(osc: Osc, server: Server) -> None:
    assert osc(*cli("amphora list")) == []
