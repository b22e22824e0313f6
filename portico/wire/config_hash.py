"""The configuration hash both sides compute: the agent over what it applied, the controller
over what it would push, so a support engineer can see whether an amphora runs what the
controller expects (``GET /v2/portico/amphorae/{id}/diagnostics``)."""

from __future__ import annotations

import hashlib

from portico.wire.agent_api import ConfigPush


def config_hash(push: ConfigPush) -> str:
    """A stable hash of the configuration and every file it ships with (by name)."""
    digest = hashlib.sha256(push.haproxy_cfg.encode())
    for item in sorted(push.files, key=lambda f: f.name):
        digest.update(b"\0" + item.name.encode() + b"\0" + item.content.encode())
    return digest.hexdigest()
