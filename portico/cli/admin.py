"""``portico admin …``: the operators' calls, made through the API like any other client.

Through the API rather than the database, so the admin role is checked and the command works
from any machine that reaches the API. Under ``noauth`` the API's default caller is admin;
with Keystone pass a token (``--token`` or ``OS_TOKEN``).
"""

from __future__ import annotations

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


def _get(endpoint: str, path: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
    """GET one API call; a refusal or an unreachable API ends the command with its reason."""
    headers = {"X-Auth-Token": token} if token else {}
    url = endpoint.rstrip("/") + path
    try:
        response = httpx.get(url, params=params, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        try:
            reason = response.json().get("faultstring", response.text)
        except ValueError:
            reason = response.text
        typer.echo(f"{response.status_code}: {reason}", err=True)
        raise typer.Exit(1)
    body: dict[str, Any] = response.json()
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
