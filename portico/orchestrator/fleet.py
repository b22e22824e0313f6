"""Booting and removing amphorae: the compute driver, the CA and the agent client together.

Shared by the provider (an amphora for a load balancer) and the spares pool (amphorae of no
load balancer yet). Every step writes its row first and is idempotent per amphora id, so a
controller that dies at any point leaves rows the next pass finishes or removes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from portico.db.engine import Database
from portico.domain.constants import AmphoraStatus
from portico.domain.errors import TransientError
from portico.drivers.agent_client import AgentClient
from portico.drivers.certs.pki import CertificateAuthority, ClientFiles, IssuedCertificate
from portico.drivers.compute.base import (
    AmphoraRequest,
    BootFiles,
    BootRefused,
    ComputeDriver,
    HeartbeatSetup,
    Instance,
    NetworkPlug,
)
from portico.drivers.compute.registry import load_compute_driver
from portico.services import amphora_records as records
from portico.services import heartbeats
from portico.services.amphora_records import AmphoraRecord
from portico.services.placement import Placement
from portico.settings import Settings
from portico.wire.heartbeat import derive_key

P = ParamSpec("P")
R = TypeVar("R")
POLL_SECONDS = 0.02


class Fleet:
    """The amphorae this controller boots and removes; edges are built on first use."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self._db = db
        self._ca = CertificateAuthority(
            settings.data_dir / "pki", validity_days=settings.amphora_cert_validity_days
        )
        self._compute: ComputeDriver | None = None
        # Drivers other than the default, loaded when an AZ profile first names one.
        self._others: dict[str, ComputeDriver] = {}
        self._heartbeat_secret: bytes | None = None
        self._client: AgentClient | None = None
        self._client_files: ClientFiles | None = None
        self._closing: set[asyncio.Future[None]] = set()

    @property
    def compute(self) -> ComputeDriver:
        if self._compute is None:
            self._compute = load_compute_driver(self.settings)
        return self._compute

    def compute_for(self, name: str | None) -> ComputeDriver:
        """The driver called ``name`` (an amphora's ``compute_driver``; None: the default)."""
        default = self.compute
        if name is None or name == default.name:
            return default
        if name not in self._others:
            self._others[name] = load_compute_driver(self.settings, name)
        return self._others[name]

    def drivers(self, names: Iterable[str | None] = ()) -> list[ComputeDriver]:
        """The default driver and those ``names`` name (loaded if need be), once each."""
        found = {self.compute.name: self.compute}
        for name in names:
            driver = self.compute_for(name)
            found.setdefault(driver.name, driver)
        return list(found.values())

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

    # -- booting ---------------------------------------------------------------------------
    async def create_row(
        self, lb_id: str | None, *, image: str | None = None, placement: Placement | None = None
    ) -> str:
        """A BOOTING row for a new amphora of ``image`` (default: ``amphora_image``) on
        ``placement`` (default: the default driver, no zone), written before anything boots."""
        amphora_id = str(uuid.uuid4())
        where = placement or Placement(self.compute.name)
        await self.write(
            records.create,
            amphora_id=amphora_id,
            lb_id=lb_id,
            compute_driver=self.compute_for(where.compute_driver).name,
            compute_zone=where.compute_zone,
            image=image or self.settings.amphora_image,
        )
        return amphora_id

    async def boot(
        self,
        amphora_id: str,
        lb_id: str | None,
        *,
        vip: NetworkPlug | None = None,
        status: AmphoraStatus = AmphoraStatus.ALLOCATED,
    ) -> AmphoraRecord:
        """Boot (or finish booting) the amphora until its agent answers; record what it runs.

        The image, compute driver and zone are those its row names (the load balancer's
        target when it was written).
        """
        row = await self.read(records.get, amphora_id)
        if row is None:
            raise TransientError(f"amphora {amphora_id} has no row")
        instance, expires = await self.create_instance(row)
        await self.write(
            records.record_boot,
            amphora_id,
            compute_id=instance.compute_id,
            agent_endpoint=instance.agent_endpoint,
            cert_expiration=expires,
        )
        if vip is not None:
            await self.compute_for(row.compute_driver).plug_vip(instance.compute_id, vip)
        await self._wait_for_agent(instance.agent_endpoint, amphora_id)
        info = await self.client.info(instance.agent_endpoint, amphora_id)
        await self.write(
            records.record_info,
            amphora_id,
            api_version=info.api_version,
            agent_version=info.agent_version,
            haproxy_version=info.haproxy_version,
            openssl_version=info.openssl_version,
            keepalived_version=info.keepalived_version,
            capabilities=list(info.capabilities),
            status=status,
        )
        found = await self.read(records.get, amphora_id)
        assert found is not None
        return found

    async def create_instance(self, amphora: AmphoraRecord) -> tuple[Instance, dt.datetime]:
        """Ask the amphora's compute driver for its instance (idempotent per id), in the
        zone and of the image its row names, with fresh boot files."""
        amphora_id = amphora.id
        issued = await asyncio.to_thread(self._issue, amphora_id)
        request = AmphoraRequest(
            amphora_id=amphora_id,
            load_balancer_id=amphora.load_balancer_id,
            availability_zone=amphora.compute_zone,
            image=amphora.image_id,
            boot_files=BootFiles(
                ca_pem=self._ca.ca_pem,
                certificate_pem=issued.certificate_pem,
                private_key_pem=issued.private_key_pem,
            ),
            heartbeat=await self._heartbeat(amphora_id),
        )
        compute = self.compute_for(amphora.compute_driver)
        return await compute.create(request), issued.not_after

    async def _heartbeat(self, amphora_id: str) -> HeartbeatSetup:
        """Where the amphora sends heartbeats, signed with its own key derived from the secret."""
        if self._heartbeat_secret is None:
            self._heartbeat_secret = await asyncio.to_thread(heartbeats.load_secret, self.settings)
        return HeartbeatSetup(
            targets=tuple(self.settings.effective_heartbeat_targets),
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

    # -- removing --------------------------------------------------------------------------
    async def remove(self, amphora: AmphoraRecord, *, graceful: bool = True) -> None:
        """Delete the amphora's instance and mark its row DELETED.

        ``graceful=False`` for an amphora that failed: nothing on it is worth waiting for,
        and a frozen agent would only hold the removal up.
        """
        # Our kept-alive TLS connections first: an agent asked to stop waits for its open
        # connections to close, and an idle one held by this pool only closes on our side.
        if self._client is not None:
            await self._client.forget(amphora.id)
        compute_id = amphora.compute_id
        if compute_id is None and amphora.status == AmphoraStatus.BOOTING:
            # A boot cut short between ``create`` and recording its compute id: the instance
            # may run. ``create`` is idempotent per amphora id, so it names it, then it goes.
            try:
                instance, _ = await self.create_instance(amphora)
                compute_id = instance.compute_id
            except BootRefused:
                pass  # refused before anything was made: nothing to delete
        if compute_id is not None:
            await self.compute_for(amphora.compute_driver).delete(compute_id, graceful=graceful)
        await self.write(records.mark, amphora.id, AmphoraStatus.DELETED)

    # -- database, off the event loop ------------------------------------------------------
    async def read(
        self, fn: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        def run() -> R:
            with self._db.reading() as session:
                return fn(session, *args, **kwargs)

        return await asyncio.to_thread(run)

    async def write(
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
