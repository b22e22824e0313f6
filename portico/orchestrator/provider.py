"""Provider ``amphora``: converges a load balancer onto amphorae running haproxy.

One pass, level-triggered and idempotent (the reconciler calls it for every generation and
after any crash): make sure the load balancer's amphora exists and answers (booting one if
not, replacing one the compute driver lost), render the configuration for what that amphora
reports it can run, and push it, through the runtime API when only members changed, else as
a seamless reload. The agent refuses generations older than the one it applied, so a slow
controller can never roll an amphora back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy.orm import Session

from portico.db.engine import Database
from portico.domain.constants import AmphoraStatus
from portico.domain.errors import PermanentError, TransientError
from portico.drivers.agent_client import AgentClient, StaleGeneration
from portico.drivers.certs.pki import CertificateAuthority, ClientFiles, IssuedCertificate
from portico.drivers.compute.base import (
    AmphoraRequest,
    BootFiles,
    ComputeDriver,
    HeartbeatSetup,
    Instance,
    InstanceStatus,
    NetworkPlug,
)
from portico.drivers.compute.registry import load_compute_driver
from portico.drivers.providers.base import (
    ApplyResult,
    InvalidMetadata,
    LoadBalancerSnapshot,
    ProviderContext,
)
from portico.orchestrator import member_networks, statuses
from portico.orchestrator.capabilities import refused_feature
from portico.render.capabilities import RenderTarget
from portico.render.errors import RenderError
from portico.render.haproxy import RenderOptions, render_haproxy
from portico.render.runtime_plan import plan_runtime
from portico.services import amphora_records as records
from portico.services import heartbeats
from portico.services.amphora_records import AmphoraRecord
from portico.wire.agent_api import ConfigPush, RuntimeChange, TlsFile
from portico.wire.heartbeat import derive_key

LOG = logging.getLogger(__name__)
FLAVOR_CAPABILITIES = {
    "loadbalancer_topology": "The load balancer topology. One of: SINGLE - One amphora per "
    "load balancer. (ACTIVE_STANDBY comes with the health and high availability work.)",
    "compute_flavor": "The compute driver flavor ID.",
    "amp_image_tag": "The amphora image (agent version) to boot.",
}
AVAILABILITY_ZONE_CAPABILITIES = {
    "compute_zone": "The compute availability zone to use for this loadbalancer.",
}
P = ParamSpec("P")
R = TypeVar("R")
POLL_SECONDS = 0.02


class AmphoraProvider:
    name = "amphora"
    description = "The amphora provider: haproxy on amphorae managed by portico."

    def __init__(self, context: ProviderContext) -> None:
        self.settings = context.settings
        self._db = cast(Database, context.database)
        self._ca = CertificateAuthority(
            self.settings.data_dir / "pki", validity_days=self.settings.amphora_cert_validity_days
        )
        self._compute: ComputeDriver | None = None
        self._heartbeat_secret: bytes | None = None
        self._client: AgentClient | None = None
        self._client_files: ClientFiles | None = None
        self._closing: set[asyncio.Future[None]] = set()
        # What this controller last pushed to each amphora (generation, configuration text),
        # to plan runtime changes. Empty after a restart: the first pass pushes in full, and
        # the agent answers "unchanged" when the hash matches what it runs.
        self._pushed: dict[str, tuple[int, str]] = {}
        self._options = RenderOptions(hard_stop_after_seconds=self.settings.haproxy_hard_stop_after)

    # -- lazily built edges (nothing is touched until a load balancer needs it) ----------
    @property
    def compute(self) -> ComputeDriver:
        if self._compute is None:
            self._compute = load_compute_driver(self.settings)
        return self._compute

    @property
    def client(self) -> AgentClient:
        """The agent client, rebuilt when the controller's client certificate is renewed."""
        files = self._client_files
        if self._client is None or files is None or self._ca.client_needs_renewal(files):
            old = self._client
            self._client_files = self._ca.controller_client()
            self._client = AgentClient(self._client_files)
            if old is not None:
                self._closing.add(asyncio.ensure_future(old.aclose()))
        return self._client

    def unsupported(self, feature: str) -> bool:
        return refused_feature(feature) is not None

    # -- flavors and availability zones (as Octavia's amphora driver names them) ---------
    def flavor_capabilities(self) -> Mapping[str, str]:
        return FLAVOR_CAPABILITIES

    def availability_zone_capabilities(self) -> Mapping[str, str]:
        return AVAILABILITY_ZONE_CAPABILITIES

    def validate_flavor(self, data: Mapping[str, Any]) -> None:
        topology = data.get("loadbalancer_topology")
        if topology is not None and topology != "SINGLE":
            raise InvalidMetadata(
                f"loadbalancer_topology {topology!r} is not supported by provider amphora yet "
                "(SINGLE only)"
            )
        for key in ("compute_flavor", "amp_image_tag"):
            value = data.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidMetadata(f"{key} must be a non-empty string")

    def validate_availability_zone(self, data: Mapping[str, Any]) -> None:
        zone = data.get("compute_zone")
        if zone is not None and (not isinstance(zone, str) or not zone):
            raise InvalidMetadata("compute_zone must be a non-empty string")

    # -- the provider contract --------------------------------------------------------------
    async def apply(self, snapshot: LoadBalancerSnapshot) -> ApplyResult:
        amphora = await self._ensure_amphora(snapshot)
        await member_networks.converge_legs(
            snapshot,
            amphora,
            settings=self.settings,
            compute=self.compute,
            allocate=self._allocate_leg,
            release=self._release_leg,
        )
        target = RenderTarget.from_info(amphora.haproxy_version, amphora.capabilities)
        try:
            rendered = render_haproxy(snapshot.spec, target, self._options)
        except RenderError as exc:
            raise PermanentError(str(exc)) from exc
        push = ConfigPush(
            generation=snapshot.generation,
            haproxy_cfg=rendered.text,
            files=[TlsFile(name=name, content=content) for name, content in rendered.files],
        )
        endpoint = self._endpoint(amphora)
        previous = self._base(amphora)
        ops = plan_runtime(previous, rendered.text, target) if previous else None
        try:
            if ops:
                result = await self.client.runtime(
                    endpoint, amphora.id, RuntimeChange(ops=ops, config=push)
                )
            else:
                result = await self.client.push(endpoint, amphora.id, push)
        except StaleGeneration as exc:
            # Another controller applied a newer generation: read it again and converge.
            raise TransientError(str(exc)) from exc
        self._pushed[amphora.id] = (result.generation, rendered.text)
        await self._write(
            records.record_applied,
            amphora.id,
            generation=result.generation,
            config_hash=result.config_hash,
        )
        stats = await self.client.stats(endpoint, amphora.id)
        return ApplyResult(operating_status=statuses.from_stats(snapshot.spec, stats.rows))

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
        for amphora in await self._read(records.for_load_balancer, snapshot.id):
            await self._remove(amphora)

    # -- amphorae ------------------------------------------------------------------------
    async def _ensure_amphora(self, snapshot: LoadBalancerSnapshot) -> AmphoraRecord:
        """The load balancer's working amphora, adopting, finishing or replacing one as needed.

        After a controller restart the rows are the truth: an ALLOCATED amphora whose instance
        runs is adopted as it is (agents outlive controllers), a BOOTING one is finished with
        the same amphora id (``create`` is idempotent per id, so its running instance is
        found, not duplicated). Any row beyond the first usable one is removed, so a load
        balancer never keeps two amphorae.
        """
        chosen: AmphoraRecord | None = None
        for amphora in await self._read(records.for_load_balancer, snapshot.id):
            if chosen is not None or amphora.status == AmphoraStatus.ERROR:
                await self._remove(amphora)
                continue
            if amphora.status == AmphoraStatus.BOOTING or amphora.compute_id is None:
                chosen = await self._boot(snapshot, amphora.id)
                continue
            state = await self.compute.status(amphora.compute_id)
            if state in (InstanceStatus.RUNNING, InstanceStatus.BUILDING):
                chosen = amphora
                continue
            LOG.warning("%s amphora %s is %s: replacing it", snapshot.id, amphora.id, state)
            await self._remove(amphora)
        if chosen is not None:
            return chosen
        amphora_id = str(uuid.uuid4())
        await self._write(
            records.create,
            amphora_id=amphora_id,
            lb_id=snapshot.id,
            compute_driver=self.compute.name,
            image=self.settings.amphora_image,
        )
        return await self._boot(snapshot, amphora_id)

    async def _boot(self, snapshot: LoadBalancerSnapshot, amphora_id: str) -> AmphoraRecord:
        instance, expires = await self._create_instance(amphora_id, snapshot.id)
        await self._write(
            records.record_boot,
            amphora_id,
            compute_id=instance.compute_id,
            agent_endpoint=instance.agent_endpoint,
            cert_expiration=expires,
        )
        if snapshot.spec.vip_address:
            await self.compute.plug_vip(instance.compute_id, self._vip(snapshot))
        await self._wait_for_agent(instance.agent_endpoint, amphora_id)
        info = await self.client.info(instance.agent_endpoint, amphora_id)
        await self._write(
            records.record_info,
            amphora_id,
            api_version=info.api_version,
            agent_version=info.agent_version,
            haproxy_version=info.haproxy_version,
            openssl_version=info.openssl_version,
            keepalived_version=info.keepalived_version,
            capabilities=list(info.capabilities),
        )
        found = await self._read(records.get, amphora_id)
        assert found is not None
        return found

    async def _create_instance(
        self, amphora_id: str, lb_id: str | None
    ) -> tuple[Instance, dt.datetime]:
        """Ask the compute driver for the amphora (idempotent per id), with fresh boot files."""
        issued = await asyncio.to_thread(self._issue, amphora_id)
        request = AmphoraRequest(
            amphora_id=amphora_id,
            load_balancer_id=lb_id,
            image=self.settings.amphora_image,
            boot_files=BootFiles(
                ca_pem=self._ca.ca_pem,
                certificate_pem=issued.certificate_pem,
                private_key_pem=issued.private_key_pem,
            ),
            heartbeat=await self._heartbeat(amphora_id),
        )
        return await self.compute.create(request), issued.not_after

    async def _heartbeat(self, amphora_id: str) -> HeartbeatSetup:
        """Where the amphora sends heartbeats, signed with its own key derived from the secret."""
        if self._heartbeat_secret is None:
            self._heartbeat_secret = await asyncio.to_thread(heartbeats.load_secret, self.settings)
        return HeartbeatSetup(
            targets=(f"{self.settings.health_bind_host}:{self.settings.health_bind_port}",),
            key=derive_key(self._heartbeat_secret, uuid.UUID(amphora_id)),
            interval=self.settings.heartbeat_interval,
        )

    def _issue(self, amphora_id: str) -> IssuedCertificate:
        return self._ca.issue(amphora_id, server=True)

    async def _wait_for_agent(self, endpoint: str, amphora_id: str) -> None:
        deadline = time.monotonic() + self.settings.amphora_boot_timeout
        while True:
            try:
                await self.client.versions(endpoint, amphora_id, seconds=1.0)
                return
            except TransientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(POLL_SECONDS)

    async def _remove(self, amphora: AmphoraRecord) -> None:
        # Our kept-alive TLS connections first: an agent asked to stop waits for its open
        # connections to close, and an idle one held by this pool only closes on our side.
        if self._client is not None:
            await self._client.forget(amphora.id)
        compute_id = amphora.compute_id
        if compute_id is None and amphora.status == AmphoraStatus.BOOTING:
            # A boot cut short between ``create`` and recording its compute id: the instance
            # may run. ``create`` is idempotent per amphora id, so it names it, then it goes.
            instance, _ = await self._create_instance(amphora.id, amphora.load_balancer_id)
            compute_id = instance.compute_id
        if compute_id is not None:
            await self.compute.delete(compute_id)
        self._pushed.pop(amphora.id, None)
        await self._write(records.mark, amphora.id, AmphoraStatus.DELETED)

    async def _allocate_leg(self, amphora_id: str, subnet_id: str, cidr: str) -> str:
        return await self._write(records.allocate_leg, amphora_id, subnet_id=subnet_id, cidr=cidr)

    async def _release_leg(self, amphora_id: str, subnet_id: str) -> None:
        await self._write(records.release_leg, amphora_id, subnet_id=subnet_id)

    def _vip(self, snapshot: LoadBalancerSnapshot) -> NetworkPlug:
        spec = snapshot.spec
        assert spec.vip_address is not None
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

    # -- database, off the event loop ------------------------------------------------------
    async def _read(
        self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        def run() -> R:
            with self._db.reading() as session:
                return fn(session, *args, **kwargs)

        return await asyncio.to_thread(run)

    async def _write(
        self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        def run() -> R:
            with self._db.writing() as session:
                return fn(session, *args, **kwargs)

        return await asyncio.to_thread(run)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        await asyncio.gather(*self._closing, return_exceptions=True)
