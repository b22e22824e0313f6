"""Provider ``amphora``: converges a load balancer onto amphorae running haproxy.

One pass, level-triggered and idempotent (the reconciler calls it for every generation and
after any crash): make sure the load balancer has an amphora that answers (claiming a spare
or booting one if not, replacing one that failed or that an operator retires), render the
configuration for what that amphora reports it can run, and push it, through the runtime API
when only members changed, else as a seamless reload. Amphorae being replaced are removed
only once the replacement serves. The agent refuses generations older than the one it
applied, so a slow controller can never roll an amphora back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

from portico.db.engine import Database
from portico.domain.constants import AmphoraRole, AmphoraStatus, Topology
from portico.domain.errors import PermanentError, TransientError
from portico.domain.vrrp import PAIR as PAIR_ROLES
from portico.domain.vrrp import assign_roles
from portico.drivers.agent_client import ConfigInvalid, ReloadRolledBack, StaleGeneration
from portico.drivers.compute.base import InstanceStatus, NetworkPlug
from portico.drivers.providers.base import (
    ApplyResult,
    LoadBalancerSnapshot,
    ProviderContext,
)
from portico.orchestrator import (
    agent_settings,
    catalogue,
    member_networks,
    pair,
    rotation,
    statuses,
)
from portico.orchestrator.capabilities import refused_feature
from portico.orchestrator.fleet import Fleet
from portico.orchestrator.handover import hand_over
from portico.orchestrator.render_settings import render_options
from portico.render.capabilities import RenderTarget
from portico.render.errors import RenderError
from portico.render.haproxy import render_haproxy
from portico.render.peers import Peers
from portico.render.runtime_plan import plan_runtime
from portico.services import amphora_records as records
from portico.services import events, placement, upgrades
from portico.services.amphora_records import AmphoraRecord
from portico.services.events import EventKind
from portico.wire.agent_api import ConfigPush, RuntimeChange, TlsFile

LOG = logging.getLogger(__name__)
# How much of haproxy's output a reload_rolled_back event keeps (the agent sends up to 8000).
ROLLBACK_DETAIL_CHARS = 2000
# Amphorae on their way out of a load balancer, and whether to stop them gracefully.
Leaving = list[tuple[AmphoraRecord, bool]]


class AmphoraProvider:
    name = "amphora"
    description = "The amphora provider: haproxy on amphorae managed by portico."

    def __init__(self, context: ProviderContext) -> None:
        self.settings = context.settings
        self.fleet = Fleet(self.settings, cast(Database, context.database))
        # What this controller last pushed to each amphora (generation, configuration text),
        # to plan runtime changes. Empty after a restart: the first pass pushes in full, and
        # the agent answers "unchanged" when the hash matches what it runs.
        self._pushed: dict[str, tuple[int, str]] = {}
        self._options = render_options(self.settings)

    def unsupported(self, feature: str) -> bool:
        return refused_feature(feature) is not None

    # -- flavors and availability zones (as Octavia's amphora driver names them) ---------
    def flavor_capabilities(self) -> Mapping[str, str]:
        return catalogue.FLAVOR_CAPABILITIES

    def availability_zone_capabilities(self) -> Mapping[str, str]:
        return catalogue.AVAILABILITY_ZONE_CAPABILITIES

    def validate_flavor(self, data: Mapping[str, Any]) -> None:
        catalogue.validate_flavor(data, compute=self.fleet.compute)

    def validate_availability_zone(self, data: Mapping[str, Any]) -> None:
        catalogue.validate_availability_zone(data)

    # -- the provider contract --------------------------------------------------------------
    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        if snapshot.topology == Topology.ACTIVE_STANDBY:
            return await self._apply_pair(snapshot)
        (amphora,), leaving = await self._ensure_amphorae(snapshot, 1, vip=self._vip(snapshot))
        await self._converge_legs(snapshot, amphora)
        await self._push(snapshot, amphora)
        await agent_settings.push_pending(self.fleet, amphora)
        stats = await self.fleet.client.stats(self._endpoint(amphora), amphora.id)
        await self._remove_leaving(snapshot, amphora, leaving)
        return ApplyResult(operating_status=statuses.from_stats(snapshot.spec, stats.rows))

    async def _apply_pair(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        """ACTIVE_STANDBY: two amphorae, keepalived moving the VIP between them.

        Both get haproxy's configuration before keepalived's, so whichever takes the VIP
        serves at once; a replacement joins as BACKUP beside the survivor, which keeps the
        VIP throughout (its reload for the new peer drops nothing).
        """
        vip, subnet_id = self._vip(snapshot), snapshot.spec.vip_subnet_id
        if vip is None or subnet_id is None:
            raise PermanentError("ACTIVE_STANDBY needs a VIP address on a subnet")
        target = await self._target(snapshot.id)
        compute = self.fleet.compute_for(target.placement.compute_driver)
        if not compute.vrrp:
            raise PermanentError(catalogue.NO_VRRP.format(driver=compute.name))
        found, leaving = await self._ensure_amphorae(snapshot, 2, vip=None)
        survivors = [a for a in found if a.role in PAIR_ROLES]
        roles = assign_roles([(a.id, a.role) for a in found])
        joined = [
            await pair.join(
                self.fleet, a, roles[a.id], lb_id=snapshot.id, vip=vip, subnet_id=subnet_id
            )
            for a in found
        ]
        for amphora in joined:
            await self._converge_legs(snapshot, amphora)
        port = self.settings.haproxy_peers_port
        await asyncio.gather(
            *(self._push(snapshot, a, peers=pair.peers(a, joined, port)) for a in joined)
        )
        for amphora in joined:
            await agent_settings.push_pending(self.fleet, amphora)
        settings = self.settings
        configs = [
            pair.keepalived(
                a,
                joined,
                lb_id=snapshot.id,
                vip=vip,
                generation=snapshot.generation,
                advert_interval=settings.vrrp_advert_interval,
                check_interval=settings.vrrp_check_interval,
                check_fall=settings.vrrp_check_fall,
                check_rise=settings.vrrp_check_rise,
                garp_refresh_interval=settings.vrrp_garp_refresh_interval,
                garp_refresh_count=settings.vrrp_garp_refresh_count,
            )
            for a in joined
        ]
        # Three adverts elect a MASTER; allow for slow machines and a check script's rise.
        settle = 10 * settings.vrrp_advert_interval + 2 * settings.vrrp_check_interval + 3
        if survivors:
            # One of the pair stays: the leaving one goes first. A retired MASTER still holds
            # the VIP; drained and stopped, it hands it to the survivor within one advert
            # (``handover``), rather than leaving the reloaded priorities to decide.
            await hand_over(
                self.fleet,
                leaving,
                survivor=survivors[0],
                drain_seconds=settings.vrrp_drain_timeout,
                settle_seconds=settle,
            )
            await self._remove_leaving(snapshot, survivors[0], leaving)
            leaving = []
        # The MASTER's keepalived first, and the BACKUP's once one of the pair holds the VIP:
        # with ``nopreempt`` whoever comes up alone takes the VIP and keeps it, so the
        # priorities alone would not decide a pair started at the same time.
        ordered = sorted(
            zip(joined, configs, strict=True), key=lambda item: item[0].role != AmphoraRole.MASTER
        )
        master = joined[0]
        for amphora, config in ordered:
            try:
                await self.fleet.client.vrrp(self._endpoint(amphora), amphora.id, config)
            except StaleGeneration as exc:
                raise TransientError(str(exc)) from exc
            master = await pair.wait_for_master(self.fleet, joined, seconds=settle)
        stats = await self.fleet.client.stats(self._endpoint(master), master.id)
        await self._remove_leaving(snapshot, master, leaving)
        if rotation.more_to_do(joined, target):
            # The pair's other amphora is off target: one more pass replaces it.
            await self.fleet.write(upgrades.request_pass, snapshot.id)
        return ApplyResult(operating_status=statuses.from_stats(snapshot.spec, stats.rows))

    async def _converge_legs(self, snapshot: LoadBalancerSnapshot, amphora: AmphoraRecord) -> None:
        await member_networks.converge_legs(
            snapshot,
            amphora,
            settings=self.settings,
            compute=self.fleet.compute_for(amphora.compute_driver),
            allocate=self._allocate_leg,
            release=self._release_leg,
        )

    async def _push(
        self, snapshot: LoadBalancerSnapshot, amphora: AmphoraRecord, *, peers: Peers | None = None
    ) -> None:
        """Render for what the amphora reports it runs, and apply: runtime ops when only
        servers changed since our last push to it, else a seamless reload."""
        fleet = self.fleet
        push, target = self.desired_push(snapshot, amphora, peers=peers)
        endpoint = self._endpoint(amphora)
        previous = self._base(amphora)
        ops = plan_runtime(previous, push.haproxy_cfg, target) if previous else None
        try:
            if ops:
                result = await fleet.client.runtime(
                    endpoint, amphora.id, RuntimeChange(ops=ops, config=push)
                )
            else:
                result = await fleet.client.push(endpoint, amphora.id, push)
        except StaleGeneration as exc:
            # Another controller applied a newer generation: read it again and converge.
            raise TransientError(str(exc)) from exc
        except (ConfigInvalid, ReloadRolledBack) as exc:
            # The amphora kept what it ran: say so, then let the reconciler retry or give up.
            detail = f"generation {snapshot.generation} not applied, the previous one serves: "
            await fleet.write(
                events.record,
                EventKind.RELOAD_ROLLED_BACK,
                detail + str(exc)[:ROLLBACK_DETAIL_CHARS],
                amphora_id=amphora.id,
                load_balancer_id=snapshot.id,
            )
            raise
        self._pushed[amphora.id] = (result.generation, push.haproxy_cfg)
        await fleet.write(
            records.record_applied,
            amphora.id,
            generation=result.generation,
            config_hash=result.config_hash,
        )

    def desired_push(
        self, snapshot: LoadBalancerSnapshot, amphora: AmphoraRecord, *, peers: Peers | None
    ) -> tuple[ConfigPush, RenderTarget]:
        """The configuration ``amphora`` should run, rendered for what it reports it runs.

        Also how diagnostics learn the hash the controller expects on an amphora.
        """
        target = RenderTarget.from_info(amphora.haproxy_version, amphora.capabilities)
        try:
            rendered = render_haproxy(snapshot.spec, target, self._options, peers=peers)
        except RenderError as exc:
            raise PermanentError(str(exc)) from exc
        push = ConfigPush(
            generation=snapshot.generation,
            haproxy_cfg=rendered.text,
            files=[TlsFile(name=name, content=content) for name, content in rendered.files],
        )
        return push, target

    def _base(self, amphora: AmphoraRecord) -> str | None:
        """The configuration the amphora runs, if this controller knows it for sure.

        Only when the amphora's recorded generation is the one we pushed: another controller
        may have pushed since (leases move), and runtime operations planned from an older
        text would leave haproxy's servers out of step with its configuration.
        """
        pushed = self._pushed.get(amphora.id)
        if pushed is None or pushed[0] != amphora.applied_generation:
            return None
        return pushed[1]

    async def delete(self, snapshot: LoadBalancerSnapshot) -> None:
        for amphora in await self.fleet.read(records.for_load_balancer, snapshot.id):
            await self._remove(amphora, graceful=amphora.status != AmphoraStatus.ERROR)

    # -- amphorae ------------------------------------------------------------------------
    async def _ensure_amphorae(
        self, snapshot: LoadBalancerSnapshot, want: int, *, vip: NetworkPlug | None
    ) -> tuple[list[AmphoraRecord], Leaving]:
        """The ``want`` amphorae to serve the load balancer, and those to remove once they do.

        After a controller restart the rows are the truth: an ALLOCATED amphora whose instance
        runs is adopted as it is (agents outlive controllers), a BOOTING one is finished with
        the same amphora id (``create`` is idempotent per id, so its running instance is
        found, not duplicated). Amphorae in ERROR (failed: the health service marks silent
        ones), in PENDING_DELETE (retired by an operator's failover), whose instance is gone,
        or beyond the first usable ``want`` leave, but only after the replacements serve: a
        retired amphora keeps carrying traffic until then, and on the ``local`` driver even a
        frozen one may still. ``vip`` is plugged on amphorae that take it directly (SINGLE).
        """
        chosen: list[AmphoraRecord] = []
        leaving: Leaving = []
        target = await self._target(snapshot.id)
        for amphora in await self.fleet.read(records.for_load_balancer, snapshot.id):
            if amphora.status == AmphoraStatus.ERROR:
                leaving.append((amphora, False))
            elif amphora.status == AmphoraStatus.PENDING_DELETE or len(chosen) >= want:
                leaving.append((amphora, True))
            elif amphora.status == AmphoraStatus.BOOTING or amphora.compute_id is None:
                if rotation.off_target(amphora, target):
                    # A boot of the image being left (or of one that failed to boot).
                    leaving.append((amphora, False))
                    continue
                chosen.append(await self.fleet.boot(amphora.id, snapshot.id, vip=vip))
            elif await self.fleet.compute_for(amphora.compute_driver).status(
                amphora.compute_id
            ) in (
                InstanceStatus.RUNNING,
                InstanceStatus.BUILDING,
            ):
                chosen.append(amphora)
            else:
                LOG.warning("%s amphora %s is gone: replacing it", snapshot.id, amphora.id)
                leaving.append((amphora, False))
        # Serving amphorae off target (image, driver, zone) leave like a retired one: only
        # once their replacement serves (one of a pair per pass, see ``rotation``).
        replace = set(rotation.to_replace(chosen, target=target, want=want))
        leaving += [(a, True) for a in chosen if a.id in replace]
        chosen = [a for a in chosen if a.id not in replace]
        while len(chosen) < want:
            chosen.append(await self._replacement(snapshot, vip, target=target))
        return chosen, leaving

    async def _target(self, lb_id: str) -> placement.Target:
        default = self.fleet.compute.name
        return await self.fleet.read(placement.target, lb_id, default_driver=default)

    async def _replacement(
        self, snapshot: LoadBalancerSnapshot, vip: NetworkPlug | None, *, target: placement.Target
    ) -> AmphoraRecord:
        """A ready spare of the target's image (default ``amphora_image``) and placement when
        the pool has one (``vip`` plugged), else a newly booted amphora of it."""
        fleet = self.fleet
        image = target.image or self.settings.amphora_image
        where = target.placement
        while True:
            spare = await fleet.write(
                records.claim_spare, snapshot.id, image=image, placement=where
            )
            if spare is None:
                break
            assert spare.compute_id is not None
            compute = fleet.compute_for(spare.compute_driver)
            if await compute.status(spare.compute_id) == InstanceStatus.RUNNING:
                if vip is not None:
                    await compute.plug_vip(spare.compute_id, vip)
                LOG.info("%s takes spare amphora %s", snapshot.id, spare.id)
                return spare
            LOG.warning("spare amphora %s is gone: removing it", spare.id)
            await self._remove(spare, graceful=False)
        amphora_id = await fleet.create_row(snapshot.id, image=image, placement=where)
        return await fleet.boot(amphora_id, snapshot.id, vip=vip)

    async def _remove_leaving(
        self, snapshot: LoadBalancerSnapshot, replacement: AmphoraRecord, leaving: Leaving
    ) -> None:
        for amphora, graceful in leaving:
            await self._remove(amphora, graceful=graceful)
            if graceful and amphora.status == AmphoraStatus.ALLOCATED:
                continue  # a duplicate left by a crash, not a failover
            await self.fleet.write(
                events.record,
                EventKind.FAILOVER_FINISHED,
                f"replaced by amphora {replacement.id}",
                amphora_id=amphora.id,
                load_balancer_id=snapshot.id,
            )

    async def _remove(self, amphora: AmphoraRecord, *, graceful: bool) -> None:
        await self.fleet.remove(amphora, graceful=graceful)
        self._pushed.pop(amphora.id, None)

    async def _allocate_leg(self, amphora_id: str, subnet_id: str, cidr: str) -> str:
        return await self.fleet.write(
            records.allocate_leg, amphora_id, subnet_id=subnet_id, cidr=cidr
        )

    async def _release_leg(self, amphora_id: str, subnet_id: str) -> None:
        await self.fleet.write(records.release_leg, amphora_id, subnet_id=subnet_id)

    def _vip(self, snapshot: LoadBalancerSnapshot) -> NetworkPlug | None:
        spec = snapshot.spec
        if not spec.vip_address:
            return None
        subnet = next((s for s in self.settings.subnets if s.id == spec.vip_subnet_id), None)
        cidr = subnet.cidr if subnet else f"{spec.vip_address}/32"
        return NetworkPlug(
            address=spec.vip_address,
            subnet_cidr=cidr,
            network_id=subnet.network_id if subnet else None,
        )

    @staticmethod
    def _endpoint(amphora: AmphoraRecord) -> str:
        if amphora.agent_endpoint is None:
            raise TransientError(f"amphora {amphora.id} has no agent endpoint yet")
        return amphora.agent_endpoint

    async def aclose(self) -> None:
        await self.fleet.aclose()
