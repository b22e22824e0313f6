"""Namespaces for the benchmarks that need the ``netns`` compute driver (root).

A VIP network the driver will bridge, a member namespace with an HTTP backend and a client
namespace running the prober: traffic stays between namespaces this module and the driver
made, and everything is removed afterwards (processes by the pids started here). The
prober starts a request every period whether or not the last one answered (one lost SYN
waits a second for its retransmission, and must not hold the next probes back), and prints
``start-time ok`` lines; CLOCK_MONOTONIC is the same in every network namespace, so its
times compare with the benchmark's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from portico.drivers.compute.netns import NetnsCompute
from portico.settings import Settings

# Run as a script, the benchmark has bench/ on its path but not the repository: the
# namespace plumbing is the tests' own (stdlib only), not a copy of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.netns_links import ip as ip  # failover.py calls netns_rig.ip
from tests.support.netns_links import legged

PREFIX = "ptb"  # short: interface names have 15 characters
BACKEND = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    def handle_error(self, *a): pass  # probers hang up mid-answer during faults
S((sys.argv[1], 8000), H).serve_forever()
"""
PROBER = """
import http.client, sys, threading, time
host, period, limit = sys.argv[1], float(sys.argv[2]), time.monotonic() + float(sys.argv[3])
timeout = float(sys.argv[4])
lock = threading.Lock()
def one(start):
    conn = http.client.HTTPConnection(host, 80, timeout=timeout)
    try:
        conn.request("GET", "/"); ok = conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        ok = False
    finally:
        conn.close()
    with lock:
        print(f"{start:.6f} {int(ok)}", flush=True)
due = time.monotonic()
while due < limit:
    threading.Thread(target=one, args=(time.monotonic(),), daemon=True).start()
    due += period
    time.sleep(max(0.0, due - time.monotonic()))
"""


@contextlib.contextmanager
def removed_afterwards(data_dir: Path, settings: dict[str, str]) -> Iterator[None]:
    """Whatever amphorae the driver left under ``data_dir`` (a run cut short) are deleted."""
    try:
        yield
    finally:
        driver = NetnsCompute(
            Settings(
                data_dir=data_dir,
                compute_driver="netns",
                netns_mgmt_bridge=settings["netns_mgmt_bridge"],
                netns_mgmt_cidr=settings["netns_mgmt_cidr"],
            )
        )
        for amphora_id in asyncio.run(driver.instances()):
            asyncio.run(driver.delete(amphora_id, graceful=False))


@dataclass
class Namespace:
    name: str
    address: str  # address/prefixlen
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]

    def start(self, script: str, *args: str) -> subprocess.Popen[str]:
        argv = ["ip", "netns", "exec", self.name, sys.executable, "-c", script, *args]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc


@contextlib.contextmanager
def attached(bridge: str, address: str) -> Iterator[Namespace]:
    """A namespace with one leg on ``bridge`` (made if missing, deleted if left empty)."""
    suffix = uuid.uuid4().hex[:8]
    ns = Namespace(f"{PREFIX}{suffix}", address)
    with legged(bridge, namespace=ns.name, host_leg=f"{PREFIX}l{suffix}", address=address):
        try:
            yield ns
        finally:
            for proc in ns.procs:
                proc.kill()
                proc.wait(timeout=10)


@dataclass
class Probe:
    """The prober's samples, read from its output as they come."""

    proc: subprocess.Popen[str]
    samples: list[tuple[float, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            at, ok = line.split()
            self.samples.append((float(at), ok == "1"))

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def probe(
    client: Namespace, host: str, *, period: float, seconds: float, timeout: float = 1.0
) -> Probe:
    """Fresh-connection GETs from ``client`` to ``host:80`` every ``period`` for ``seconds``,
    each failed after ``timeout`` (3 s lets a SYN dropped once be retried, as a client does)."""
    return Probe(client.start(PROBER, host, str(period), str(seconds), str(timeout)))
