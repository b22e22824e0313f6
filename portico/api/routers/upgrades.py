"""/portico/loadbalancers/{id}/migrate: move a load balancer onto other amphorae.

Of another image, and/or in another availability zone (whose profile may name another
compute zone or compute driver). A portico extension, admin only. The new amphorae are
booted while the old ones serve (the failover path), one amphora of an ACTIVE_STANDBY pair
at a time; ``portico admin rotate`` calls this for one load balancer after another.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from portico.api.context import CallerDep, ContextDep
from portico.api.responses import accepted
from portico.api.schemas.upgrades import MigrateBody
from portico.services import upgrades as svc

router = APIRouter(prefix="/portico/loadbalancers", tags=["upgrades"])


@router.put("/{lb_id}/migrate", status_code=202, operation_id="migrate_loadbalancer")
def migrate_loadbalancer(
    lb_id: str, body: MigrateBody, ctx: ContextDep, caller: CallerDep
) -> Response:
    with ctx.db.writing() as session:
        migration = body.migration
        target = svc.MigrationTarget(
            image=migration.amphora_image,
            moves_zone=migration.moves_zone,
            availability_zone=migration.availability_zone,
        )
        svc.migrate(session, caller, lb_id, target, settings=ctx.settings, providers=ctx.providers)
    ctx.notify_change(lb_id)
    return accepted()
