"""Process and file chores shared by the compute drivers that run amphorae on this host.

``write_agent_files`` lays out what an agent boots from (its TLS identity and JSON config),
the same for every such driver; only where the agent listens differs.

Agents are found again by pid file (they outlive the controller), so liveness is a pid check
that treats a zombie as dead; stopping is SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from portico.drivers.compute.base import AmphoraRequest, ImageUnavailable
from portico.settings import ImageSetting
from portico.wire.log_forwarding import LogForwarding

STOP_SECONDS = 10.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (exited, not yet reaped) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False  # it exited (and was reaped) since kill(0)
    except (OSError, IndexError):
        return True
    return state != "Z"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


async def terminate(
    pid: int, child: asyncio.subprocess.Process | None, *, graceful: bool = True
) -> None:
    """SIGTERM, wait up to STOP_SECONDS, then SIGKILL (at once unless ``graceful``).

    Reaps ``child`` if it is ours.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM if graceful else signal.SIGKILL)
    deadline = time.monotonic() + (STOP_SECONDS if graceful else 1.0)
    while time.monotonic() < deadline:
        if child is not None and child.returncode is not None:
            return
        if child is None and not pid_alive(pid):
            return
        if child is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), 0.05)
        else:
            await asyncio.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if child is not None:
        await child.wait()


def image_fields(images: Mapping[str, ImageSetting], image: str | None) -> dict[str, object]:
    """The agent config fields an image sets; ``ImageUnavailable`` for one not offered.

    Called before a driver creates anything, so a refused image leaves nothing behind.
    """
    if image is None:
        return {}
    if not images:
        return {"agent_version": image}
    found = images.get(image)
    if found is None:
        raise ImageUnavailable(f"image {image!r} is not one of {sorted(images)}")
    fields: dict[str, object] = {"agent_version": found.agent_version or image}
    if found.api_versions:
        fields["api_versions"] = list(found.api_versions)
    return fields


def write_agent_files(
    base: Path,
    request: AmphoraRequest,
    *,
    image: Mapping[str, object] | None = None,
    bind_host: str,
    bind_port: int,
    haproxy_binary: str,
    heartbeat_host: str | None = None,
    use_json: bool = False,
    log_forwarding: LogForwarding | None = None,
) -> Path:
    """The agent's certificates and config under ``base``; returns the config's path.

    ``heartbeat_host`` replaces loopback heartbeat targets (an agent in a namespace reaches
    the host at another address). ``use_json``: the agent logs JSON lines (``use_json``);
    ``log_forwarding``: where it ships the amphora's logs (none: kept locally only).
    """
    tls = base / "tls"
    tls.mkdir(exist_ok=True, mode=0o700)
    (tls / "ca.pem").write_bytes(request.boot_files.ca_pem)
    write_private(tls / "agent.pem", request.boot_files.certificate_pem)
    write_private(tls / "agent.key", request.boot_files.private_key_pem)
    config: dict[str, object] = {
        "amphora_id": request.amphora_id,
        "bind_host": bind_host,
        "bind_port": bind_port,
        "base_dir": str(base / "haproxy"),
        "haproxy_binary": haproxy_binary,
        "ca_file": str(tls / "ca.pem"),
        "cert_file": str(tls / "agent.pem"),
        "key_file": str(tls / "agent.key"),
        "use_json": use_json,
    }
    if log_forwarding is not None:
        config["log_forwarding"] = log_forwarding.model_dump(mode="json")
    config.update(image or {})
    if request.heartbeat is not None:
        config.update(request.heartbeat.agent_fields(host=heartbeat_host))
    path = base / "agent.json"
    # Private: it holds the amphora's heartbeat key.
    write_private(path, json.dumps(config).encode())
    return path
