"""The views of ``/v2/portico/events``: the event as webhooks receive it, plus its deliveries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from portico.api.schemas.common import timestamp
from portico.db.models import Event, EventDelivery
from portico.services.events import event_view


def webhook_label(url: str) -> str:
    """The webhook without credentials or query: receivers often take a token in either."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def delivery_view(delivery: EventDelivery) -> dict[str, Any]:
    return {
        "webhook": webhook_label(delivery.target),
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "next_attempt_at": timestamp(delivery.next_attempt_at),
        "finished_at": timestamp(delivery.finished_at),
    }


def event_detail_view(event: Event, deliveries: list[EventDelivery]) -> dict[str, Any]:
    """``GET /events/{id}``: the event and how its delivery to each webhook went."""
    return {**event_view(event), "deliveries": [delivery_view(d) for d in deliveries]}
