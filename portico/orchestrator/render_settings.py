"""What the renderer takes from the controller's settings (``render_haproxy``'s options).

The renderer is pure and knows no settings object; this is the one place that maps the
operator's settings (haproxy_hard_stop_after, the log options of docs/operations.md, "Log
offloading") onto its options.
"""

from __future__ import annotations

from portico.render.haproxy import LogOptions, RenderOptions
from portico.settings import Settings


def render_options(settings: Settings) -> RenderOptions:
    """The rendering options every configuration of this controller is rendered with."""
    return RenderOptions(
        hard_stop_after_seconds=settings.haproxy_hard_stop_after,
        logs=LogOptions(
            user_facility=settings.user_log_facility,
            admin_facility=settings.administrative_log_facility,
            connection_logging=settings.connection_logging,
            user_log_format=settings.user_log_format,
        ),
    )
