"""Nested bodies of a single-call full-graph load balancer create (listeners, pools, ...)."""

from __future__ import annotations

from typing import Any

# Placeholder shapes until the listener/pool schemas exist; replaced by typed models.
GraphListener = dict[str, Any]
GraphPool = dict[str, Any]
