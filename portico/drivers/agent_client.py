"""The controller's client for amphora agents: HTTPS with mutual TLS, identity checked.

The controller presents its client certificate and verifies the agent's server certificate
against the CA *and* against the amphora id it meant to reach (the certificate's DNS name
is the amphora id; we send it as the TLS server name), so a misrouted address or a
recycled port can never receive another amphora's configuration.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from portico.domain.errors import PermanentError, TransientError
from portico.drivers.certs.pki import ClientFiles
from portico.wire.agent_api import (
    API_VERSION,
    HANDOVER_API_VERSION,
    SETTINGS_API_VERSION,
    SUPPORTED_API_VERSIONS,
    AgentInfo,
    AgentSettings,
    ApiVersions,
    CertificateUpdate,
    ConfigPush,
    ConfigResult,
    ConfigState,
    Details,
    ErrorBody,
    HaproxyAction,
    HaproxyStatus,
    InterfaceInfo,
    RuntimeChange,
    Stats,
    VrrpConfig,
    VrrpHandover,
    VrrpHandoverResult,
    VrrpStatus,
    at_least,
    newest_common,
)
from portico.wire.agent_diagnostics import LogPage, LogSource, RuntimeDiagnostics

T = TypeVar("T", bound=BaseModel)


class StaleGeneration(PermanentError):
    """The agent applied a newer generation already (HTTP 409)."""


class ConfigInvalid(PermanentError):
    """The agent's ``haproxy -c`` refused the configuration: a rendering bug or a bad input."""


class ReloadRolledBack(TransientError):
    """haproxy did not come up with the new configuration; the agent put the last good one
    back, and it serves (HTTP 500 ``reload_failed``). Retried: the cause may pass (a port
    held by another process, say)."""


class VersionUnsupported(PermanentError):
    """The amphora's agent API is too old for the call (an older image: rotate it)."""


