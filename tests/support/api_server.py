"""The API served by uvicorn in a thread on a free loopback port, for tests whose client is a
real HTTP client (the ``portico admin`` CLI) rather than a ``TestClient``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from portico import bootstrap
from portico.settings import Settings
from tests.conftest import wait_for
from tests.support.processes import free_port

# Long enough for a reconciler pass to finish when the server stops mid-pass.
STOP_DEADLINE = 20.0


@contextmanager
def serving(settings: Settings, *, with_reconciler: bool) -> Iterator[str]:
    """The API (and its reconciler if asked) in a thread; its base URL until the block ends."""
    bootstrap.upgrade_database(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            bootstrap.build_app(settings, with_reconciler=with_reconciler),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_DEADLINE)
