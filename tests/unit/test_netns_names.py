"""Names and addresses of the netns driver: kernel-sized, stable, and refusing bad input."""

from __future__ import annotations

import uuid

import pytest

from portico.domain.errors import PermanentError
from portico.drivers.compute import netns_names as names

AMPHORA = "3f2b8c1e-9d4a-4b7e-a1c2-5e6f7a8b9c0d"


def test_every_host_link_name_fits_the_kernel_and_is_the_same_each_time() -> None:
    for _ in range(50):
        amphora, network = str(uuid.uuid4()), str(uuid.uuid4())
        made = [
            names.mgmt_veth(amphora),
            names.network_bridge(network),
            names.network_veth(amphora, network),
            names.network_ifname(network),
        ]
        assert all(len(name) <= 15 for name in made)
        assert all(n.startswith(names.LINK_PREFIX) for n in made[:3])
        assert names.network_veth(amphora, network) == made[2]


def test_an_amphora_on_two_networks_has_two_legs_and_two_amphorae_share_a_bridge() -> None:
    other = str(uuid.uuid4())
    assert names.network_veth(AMPHORA, "net-a") != names.network_veth(AMPHORA, "net-b")
    assert names.network_veth(AMPHORA, "net-a") != names.network_veth(other, "net-a")
    assert names.network_bridge("net-a") != names.network_bridge("net-b")


def test_namespace_is_the_prefix_and_twelve_hex_digits_of_the_amphora_id() -> None:
    assert names.namespace(AMPHORA) == "portico-3f2b8c1e9d4a"
    for bad in ("", "../etc", "not-a-uuid", "3f2b8c1e"):
        with pytest.raises(PermanentError):
            names.namespace(bad)


def test_a_network_without_id_is_keyed_by_its_normalised_subnet() -> None:
    assert names.network_key("net-1", "10.0.0.0/24") == "net-1"
    assert names.network_key(None, "10.0.0.7/24") == "10.0.0.0/24"


def test_interface_address_carries_the_subnet_prefix_and_refuses_outsiders() -> None:
    assert names.interface_address("10.213.0.10", "10.213.0.0/24") == "10.213.0.10/24"
    with pytest.raises(PermanentError):
        names.interface_address("10.214.0.10", "10.213.0.0/24")


def test_management_addresses_start_after_the_hosts_and_skip_used_ones() -> None:
    cidr = "172.31.252.0/30"
    assert names.host_mgmt_address(cidr) == "172.31.252.1/30"
    assert names.pick_mgmt_address(cidr, []) == "172.31.252.2"
    with pytest.raises(PermanentError):
        names.pick_mgmt_address(cidr, ["172.31.252.2"])
    assert names.pick_mgmt_address("10.9.0.0/24", ["10.9.0.2", "10.9.0.4"]) == "10.9.0.3"


def test_operator_interface_names_are_checked() -> None:
    assert names.check_ifname("ptc-mgmt") == "ptc-mgmt"
    for bad in ("", "x" * 16, "a b", "a/b"):
        with pytest.raises(PermanentError):
            names.check_ifname(bad)
