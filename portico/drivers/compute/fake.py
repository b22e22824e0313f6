"""Compute driver ``fake``, for unit tests: remembers instances, runs nothing."""

from __future__ import annotations

import time
from collections.abc import Sequence

from portico.drivers.compute.base import AmphoraRequest, Instance, InstanceStatus, NetworkPlug
from portico.settings import Settings


class FakeCompute:
    name = "fake"
    # Its amphorae run nothing, so no keepalived either.
    vrrp = False

    def __init__(self, settings: Settings | None = None) -> None:
        self.instances_by_id: dict[str, Instance] = {}
        self.plugged: dict[str, set[str]] = {}
        self.requests: list[AmphoraRequest] = []
        self.failed: set[str] = set()
        self.created_at: dict[str, float] = {}

    async def create(self, request: AmphoraRequest) -> Instance:
        self.requests.append(request)
        self.created_at.setdefault(request.amphora_id, time.monotonic())
        instance = self.instances_by_id.setdefault(
            request.amphora_id, Instance(request.amphora_id, f"fake:{request.amphora_id}")
        )
        return instance

    async def status(self, compute_id: str) -> InstanceStatus:
        if compute_id in self.failed:
            return InstanceStatus.ERROR
        if compute_id in self.instances_by_id:
            return InstanceStatus.RUNNING
        return InstanceStatus.GONE

    async def delete(self, compute_id: str, *, graceful: bool = True) -> None:
        self.instances_by_id.pop(compute_id, None)
        self.created_at.pop(compute_id, None)
        self.plugged.pop(compute_id, None)

    async def plug_vip(self, compute_id: str, vip: NetworkPlug) -> None:
        self.plugged.setdefault(compute_id, set()).add(vip.address)

    async def unplug_vip(self, compute_id: str, vip: NetworkPlug) -> None:
        self.plugged.get(compute_id, set()).discard(vip.address)

    async def plug_network(self, compute_id: str, network: NetworkPlug) -> None:
        self.plugged.setdefault(compute_id, set()).add(network.address)

    async def unplug_network(self, compute_id: str, network: NetworkPlug) -> None:
        self.plugged.get(compute_id, set()).discard(network.address)

    async def instances(self) -> Sequence[str]:
        return sorted(self.instances_by_id)

    async def age(self, compute_id: str) -> float | None:
        created = self.created_at.get(compute_id)
        return None if created is None else time.monotonic() - created
