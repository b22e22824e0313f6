"""Recent log lines of amphorae, read by their agents from the end of each file.

One page per amphora: the newest ``limit`` lines (or, walking forwards, the oldest), and
where the next page continues, as byte offsets the agent gave. Several amphorae (the two of
an ACTIVE_STANDBY pair) are asked at once; one that does not answer is reported with its
reason while the others' lines are still shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from portico.domain.errors import PermanentError, TransientError
from portico.orchestrator.diagnostics import AGENT_SECONDS, AgentUnavailable
from portico.orchestrator.provider import AmphoraProvider
from portico.services.amphora_records import AmphoraRecord
from portico.wire.agent_diagnostics import LogPage, LogSource


@dataclass(frozen=True)
class LogRequest:
    """Which page: ``offsets`` (by amphora id) continue earlier pages; ``None`` starts at the
    newest lines, or at the oldest with ``forwards``."""

    source: LogSource
    limit: int
    offsets: Mapping[str, int] | None = None
    forwards: bool = False


@dataclass(frozen=True)
class Tail:
    """One amphora's page, or why there is none."""

    amphora_id: str
    page: LogPage | None = None
    error: AgentUnavailable | None = None

    def next_offset(self, *, forwards: bool) -> int | None:
        """Where the following page starts; ``None`` when this one reached the file's edge."""
        if self.page is None:
            return None
        if forwards:
            return self.page.end if self.page.end < self.page.size else None
        return self.page.start if self.page.start > 0 else None


async def read_logs(
    provider: AmphoraProvider, amphorae: Sequence[AmphoraRecord], request: LogRequest
) -> list[Tail]:
    """A page of ``request.source`` from each amphora (those whose earlier page had more)."""
    wanted = [a for a in amphorae if request.offsets is None or a.id in request.offsets]
    return list(await asyncio.gather(*(_tail(provider, a, request) for a in wanted)))


async def _tail(provider: AmphoraProvider, amphora: AmphoraRecord, request: LogRequest) -> Tail:
    if amphora.agent_endpoint is None:
        return Tail(amphora.id, error=AgentUnavailable(amphora.id, "it has no agent endpoint"))
    offset = None if request.offsets is None else request.offsets[amphora.id]
    if request.forwards:
        before, after = None, offset if offset is not None else 0
    else:
        before, after = offset, None
    try:
        page = await provider.fleet.client.logs(
            amphora.agent_endpoint,
            amphora.id,
            request.source,
            limit=request.limit,
            before=before,
            after=after,
            seconds=AGENT_SECONDS,
        )
    except (TransientError, PermanentError) as exc:
        return Tail(amphora.id, error=AgentUnavailable(amphora.id, str(exc)))
    return Tail(amphora.id, page=page)
