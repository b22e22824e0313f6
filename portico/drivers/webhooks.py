"""POSTs event payloads to operators' webhooks: one try per call, each bounded in time.

Any answer but 2xx, and any transport failure, is a ``TransientError``: whether to try again
is the outbox's decision (``portico.services.event_outbox``), not the receiver's. Redirects
are not followed, so a receiver cannot bounce events to an address nobody configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from portico import __version__
from portico.domain.errors import TransientError

EVENT_ID_HEADER = "X-Portico-Event-Id"
ATTEMPT_HEADER = "X-Portico-Delivery-Attempt"


class WebhookSender:
    """One connection pool for every webhook of this controller."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": f"portico/{__version__}"},
        )

    async def post(
        self, url: str, payload: Mapping[str, Any], *, event_id: str, attempt: int
    ) -> None:
        """Deliver ``payload`` as JSON; ``TransientError`` says why the receiver did not take it."""
        headers = {EVENT_ID_HEADER: event_id, ATTEMPT_HEADER: str(attempt)}
        try:
            # httpx bounds each phase (connect, write, read, pool) by the timeout on its own;
            # this bounds the whole try, so a slow-dripping receiver cannot outlive the lease.
            async with asyncio.timeout(self._timeout):
                response = await self._client.post(url, json=payload, headers=headers)
        except TimeoutError as exc:
            raise TransientError(f"no answer within {self._timeout}s") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise TransientError(f"HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()