class AgentClient:
    """HTTPS clients for every amphora a controller talks to, one connection pool each.

    One pool per amphora id, not one shared pool: pools are keyed by address, and a kept-alive
    connection verified for amphora A must never carry a request meant for amphora B.
    """

    def __init__(self, files: ClientFiles, *, timeout: float = 30.0, max_pools: int = 512) -> None:
        self._context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(files.ca_path)
        )
        self._context.load_cert_chain(str(files.cert_path), str(files.key_path))
        self._timeout = timeout
        self._max_pools = max_pools
        self._pools: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Future[None]] = set()
        # The newest API version each amphora and this code both speak (``GET /``), learnt
        # on first need: an amphora's agent does not change under its id.
        self._versions: dict[str, str] = {}

    def _pool(self, amphora_id: str) -> httpx.AsyncClient:
        pool = self._pools.pop(amphora_id, None)
        if pool is None:
            pool = httpx.AsyncClient(
                verify=self._context,
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=8, max_keepalive_connections=2),
            )
        self._pools[amphora_id] = pool  # most recently used last
        while len(self._pools) > self._max_pools:
            _, oldest = self._pools.popitem(last=False)
            self._closing.add(asyncio.ensure_future(oldest.aclose()))
        return pool

    async def forget(self, amphora_id: str) -> None:
        """Close the connections to an amphora that is gone."""
        self._versions.pop(amphora_id, None)
        pool = self._pools.pop(amphora_id, None)
        if pool is not None:
            await pool.aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _call(
        self,
        method: str,
        endpoint: str,
        amphora_id: str,
        path: str,
        model: type[T],
        *,
        body: BaseModel | None = None,
        seconds: float | None = None,
    ) -> T:
        url = f"https://{endpoint}{path}"
        kwargs: dict[str, Any] = {"extensions": {"sni_hostname": amphora_id}}
        if body is not None:
            kwargs["content"] = body.model_dump_json()
            kwargs["headers"] = {"content-type": "application/json"}
        if seconds is not None:
            kwargs["timeout"] = seconds
        try:
            response = await self._pool(amphora_id).request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            if _verification_failed(exc):
                raise PermanentError(f"amphora {amphora_id} at {endpoint}: {exc}") from exc
            raise TransientError(f"amphora {amphora_id} at {endpoint}: {exc!r}") from exc
        if response.status_code >= 400:
            raise _error(amphora_id, response)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise TransientError(f"amphora {amphora_id}: unexpected answer: {exc}") from exc

    async def versions(self, endpoint: str, amphora_id: str, *, seconds: float = 2.0) -> list[str]:
        found = await self._call("GET", endpoint, amphora_id, "/", ApiVersions, seconds=seconds)
        return found.versions

    async def negotiate(self, endpoint: str, amphora_id: str) -> str:
        """The newest agent API version the amphora and this controller both speak."""
        known = self._versions.get(amphora_id)
        if known is not None:
            return known
        served = await self.versions(endpoint, amphora_id)
        common = newest_common(served)
        if common is None:
            raise VersionUnsupported(
                f"amphora {amphora_id} serves agent API {served}; this controller speaks "
                f"{list(SUPPORTED_API_VERSIONS)}"
            )
        self._versions[amphora_id] = common
        return common

    async def settings(
        self, endpoint: str, amphora_id: str, settings: AgentSettings | None = None
    ) -> AgentSettings:
        """The agent's heartbeat settings (API 1.1); with ``settings``, replace them first.

        ``VersionUnsupported`` from an agent that serves only 1.0.
        """
        version = await self.negotiate(endpoint, amphora_id)
        if not at_least(version, SETTINGS_API_VERSION):
            raise VersionUnsupported(
                f"amphora {amphora_id} speaks agent API {version}; its settings need "
                f"{SETTINGS_API_VERSION} (rotate it onto a newer image)"
            )
        path = f"/{SETTINGS_API_VERSION}/settings"
        if settings is None:
            return await self._call("GET", endpoint, amphora_id, path, AgentSettings)
        return await self._call("PUT", endpoint, amphora_id, path, AgentSettings, body=settings)

    async def info(self, endpoint: str, amphora_id: str) -> AgentInfo:
        return await self._call("GET", endpoint, amphora_id, f"/{API_VERSION}/info", AgentInfo)

    async def details(self, endpoint: str, amphora_id: str) -> Details:
        return await self._call("GET", endpoint, amphora_id, f"/{API_VERSION}/details", Details)

    async def config_state(self, endpoint: str, amphora_id: str) -> ConfigState:
        path = f"/{API_VERSION}/config"
        return await self._call("GET", endpoint, amphora_id, path, ConfigState)

    async def push(self, endpoint: str, amphora_id: str, push: ConfigPush) -> ConfigResult:
        path = f"/{API_VERSION}/config"
        return await self._call("PUT", endpoint, amphora_id, path, ConfigResult, body=push)

    async def runtime(self, endpoint: str, amphora_id: str, change: RuntimeChange) -> ConfigResult:
        path = f"/{API_VERSION}/runtime"
        return await self._call("POST", endpoint, amphora_id, path, ConfigResult, body=change)

    async def haproxy(
        self, endpoint: str, amphora_id: str, action: HaproxyAction | None = None
    ) -> HaproxyStatus:
        path = f"/{API_VERSION}/haproxy"
        if action is None:
            return await self._call("GET", endpoint, amphora_id, path, HaproxyStatus)
        return await self._call("PUT", endpoint, amphora_id, path, HaproxyStatus, body=action)

    async def stats(self, endpoint: str, amphora_id: str) -> Stats:
        return await self._call("GET", endpoint, amphora_id, f"/{API_VERSION}/stats", Stats)

    async def rotate_certificate(
        self, endpoint: str, amphora_id: str, update: CertificateUpdate
    ) -> None:
        path = f"/{API_VERSION}/certificate"
        await self._call("PUT", endpoint, amphora_id, path, _Ack, body=update)

    async def vrrp(
        self, endpoint: str, amphora_id: str, config: VrrpConfig | None = None
    ) -> VrrpStatus:
        """keepalived's state on the amphora; with ``config``, apply it first."""
        path = f"/{API_VERSION}/vrrp"
        if config is None:
            return await self._call("GET", endpoint, amphora_id, path, VrrpStatus)
        return await self._call("PUT", endpoint, amphora_id, path, VrrpStatus, body=config)

    async def handover(
        self, endpoint: str, amphora_id: str, request: VrrpHandover
    ) -> VrrpHandoverResult:
        """Drain the amphora and hand its VIP to the peer (API 1.2; ``VersionUnsupported``
        from an older agent, which can only be stopped)."""
        version = await self.negotiate(endpoint, amphora_id)
        if not at_least(version, HANDOVER_API_VERSION):
            raise VersionUnsupported(
                f"amphora {amphora_id} speaks agent API {version}; a handover needs "
                f"{HANDOVER_API_VERSION}"
            )
        path = f"/{HANDOVER_API_VERSION}/vrrp/handover"
        # The agent may wait up to drain_seconds before it answers.
        seconds = self._timeout + request.drain_seconds
        return await self._call(
            "PUT", endpoint, amphora_id, path, VrrpHandoverResult, body=request, seconds=seconds
        )

    async def interface(self, endpoint: str, amphora_id: str, address: str) -> InterfaceInfo:
        """The amphora's interface that carries ``address``."""
        path = f"/{API_VERSION}/interface/{address}"
        return await self._call("GET", endpoint, amphora_id, path, InterfaceInfo)

    async def diagnostics(
        self, endpoint: str, amphora_id: str, *, seconds: float | None = None
    ) -> RuntimeDiagnostics:
        """haproxy's runtime view and the hash of the applied files on disk."""
        path = f"/{API_VERSION}/diagnostics"
        return await self._call(
            "GET", endpoint, amphora_id, path, RuntimeDiagnostics, seconds=seconds
        )

    async def logs(
        self,
        endpoint: str,
        amphora_id: str,
        source: LogSource,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        seconds: float | None = None,
    ) -> LogPage:
        """Up to ``limit`` lines of one log, ending at ``before`` (default: the end) or
        starting at ``after`` (byte offsets the previous page gave)."""
        query: dict[str, int] = {"limit": limit}
        if before is not None:
            query["before"] = before
        if after is not None:
            query["after"] = after
        path = f"/{API_VERSION}/logs/{source.value}?{urlencode(query)}"
        return await self._call("GET", endpoint, amphora_id, path, LogPage, seconds=seconds)


class _Ack(BaseModel):
    status: str


def _verification_failed(exc: BaseException) -> bool:
    """Whether the agent's certificate was refused; httpx wraps the ``ssl`` error twice."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _error(amphora_id: str, response: httpx.Response) -> Exception:
    code = None
    try:
        body = ErrorBody.model_validate_json(response.content)
        text = f"{body.message}" + (f"\n{body.details}" if body.details else "")
        code = body.error
    except ValidationError:
        text = response.text[:2000]
    message = f"amphora {amphora_id}: HTTP {response.status_code}: {text}"
    if response.status_code == 409:
        return StaleGeneration(message)
    if response.status_code == 400:
        return ConfigInvalid(message)
    if response.status_code == 500 and code == "reload_failed":
        return ReloadRolledBack(message)
    return TransientError(message)
