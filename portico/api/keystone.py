"""``keystone``: tokens validated by keystonemiddleware against a configured Keystone.

keystonemiddleware's ``auth_token`` is the piece every OpenStack service trusts to validate
tokens (caching, service-token rules, discovery), so portico reuses it rather than talking
to Keystone itself. It is WSGI middleware and portico is ASGI; instead of wrapping the whole
app, each request's ``X-Auth-Token`` alone is handed to the middleware in a minimal WSGI
environ, in a worker thread (the middleware blocks on HTTP calls to Keystone). The caller is
read only from what the middleware wrote into that environ, so a client cannot spoof its
project or roles with ``X-Project-Id``/``X-Roles``: those headers never reach it.

Imported lazily by the composition root: keystonemiddleware takes a while to load.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request
from keystoneauth1 import loading
from keystonemiddleware import auth_token
from oslo_config import cfg
from starlette.concurrency import run_in_threadpool

from portico.domain.errors import IdentityUnavailable, Unauthenticated
from portico.domain.policy import Caller
from portico.settings import Settings

LOG = logging.getLogger(__name__)

_GROUP = "keystone_authtoken"
# The environ key through which the middleware finds portico's token cache.
_CACHE_ENVIRON_KEY = "portico.keystone.token_cache"
_IDENTITY_ENVIRON_KEY = "portico.keystone.identity"
_IDENTITY_HEADERS = (
    "HTTP_X_IDENTITY_STATUS",
    "HTTP_X_PROJECT_ID",
    "HTTP_X_ROLES",
    "HTTP_X_USER_ID",
)

StartResponse = Callable[..., Callable[[bytes], object]]


class TokenCache:
    """An in-process cache with the memcache-client subset keystonemiddleware uses.

    Passed to the middleware through the environ (its ``cache`` option), which avoids its
    deprecated built-in cache and makes ``keystone_cache_seconds = 0`` mean "no caching"
    (to memcache, 0 means "forever").
    """

    MAX_ENTRIES = 10_000

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            return value

    def set(self, key: str, value: Any, time: float = 0, **_ignored: Any) -> bool:
        if time <= 0:
            return True
        with self._lock:
            now = self._clock()
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (now + time, value)
        return True


def _oslo_config(settings: Settings) -> cfg.ConfigOpts:
    """A private oslo.config object (never the global one) holding the middleware's options."""
    if not settings.keystone_auth_url:
        raise ValueError("auth_strategy = keystone needs keystone_auth_url")
    conf = cfg.ConfigOpts()
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    conf.register_opts(loading.get_auth_plugin_conf_options("password"), group=_GROUP)
    values: dict[str, Any] = {
        "auth_type": "password",
        "auth_url": settings.keystone_auth_url,
        "username": settings.keystone_service_username,
        "password": settings.keystone_service_password,
        "project_name": settings.keystone_service_project,
        "user_domain_id": settings.keystone_service_domain,
        "project_domain_id": settings.keystone_service_domain,
        "www_authenticate_uri": (
            settings.keystone_www_authenticate_uri or settings.keystone_auth_url
        ),
        "interface": settings.keystone_interface,
        "cache": _CACHE_ENVIRON_KEY,
        "token_cache_time": settings.keystone_cache_seconds,
        "http_connect_timeout": 10,
        "http_request_max_retries": 1,
        # The middleware decides: a missing or invalid token is answered 401 right there.
        "delay_auth_decision": False,
        "include_service_catalog": False,
    }
    for name, value in values.items():
        conf.set_override(name, value, group=_GROUP)
    return conf


def _capture_identity(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The inner WSGI app: reached only with a valid token; keeps what the middleware set."""
    environ[_IDENTITY_ENVIRON_KEY] = {k: environ.get(k) for k in _IDENTITY_HEADERS}
    start_response("204 No Content", [])
    return [b""]


class KeystoneAuth:
    """The Authenticator for ``auth_strategy = keystone``."""

    def __init__(self, settings: Settings) -> None:
        self._cache = TokenCache()
        self._middleware = auth_token.AuthProtocol(
            _capture_identity, {"oslo_config_config": _oslo_config(settings)}
        )

    async def authenticate(self, request: Request) -> Caller:
        token = request.headers.get("x-auth-token")
        return await run_in_threadpool(
            self.validate, token, method=request.method, path=request.url.path
        )

    def validate(self, token: str | None, *, method: str = "GET", path: str = "/") -> Caller:
        """Validate ``token`` (blocking); the caller it names, or 401/503."""
        environ = self._environ(token, method=method, path=path)
        answer: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], object]:
            answer["status"] = int(status.split(" ", 1)[0])
            answer["headers"] = headers
            return lambda _data: None

        body = self._middleware(environ, start_response)
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return self._caller(environ, answer)

    def _environ(self, token: str | None, *, method: str, path: str) -> dict[str, Any]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "portico",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            _CACHE_ENVIRON_KEY: self._cache,
        }
        if token:
            environ["HTTP_X_AUTH_TOKEN"] = token
        return environ

    @staticmethod
    def _caller(environ: dict[str, Any], answer: dict[str, Any]) -> Caller:
        status = answer.get("status")
        identity: dict[str, str | None] | None = environ.get(_IDENTITY_ENVIRON_KEY)
        if status == 401:
            challenge = next(
                (v for k, v in answer.get("headers", []) if k.lower() == "www-authenticate"),
                None,
            )
            raise Unauthenticated(www_authenticate=challenge)
        if identity is None or identity.get("HTTP_X_IDENTITY_STATUS") != "Confirmed":
            # 503 from the middleware (Keystone unreachable), or anything unexpected.
            LOG.warning("token validation failed: middleware answered %s", status)
            raise IdentityUnavailable()
        roles = identity.get("HTTP_X_ROLES") or ""
        return Caller(
            project_id=identity.get("HTTP_X_PROJECT_ID") or None,
            # Keystone role names compare case-insensitively, as oslo.policy does.
            roles=frozenset(r.strip().lower() for r in roles.split(",") if r.strip()),
            user_id=identity.get("HTTP_X_USER_ID") or None,
        )
