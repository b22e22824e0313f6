"""ACTIVE_STANDBY: the VRRP side of a pair of amphorae (keepalived, haproxy ``peers``).

Each amphora of the pair gets its own address on the VIP network (its VRRP address, kept in
the database like a member leg), keepalived's configuration naming the other as its unicast
peer, and a haproxy configuration whose stick tables sync with the other's. keepalived puts
the VIP on the MASTER; the controller only says who should start as MASTER (``nopreempt``:
after a takeover nobody takes it back) and waits until exactly one holds it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence

from portico.domain.constants import AmphoraRole
from portico.domain.errors import PermanentError, TransientError
from portico.domain.vrrp import router_id
from portico.drivers.compute.base import NetworkPlug
from portico.orchestrator.fleet import Fleet
from portico.render.errors import RenderError
from portico.render.keepalived import (
    BACKUP_PRIORITY,
    MASTER_PRIORITY,
    VrrpSpec,
    render_keepalived,
)
from portico.render.peers import Peer, Peers
from portico.services import amphora_records as records
from portico.services.amphora_records import AmphoraRecord
from portico.wire.agent_api import VrrpConfig, VrrpStatus
from portico.wire.capabilities import Capability

POLL_SECONDS = 0.05
PRIORITIES = {AmphoraRole.MASTER: MASTER_PRIORITY, AmphoraRole.BACKUP: BACKUP_PRIORITY}


async def join(
    fleet: Fleet,
    amphora: AmphoraRecord,
    role: AmphoraRole,
    *,
    lb_id: str,
    vip: NetworkPlug,
    subnet_id: str,
) -> AmphoraRecord:
    """Give the amphora its VRRP address on the VIP network and record its place in the pair.

    The address is a leg on the VIP's subnet (``subnet_id``), allocated as member legs are:
    no VIP, member or other amphora uses it.

    Idempotent: the address is allocated once (and kept across passes), plugging is
    idempotent, and the interface is asked of the agent only until it is known.
    """
    if Capability.VRRP.value not in amphora.capabilities:
        raise PermanentError(f"amphora {amphora.id} has no keepalived (capability vrrp)")
    if amphora.compute_id is None or amphora.agent_endpoint is None:
        raise TransientError(f"amphora {amphora.id} is not booted yet")
    address = await fleet.write(
        records.allocate_leg, amphora.id, subnet_id=subnet_id, cidr=vip.subnet_cidr
    )
    plug = NetworkPlug(address=address, subnet_cidr=vip.subnet_cidr, network_id=vip.network_id)
    await fleet.compute_for(amphora.compute_driver).plug_network(amphora.compute_id, plug)
    interface = amphora.vrrp_interface if amphora.vrrp_ip == address else None
    if interface is None:
        found = await fleet.client.interface(amphora.agent_endpoint, amphora.id, address)
        interface = found.interface
    await fleet.write(
        records.record_vrrp,
        amphora.id,
        role=role,
        vrrp_ip=address,
        ha_ip=vip.address,
        interface=interface,
        priority=PRIORITIES[role],
        vrrp_id=router_id(lb_id),
    )
    joined = await fleet.read(records.get, amphora.id)
    assert joined is not None
    return joined


def peers(amphora: AmphoraRecord, pair: Sequence[AmphoraRecord], port: int) -> Peers:
    """haproxy's ``peers`` section as ``amphora`` renders it."""
    return Peers(
        local=amphora.id,
        members=tuple(Peer(name=a.id, address=_vrrp_ip(a), port=port) for a in pair),
    )


def keepalived(
    amphora: AmphoraRecord,
    pair: Sequence[AmphoraRecord],
    *,
    lb_id: str,
    vip: NetworkPlug,
    generation: int,
    advert_interval: float,
    check_interval: int,
    check_fall: int,
    check_rise: int,
    garp_refresh_interval: int,
    garp_refresh_count: int,
) -> VrrpConfig:
    """keepalived's configuration for ``amphora``, its peer being the other of ``pair``."""
    assert amphora.vrrp_interface is not None and amphora.vrrp_priority is not None
    prefix = ipaddress.ip_network(vip.subnet_cidr, strict=False).prefixlen
    vips = (f"{vip.address}/{prefix}",)
    spec = VrrpSpec(
        lb_id=lb_id,
        amphora_id=amphora.id,
        interface=amphora.vrrp_interface,
        router_id=amphora.vrrp_id or router_id(lb_id),
        priority=amphora.vrrp_priority,
        local_address=_vrrp_ip(amphora),
        peer_addresses=tuple(_vrrp_ip(a) for a in pair if a.id != amphora.id),
        vips=vips,
        advert_interval=advert_interval,
        check_interval=check_interval,
        check_fall=check_fall,
        check_rise=check_rise,
        garp_refresh_interval=garp_refresh_interval,
        garp_refresh_count=garp_refresh_count,
    )
    try:
        text = render_keepalived(spec)
    except RenderError as exc:
        raise PermanentError(str(exc)) from exc
    return VrrpConfig(
        generation=generation, keepalived_cfg=text, interface=spec.interface, vips=list(vips)
    )


def _vrrp_ip(amphora: AmphoraRecord) -> str:
    if amphora.vrrp_ip is None:
        raise TransientError(f"amphora {amphora.id} has no VRRP address yet")
    return amphora.vrrp_ip


async def wait_for_master(
    fleet: Fleet, pair: Sequence[AmphoraRecord], *, seconds: float
) -> AmphoraRecord:
    """The amphora holding the VIP, once exactly one does (keepalived elects in about three
    advert intervals); ``TransientError`` if none settles in ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        states = await asyncio.gather(*(_state(fleet, a) for a in pair))
        holders = [a for a, state in zip(pair, states, strict=True) if state.holds_vips]
        if len(holders) == 1:
            return holders[0]
        if time.monotonic() > deadline:
            held = ", ".join(a.id for a in holders) or "none"
            raise TransientError(f"VRRP did not settle on one MASTER (VIP held by {held})")
        await asyncio.sleep(POLL_SECONDS)


async def _state(fleet: Fleet, amphora: AmphoraRecord) -> VrrpStatus:
    assert amphora.agent_endpoint is not None
    return await fleet.client.vrrp(amphora.agent_endpoint, amphora.id)
