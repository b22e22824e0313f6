"""What this amphora runs: software versions and the capabilities derived from them.

Detected once at start-up from the binaries themselves (``haproxy -vv``), so an image with
an older haproxy reports fewer capabilities and the controller renders accordingly.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from portico.wire.capabilities import Capability


def _run(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def parse_version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return ()
    return tuple(int(part) for part in match.groups() if part is not None)


def haproxy_build(binary: str) -> str:
    return _run(binary, "-vv")


def haproxy_version(build: str) -> str | None:
    match = re.search(r"HA-?Proxy version (\S+)", build)
    return match.group(1) if match else None


def openssl_version(build: str) -> str | None:
    match = re.search(r"Running on OpenSSL version\s*:\s*OpenSSL (\S+)", build)
    if match is None:
        match = re.search(r"Built with OpenSSL version\s*:\s*OpenSSL (\S+)", build)
    return match.group(1) if match else None


def keepalived_version(binary: str = "keepalived") -> str | None:
    if shutil.which(binary) is None:
        return None
    match = re.search(r"Keepalived v(\S+)", _run(binary, "--version"))
    return match.group(1) if match else None


def capabilities(build: str, *, keepalived: str | None) -> list[str]:
    """Capabilities of this haproxy build (and keepalived), as ``Capability`` names."""
    found: set[Capability] = set()
    version = parse_version(haproxy_version(build) or "")
    if version >= (2, 5):
        found.add(Capability.DYNAMIC_SERVERS)
    if version >= (2, 6):
        found.add(Capability.IDLE_CLOSE_ON_RESPONSE)
    if version >= (2, 2):
        found.add(Capability.LOG_RINGS)
    if version >= (1, 9):
        found.add(Capability.HTTP2)
        found.add(Capability.PROXY_V2)
    if "prometheus-exporter" in build:
        found.add(Capability.PROMETHEUS_EXPORTER)
    if "USE_LUA=1" in build or "+LUA" in build:
        found.add(Capability.LUA)
    if parse_version(openssl_version(build) or "") >= (1, 1, 1):
        found.add(Capability.TLS13)
    if keepalived:
        found.add(Capability.VRRP)
    return sorted(found)
