"""``portico admin …``: the operators' calls, made through the API like any other client.

Through the API rather than the database, so the admin role is checked and the command works
from any machine that reaches the API. Under ``noauth`` the API's default caller is admin;
with Keystone pass a token (``--token`` or ``OS_TOKEN``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

admin_app = typer.Typer(help="Operators' calls through the API (admin role).")

EndpointOpt = Annotated[
    str, typer.Option("--endpoint", envvar="OS_ENDPOINT", help="The API's base URL.")
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="OS_TOKEN", help="A Keystone token (not needed under noauth)."),
]
DEFAULT_ENDPOINT = "http://127.0.0.1:9876"
TIMEOUT_SECONDS = 30.0


def _call(
    method: str,
    endpoint: str,
    path: str,
    *,
    token: str | None,
    params: dict[str, Any] | None = None,
    expect: int = 200,
) -> httpx.Response:
    """One API call; a refusal or an unreachable API ends the command with its reason."""
    headers = {"X-Auth-Token": token} if token else {}
    url = endpoint.rstrip("/") + path
    try:
        response = httpx.request(
            method, url, params=params, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if response.status_code != expect:
        try:
            reason = response.json().get("faultstring", response.text)
        except ValueError:
            reason = response.text
        typer.echo(f"{response.status_code}: {reason}", err=True)
        raise typer.Exit(1)
    return response


def _get(endpoint: str, path: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
    """GET one API call's body (see ``_call``)."""
    body: dict[str, Any] = _call("GET", endpoint, path, token=token, params=params).json()
    return body


def event_line(event: dict[str, Any]) -> str:
    """One event on one line: time, severity, kind, what it is about, detail."""
    about = " ".join(
        f"{label}={event[key]}"
        for label, key in (("amphora", "amphora_id"), ("lb", "loadbalancer_id"))
        if event.get(key)
    )
    fields = [event["created_at"], f"{event['severity']:<8}", event["kind"], about, event["detail"]]
    return "  ".join(field for field in fields if field)


