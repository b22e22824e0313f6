"""The spares pool: amphorae booted ahead of need, so a failover only pushes a configuration.

Housekeeping keeps ``spares_pool_size`` spares (READY, or BOOTING towards it) of the current
``amphora_image``: it removes spares that failed (ERROR, set by the health service when one
falls silent; PENDING_DELETE, retired by an operator; an instance that is gone) and boots the
missing ones. Several controllers may keep one pool: each writes its new rows first, then
counts again, and a row beyond the pool's size that it wrote itself is dropped before it
boots anything, so the pool never ends up larger than asked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from portico.db.base import utcnow
from portico.domain.constants import AmphoraStatus
from portico.drivers.compute.base import InstanceStatus
from portico.orchestrator import agent_settings
from portico.orchestrator.fleet import Fleet
from portico.services import amphora_records as records
from portico.services.amphora_records import AmphoraRecord

LOG = logging.getLogger(__name__)
_FAILED = (AmphoraStatus.ERROR, AmphoraStatus.PENDING_DELETE)


async def keep_pool(fleet: Fleet, size: int) -> list[str]:
    """One pass: remove failed spares, boot missing ones; returns the ids booted."""
    image = fleet.settings.amphora_image
    pool: list[AmphoraRecord] = []
    for spare in await fleet.read(records.spares):
        if spare.status in _FAILED or spare.image_id != image:
            await fleet.remove(spare, graceful=spare.status != AmphoraStatus.ERROR)
        elif spare.status == AmphoraStatus.READY:
            assert spare.compute_id is not None
            compute = fleet.compute_for(spare.compute_driver)
            if await compute.status(spare.compute_id) == InstanceStatus.RUNNING:
                await agent_settings.push_pending(fleet, spare)  # PUT .../config on a spare
                pool.append(spare)
            else:
                LOG.warning("spare amphora %s is gone: removing it", spare.id)
                await fleet.remove(spare, graceful=False)
        elif spare.status == AmphoraStatus.BOOTING:
            if _abandoned(spare, fleet.settings.amphora_boot_timeout):
                await fleet.remove(spare, graceful=False)  # its controller died mid-boot
            else:
                pool.append(spare)  # another pass (or controller) is booting it
    for extra in pool[size:]:
        await fleet.remove(extra)  # the pool was made smaller
    mine = [await fleet.create_row(None) for _ in range(size - len(pool))]
    if not mine:
        return []
    ranked = [s.id for s in await fleet.read(records.spares) if s.status not in _FAILED]
    keep = set(ranked[:size])
    booted: list[str] = []
    for amphora_id in mine:
        if amphora_id not in keep:
            # Another controller filled the pool meanwhile; nothing was booted for this row.
            await fleet.write(records.mark, amphora_id, AmphoraStatus.DELETED)
            continue
        try:
            await fleet.boot(amphora_id, None, status=AmphoraStatus.READY)
        except Exception as exc:
            LOG.warning("spare amphora %s did not boot: %s", amphora_id, exc)
            record = await fleet.read(records.get, amphora_id)
            if record is not None:
                await fleet.remove(record, graceful=False)
            continue
        booted.append(amphora_id)
    return booted


def _abandoned(spare: AmphoraRecord, boot_timeout: float) -> bool:
    updated = spare.updated_at or spare.created_at
    return updated is not None and utcnow() - updated > dt.timedelta(seconds=2 * boot_timeout)


async def run_spares(fleet: Fleet, size: int, interval: float) -> None:
    """Keep the pool full every ``interval`` seconds until cancelled."""
    while True:
        try:
            booted = await keep_pool(fleet, size)
            if booted:
                LOG.info("spares pool: booted %s", ", ".join(booted))
        except Exception:
            LOG.exception("spares pass failed; retrying next interval")
        await asyncio.sleep(interval)
