"""A Keystone stand-in: just enough of the identity v3 API for keystonemiddleware.

Tests of ``auth_strategy = keystone`` run the real keystonemiddleware against it, so what is
proven is the real token path (discovery, service-user login, token validation), not a
mock of it. It answers version discovery (``/`` and ``/v3``), ``POST /v3/auth/tokens`` for
the service user, and ``GET``/``HEAD /v3/auth/tokens`` for subject tokens from a table of
fake tokens. Listens on a free port of 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE_USER = "portico"
SERVICE_PASSWORD = "portico-secret"
SERVICE_PROJECT = "service"
EXPIRES = "2099-01-01T00:00:00.000000Z"
ISSUED = "2024-01-01T00:00:00.000000Z"
DOMAIN = {"id": "default", "name": "Default"}


@dataclass(frozen=True)
class FakeToken:
    project_id: str | None
    roles: tuple[str, ...]
    user_id: str = "user-1"


class KeystoneStub:
    """A threaded HTTP server on 127.0.0.1; ``tokens`` maps token -> ``FakeToken``."""

    def __init__(self) -> None:
        self.tokens: dict[str, FakeToken] = {}
        self.service_token = f"service-{uuid.uuid4().hex}"
        self.validations = 0
        self._lock = threading.Lock()
        # Open keep-alive connections: closed on stop so no handler thread outlives the stub.
        self.connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KeystoneStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_connections = list(self.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)

    def add_token(self, project_id: str | None, *roles: str, user_id: str = "user-1") -> str:
        token = f"tok-{uuid.uuid4().hex}"
        self.tokens[token] = FakeToken(project_id=project_id, roles=roles, user_id=user_id)
        return token

    def count_validation(self) -> None:
        with self._lock:
            self.validations += 1

    # -- bodies --------------------------------------------------------------------------

    def version_v3(self) -> dict[str, Any]:
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.url}/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }

    def catalog(self) -> list[dict[str, Any]]:
        endpoints = [
            {
                "id": uuid.uuid4().hex,
                "interface": interface,
                "region": "RegionOne",
                "region_id": "RegionOne",
                "url": f"{self.url}/v3",
            }
            for interface in ("public", "internal", "admin")
        ]
        return [
            {"id": uuid.uuid4().hex, "type": "identity", "name": "keystone", "endpoints": endpoints}
        ]

    def token_body(self, token: FakeToken, *, with_catalog: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "methods": ["password"],
            "audit_ids": [uuid.uuid4().hex[:22]],
            "expires_at": EXPIRES,
            "issued_at": ISSUED,
            "user": {
                "id": token.user_id,
                "name": token.user_id,
                "domain": DOMAIN,
                "password_expires_at": None,
            },
            "roles": [{"id": f"role-{r}", "name": r} for r in token.roles],
            "is_domain": False,
        }
        if token.project_id is not None:
            body["project"] = {"id": token.project_id, "name": token.project_id, "domain": DOMAIN}
        if with_catalog:
            body["catalog"] = self.catalog()
        return {"token": body}


def _handler_for(stub: KeystoneStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with stub._lock:
                stub.connections.add(self.connection)

        def finish(self) -> None:
            with stub._lock:
                stub.connections.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _path(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/")

        def do_GET(self) -> None:
            path = self._path()
            if path == "":
                self._send(300, {"versions": {"values": [stub.version_v3()]}})
            elif path == "/v3":
                self._send(200, {"version": stub.version_v3()})
            elif path == "/v3/auth/tokens":
                self._validate()
            else:
                self._send(404, {"error": {"code": 404, "title": "Not Found", "message": path}})

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if self._path() != "/v3/auth/tokens":
                self._send(404, None)
                return
            user = request["auth"]["identity"]["password"]["user"]
            if user.get("name") != SERVICE_USER or user.get("password") != SERVICE_PASSWORD:
                self._send(401, {"error": {"code": 401, "title": "Unauthorized", "message": ""}})
                return
            service = FakeToken(project_id="service-project", roles=("service", "admin"))
            body = stub.token_body(service, with_catalog=True)
            self._send(201, body, {"X-Subject-Token": stub.service_token})

        def _validate(self) -> None:
            stub.count_validation()
            if self.headers.get("X-Auth-Token") != stub.service_token:
                self._send(401, {"error": {"code": 401, "title": "Unauthorized", "message": ""}})
                return
            subject = stub.tokens.get(self.headers.get("X-Subject-Token") or "")
            if subject is None:
                self._send(404, {"error": {"code": 404, "title": "Not Found", "message": ""}})
                return
            self._send(200, stub.token_body(subject, with_catalog=False))

    return Handler
