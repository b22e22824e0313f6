"""What the amphora provider refuses, whatever the amphora (features not built yet)."""

from __future__ import annotations

REFUSED = {
    "protocol:UDP": "UDP is not supported by provider amphora yet",
    "protocol:SCTP": "SCTP is not supported by provider amphora yet",
    "healthmonitor:UDP-CONNECT": "UDP-CONNECT is not supported by provider amphora yet",
    "healthmonitor:SCTP": "SCTP health monitors are not supported by provider amphora yet",
}


def refused_feature(feature: str) -> str | None:
    """Why ``feature`` (e.g. ``protocol:UDP``) is refused, or None when it is supported."""
    return REFUSED.get(feature)