@admin_app.command("events")
def events(
    kind: Annotated[str | None, typer.Option("--kind", help="Only events of this kind.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 20,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """The newest events first (GET /v2/portico/events)."""
    params: dict[str, Any] = {"limit": limit}
    if kind is not None:
        params["kind"] = kind
    for event in _get(endpoint, "/v2/portico/events", params, token)["events"]:
        typer.echo(event_line(event))


# -- amphorae and load balancers: support staff's calls -------------------------------------
amphora_app = typer.Typer(help="Amphorae: list, show, diagnostics, logs.")
loadbalancer_app = typer.Typer(help="Load balancers: resync, logs.")
admin_app.add_typer(amphora_app, name="amphora")
admin_app.add_typer(loadbalancer_app, name="loadbalancer")

SourceOpt = Annotated[
    str, typer.Option("--source", help="haproxy, agent, tenant (flow logs) or admin.")
]
LinesOpt = Annotated[int, typer.Option("--limit", min=1, max=1000, help="Lines, newest last.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="The API's whole answer, as JSON.")]


def amphora_line(amphora: dict[str, Any]) -> str:
    """One amphora on one line: id, status, role, load balancer, versions, heartbeat age."""
    age = amphora.get("heartbeat_age_seconds")
    fields = [
        amphora["id"],
        f"{amphora['status']:<14}",
        f"{amphora.get('role') or '-':<10}",
        f"lb={amphora.get('loadbalancer_id') or '-'}",
        f"agent={amphora.get('agent_version') or '-'}",
        f"haproxy={amphora.get('haproxy_version') or '-'}",
        f"heartbeat={'-' if age is None else f'{age:.1f}s ago'}",
    ]
    return "  ".join(fields)


@amphora_app.command("list")
def amphora_list(
    loadbalancer: Annotated[
        str | None, typer.Option("--loadbalancer", help="Only this load balancer's.")
    ] = None,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """Every amphora (GET /v2/octavia/amphorae), one line each."""
    params = {"loadbalancer_id": loadbalancer} if loadbalancer else {}
    for amphora in _get(endpoint, "/v2/octavia/amphorae", params, token)["amphorae"]:
        typer.echo(amphora_line(amphora))


@amphora_app.command("show")
def amphora_show(
    amphora_id: str, endpoint: EndpointOpt = DEFAULT_ENDPOINT, token: TokenOpt = None
) -> None:
    """One amphora's fields (GET /v2/octavia/amphorae/{id}), one per line."""
    amphora = _get(endpoint, f"/v2/octavia/amphorae/{amphora_id}", {}, token)["amphora"]
    for key, value in amphora.items():
        typer.echo(f"{key}: {'' if value is None else value}")


def diagnostics_lines(found: dict[str, Any]) -> list[str]:
    """The diagnostics a support engineer reads first, in the order of the runbook."""
    amphora, lb, config = found["amphora"], found["loadbalancer"], found["config"]
    lines = [f"amphora {amphora['id']}: {amphora['status']} {amphora.get('role') or ''}"]
    if lb is not None:
        lines.append(
            f"loadbalancer {lb['id']}: {lb['provisioning_status']} {lb['operating_status']}"
            f" generation {lb['applied_generation']}/{lb['generation']} applied"
        )
    sync = {True: "yes", False: "NO", None: "unknown"}[config["in_sync"]]
    lines.append(f"config in sync: {sync}")
    lines.append(f"  expected {config['expected_hash'] or config['expected_error']}")
    lines.append(f"  applied  {config['applied_hash'] or '-'}")
    if found["agent_error"] is not None:
        lines.append(f"agent: {found['agent_error']['faultstring']}")
        return lines
    haproxy, reload = found["haproxy"], found["last_reload"]
    lines.append(f"haproxy running: {'yes' if haproxy['running'] else 'NO'}")
    if haproxy["runtime_error"]:
        lines.append(f"  {haproxy['runtime_error']}")
    info = haproxy["info"]
    for key in ("Version", "Uptime", "CurrConns", "CumConns", "Stopping"):
        if key in info:
            lines.append(f"  {key}: {info[key]}")
    down = [f"{r['pxname']}/{r['svname']}" for r in haproxy["stat"] if r.get("status") == "DOWN"]
    lines.append(f"  down: {', '.join(down) if down else 'none'}")
    lines.append(f"last reload ok: {reload['ok']}")
    return lines


@amphora_app.command("diagnostics")
def amphora_diagnostics(
    amphora_id: str,
    as_json: JsonOpt = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """What the agent and haproxy say (GET /v2/portico/amphorae/{id}/diagnostics)."""
    path = f"/v2/portico/amphorae/{amphora_id}/diagnostics"
    found = _get(endpoint, path, {}, token)["diagnostics"]
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for line in diagnostics_lines(found):
        typer.echo(line)


@amphora_app.command("logs")
def amphora_logs(
    amphora_id: str,
    source: SourceOpt = "haproxy",
    limit: LinesOpt = 100,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """The newest lines of one amphora's log (GET /v2/portico/amphorae/{id}/logs)."""
    path = f"/v2/portico/amphorae/{amphora_id}/logs"
    for item in _get(endpoint, path, {"source": source, "limit": limit}, token)["logs"]:
        typer.echo(item["line"])


@loadbalancer_app.command("logs")
def loadbalancer_logs(
    lb_id: str,
    source: SourceOpt = "haproxy",
    limit: LinesOpt = 100,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """The newest lines of every amphora of a load balancer, each after its amphora's id."""
    path = f"/v2/portico/loadbalancers/{lb_id}/logs"
    body = _get(endpoint, path, {"source": source, "limit": limit}, token)
    for item in body["logs"]:
        typer.echo(f"{item['amphora_id']}  {item['line']}")
    for failed in body["unreachable"]:
        typer.echo(f"{failed['amphora_id']}: {failed['faultstring']}", err=True)


@loadbalancer_app.command("resync")
def loadbalancer_resync(
    lb_id: str, endpoint: EndpointOpt = DEFAULT_ENDPOINT, token: TokenOpt = None
) -> None:
    """Render and push a load balancer again (PUT /v2/portico/loadbalancers/{id}/resync)."""
    path = f"/v2/portico/loadbalancers/{lb_id}/resync"
    _call("PUT", endpoint, path, token=token, expect=202)
    typer.echo(f"resync of load balancer {lb_id} accepted")
