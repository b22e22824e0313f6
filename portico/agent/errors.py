"""The agent's errors as its API answers them: an HTTP status and an ``ErrorBody``.

Shared by the route modules (``app.py``, ``vrrp_api.py``); one handler in ``app.py`` renders
them.
"""

from __future__ import annotations

from portico.wire.agent_api import ErrorBody


class AgentError(Exception):
    """An answer other than success: ``status`` and the ``ErrorBody`` sent with it."""

    def __init__(self, status: int, error: str, message: str, details: str | None = None):
        super().__init__(message)
        self.status, self.body = status, ErrorBody(error=error, message=message, details=details)


def stale(got: int, applied: int) -> AgentError:
    """409: a push older than what is applied (a slow or restarted controller)."""
    return AgentError(
        409, "stale_generation", f"generation {got} is older than the applied {applied}"
    )
