"""What the agent writes and runs for keepalived, as pure functions (tested without keepalived).

- ``keepalived_conf``: the file keepalived reads, ``${AMPHORA_DIR}`` defined first;
- ``check_script``: ``vrrp/check-haproxy.sh``, keepalived's slow check of haproxy;
- ``start_argv``: how keepalived is started;
- ``vrrp_hash``: what makes a second identical ``PUT /1.0/vrrp`` a no-op.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

from portico.wire.agent_api import VrrpConfig

VARIABLE = "AMPHORA_DIR"


def vrrp_hash(cfg: VrrpConfig) -> str:
    """A stable hash of everything a ``VrrpConfig`` applies (not its generation)."""
    digest = hashlib.sha256(cfg.keepalived_cfg.encode())
    for part in (cfg.interface, *cfg.vips):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def keepalived_conf(base_dir: Path, text: str) -> str:
    """The file keepalived reads: ``${AMPHORA_DIR}`` defined as ``base_dir``, then ``text``."""
    return f"${VARIABLE}={base_dir}\n{text}"


def check_script(haproxy_pid: Path) -> str:
    """``check-haproxy.sh``: exit 0 iff the process named by haproxy's pid file is alive."""
    return (
        "#!/bin/sh\n"
        "# Written by the portico agent (keepalived's vrrp_script): haproxy's master is alive.\n"
        f'read pid < {shlex.quote(str(haproxy_pid))} && kill -0 "$pid"\n'
    )


def start_argv(binary: str, *, conf: Path, pid: Path, vrrp_pid: Path) -> list[str]:
    """keepalived in the foreground (``-n``, the agent reaps it), VRRP only, logging to stdout."""
    return [binary, "-n", "-l", "-D", "-P", "-f", str(conf), "-p", str(pid), "-r", str(vrrp_pid)]
