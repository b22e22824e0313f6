"""Which amphorae to replace because they are not what their load balancer's target says.

Off target: another image than the one asked, or booted on another compute driver or zone
than the load balancer's availability zone resolves to (services/placement.py).

Rotation and migration are failovers with a target: the provider keeps the replaced amphora
serving until its replacement does (as for any failover), and this module only decides
which ones go in a pass. A pair replaces one amphora per pass, the BACKUP first, and only
while the other serves, so the VIP always has a holder; the next pass (asked for at the end
of this one) takes the other. Everything it reads is in the rows, so a controller that died
midway resumes where the rows say.
"""

from __future__ import annotations

from collections.abc import Sequence

from portico.domain.constants import AmphoraRole
from portico.services.amphora_records import AmphoraRecord
from portico.services.placement import Target


def off_target(amphora: AmphoraRecord, target: Target) -> bool:
    """Whether the amphora runs another image than asked (none asked: any image will do),
    or was booted on another compute driver or zone than the target's."""
    if target.image is not None and amphora.image_id != target.image:
        return True
    placement = target.placement
    booted = (amphora.compute_driver, amphora.compute_zone)
    return booted != (placement.compute_driver, placement.compute_zone)


def to_replace(serving: Sequence[AmphoraRecord], *, target: Target, want: int) -> list[str]:
    """The ids of ``serving`` amphorae to replace in this pass (``want``: 1 or 2 per LB)."""
    off = [a for a in serving if off_target(a, target)]
    if not off:
        return []
    if want == 1:
        return [a.id for a in off]
    if len(serving) < want:
        return []  # finish the pair first: its only amphora is the VIP's only holder
    off.sort(key=lambda a: a.role != AmphoraRole.BACKUP)
    return [off[0].id]


def more_to_do(amphorae: Sequence[AmphoraRecord], target: Target) -> bool:
    """Whether amphorae off target remain after a pass (a pair's second one)."""
    return any(off_target(a, target) for a in amphorae)
