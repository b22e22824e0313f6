"""Plugs an amphora into the subnets its members live on, and unplugs what is no longer used.

Members name a subnet (``subnet_id``); when it is not the VIP's, the amphora needs a leg on
it to reach them (Octavia plugs a Neutron port the same way). The address of each leg is
allocated in the database, so a leg keeps its address across passes and restarts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from portico.drivers.compute.base import ComputeDriver, NetworkPlug
from portico.drivers.providers.base import LoadBalancerSnapshot
from portico.services.amphora_records import AmphoraRecord
from portico.settings import Settings

Allocate = Callable[[str, str, str], Awaitable[str]]  # amphora id, subnet id, cidr -> address
Release = Callable[[str, str], Awaitable[None]]  # amphora id, subnet id


def wanted_subnets(snapshot: LoadBalancerSnapshot, settings: Settings) -> dict[str, str]:
    """Member subnets (id -> cidr) other than the VIP's, among the configured subnets."""
    known = {subnet.id: subnet for subnet in settings.subnets}
    wanted: dict[str, str] = {}
    for pool in snapshot.spec.pools:
        for member in pool.members:
            subnet = known.get(member.subnet_id or "")
            if subnet is not None and subnet.id != snapshot.spec.vip_subnet_id:
                wanted[subnet.id] = subnet.cidr
    return wanted


async def converge_legs(
    snapshot: LoadBalancerSnapshot,
    amphora: AmphoraRecord,
    *,
    settings: Settings,
    compute: ComputeDriver,
    allocate: Allocate,
    release: Release,
) -> None:
    """Plug every wanted member subnet (idempotent) and unplug those no member uses."""
    if amphora.compute_id is None:
        return
    known = {subnet.id: subnet for subnet in settings.subnets}
    wanted = wanted_subnets(snapshot, settings)
    for subnet_id, cidr in wanted.items():
        address = await allocate(amphora.id, subnet_id, cidr)
        network = known[subnet_id].network_id
        plug = NetworkPlug(address=address, subnet_cidr=cidr, network_id=network)
        await compute.plug_network(amphora.compute_id, plug)
    for subnet_id, address in amphora.network_legs.items():
        if subnet_id in wanted or subnet_id == snapshot.spec.vip_subnet_id:
            continue  # a leg on the VIP's subnet is an ACTIVE_STANDBY amphora's VRRP address
        subnet = known.get(subnet_id)
        if subnet is not None:
            plug = NetworkPlug(
                address=address, subnet_cidr=subnet.cidr, network_id=subnet.network_id
            )
            await compute.unplug_network(amphora.compute_id, plug)
        await release(amphora.id, subnet_id)
