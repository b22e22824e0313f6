"""``portico admin rotate | migrate | configure``: amphora upgrades, through the API.

``rotate --to-version V`` moves every load balancer whose amphorae run another image onto
amphorae of V, one load balancer at a time (``PUT /v2/portico/loadbalancers/{id}/migrate``),
waiting for each to be ACTIVE on V before the next, pausing ``--interval`` seconds between
them, and stopping at the first that fails (ERROR, or not done within ``--timeout``). The
target is stored per load balancer, so an interrupted rotation is finished by the controller
for the one in flight, and running the command again resumes with the rest.

``admin loadbalancer migrate ID --availability-zone NAME`` (also ``admin migrate``) moves one
load balancer into another availability zone (``--no-availability-zone``: out of its zone)
and/or onto another image, and waits until every amphora it has runs where the zone's
profile says (``compute_zone``, ``compute_driver``) and of the image.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer

from portico.cli.admin import (
    DEFAULT_ENDPOINT,
    TIMEOUT_SECONDS,
    EndpointOpt,
    TokenOpt,
    loadbalancer_app,
)

POLL_SECONDS = 0.25
LBS, AMPS = "/v2/lbaas/loadbalancers", "/v2/octavia/amphorae"
ZONES, ZONE_PROFILES = "/v2/lbaas/availabilityzones", "/v2/lbaas/availabilityzoneprofiles"


class Refused(Exception):
    """The API refused a call, or a load balancer did not get onto the target."""


def _check(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in expected:
        try:
            reason = response.json().get("faultstring", response.text)
        except ValueError:
            reason = response.text
        raise Refused(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code}: {reason}"
        )
    return response.json() if response.content else {}


def _all(client: httpx.Client, path: str, key: str, **filters: str) -> list[dict[str, Any]]:
    """Every item of a listing, following Octavia's ``next`` links."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500, **filters}
    while True:
        body = _check(client.get(path, params=params), 200)
        items += body[key]
        after = [link for link in body.get(f"{key}_links", []) if link.get("rel") == "next"]
        if not after or not body[key]:
            return items
        params = {"limit": 500, "marker": body[key][-1]["id"], **filters}


def _amphorae_of(client: httpx.Client, lb_id: str) -> list[dict[str, Any]]:
    found = _all(client, AMPS, "amphorae", loadbalancer_id=lb_id)
    return [a for a in found if a["status"] not in ("DELETED", "PENDING_DELETE")]


def pending(client: httpx.Client, image: str) -> list[str]:
    """Load balancers (amphora provider) with an amphora of another image, by id."""
    off = {
        a["loadbalancer_id"]
        for a in _all(client, AMPS, "amphorae")
        if a["loadbalancer_id"] and a["status"] == "ALLOCATED" and a["image_id"] != image
    }
    return sorted(off)


def migrate_one(client: httpx.Client, lb_id: str, image: str, *, timeout: float) -> float:
    """Migrate one load balancer and wait until it is ACTIVE on ``image``; seconds taken."""
    return migrate_to(client, lb_id, {"amphora_image": image}, timeout=timeout)


def migrate_to(
    client: httpx.Client, lb_id: str, migration: dict[str, Any], *, timeout: float
) -> float:
    """Send ``migration`` (the API's body) and wait until the load balancer is ACTIVE with
    every amphora on its target; seconds taken."""
    started = time.monotonic()
    wanted = _wanted(client, migration)
    url = f"/v2/portico/loadbalancers/{lb_id}/migrate"
    _check(client.put(url, json={"migration": migration}), 202)
    deadline = started + timeout
    while time.monotonic() < deadline:
        lb = _check(client.get(f"{LBS}/{lb_id}"), 200)["loadbalancer"]
        status = lb["provisioning_status"]
        if status == "ERROR":
            raise Refused(f"load balancer {lb_id} went to ERROR while migrating to {migration}")
        if status == "ACTIVE":
            amphorae = _amphorae_of(client, lb_id)
            if amphorae and all(_on(a, wanted) for a in amphorae):
                return time.monotonic() - started
        time.sleep(POLL_SECONDS)
    raise Refused(f"load balancer {lb_id} not on {migration} within {timeout:g}s")


def _wanted(client: httpx.Client, migration: dict[str, Any]) -> dict[str, Any]:
    """The amphora fields a finished migration shows: its image, and where the zone's
    profile places amphorae (no zone: no compute zone)."""
    wanted: dict[str, Any] = {}
    if "amphora_image" in migration:
        wanted["image_id"] = migration["amphora_image"]
    if "availability_zone" in migration:
        name = migration["availability_zone"]
        data: dict[str, Any] = {}
        if name is not None:
            zone = _check(client.get(f"{ZONES}/{name}"), 200)["availability_zone"]
            profile_id = zone["availability_zone_profile_id"]
            profile = _check(client.get(f"{ZONE_PROFILES}/{profile_id}"), 200)
            data = json.loads(profile["availability_zone_profile"]["availability_zone_data"])
        wanted["cached_zone"] = data.get("compute_zone") or None
        if data.get("compute_driver"):
            wanted["compute_driver"] = data["compute_driver"]
    return wanted


def _on(amphora: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(amphora.get(key) == value for key, value in wanted.items())


def rotate_all(
    client: httpx.Client,
    image: str,
    *,
    interval: float,
    timeout: float,
    echo: Callable[[str], None],
) -> list[str]:
    """Rotate every pending load balancer onto ``image``; the ids done. ``Refused`` stops it."""
    done: list[str] = []
    todo = pending(client, image)
    echo(f"{len(todo)} load balancers to rotate onto {image}")
    for index, lb_id in enumerate(todo):
        if index:
            time.sleep(interval)  # the rate limit: one load balancer per interval at most
        seconds = migrate_one(client, lb_id, image, timeout=timeout)
        done.append(lb_id)
        echo(f"{lb_id} on {image} in {seconds:.1f}s ({index + 1}/{len(todo)})")
    return done


def _client(endpoint: str, token: str | None) -> httpx.Client:
    headers = {"X-Auth-Token": token} if token else {}
    return httpx.Client(base_url=endpoint.rstrip("/"), headers=headers, timeout=TIMEOUT_SECONDS)


def _run(fn: Callable[[], object]) -> None:
    try:
        fn()
    except (Refused, httpx.HTTPError) as exc:
        typer.echo(f"stopped: {exc}", err=True)
        raise typer.Exit(1) from exc


def rotate(
    to_version: Annotated[str, typer.Option("--to-version", help="The image to rotate onto.")],
    interval: Annotated[
        float, typer.Option("--interval", min=0, help="Seconds between load balancers.")
    ] = 5.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds each load balancer may take.")
    ] = 300.0,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """Fail every load balancer's amphorae over onto image V, one at a time; stop at a failure."""
    with _client(endpoint, token) as client:
        _run(
            lambda: rotate_all(
                client, to_version, interval=interval, timeout=timeout, echo=typer.echo
            )
        )


def migrate(
    loadbalancer_id: Annotated[str, typer.Argument(help="The load balancer to move.")],
    image: Annotated[
        str | None, typer.Option("--image", help="The image its amphorae should run.")
    ] = None,
    zone: Annotated[
        str | None,
        typer.Option("--availability-zone", help="The availability zone to move it into."),
    ] = None,
    no_zone: Annotated[
        bool, typer.Option("--no-availability-zone", help="Move it out of its zone.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1)] = 300.0,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """Move one load balancer onto amphorae of an image and/or in another availability
    zone, and wait until it serves from them."""
    migration: dict[str, Any] = {} if image is None else {"amphora_image": image}
    if zone is not None and no_zone:
        raise typer.BadParameter("--availability-zone and --no-availability-zone exclude")
    if zone is not None or no_zone:
        migration["availability_zone"] = zone
    if not migration:
        raise typer.BadParameter("name --image, --availability-zone or --no-availability-zone")
    with _client(endpoint, token) as client:
        _run(
            lambda: typer.echo(
                f"done in {migrate_to(client, loadbalancer_id, migration, timeout=timeout):.1f}s"
            )
        )


def configure(
    amphora_id: Annotated[str, typer.Argument(help="The amphora (or 'all').")],
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    token: TokenOpt = None,
) -> None:
    """Push the called API's agent settings (heartbeat targets) to an amphora, or to all."""
    with _client(endpoint, token) as client:

        def push() -> None:
            ids = [amphora_id]
            if amphora_id == "all":
                ids = [
                    a["id"]
                    for a in _all(client, AMPS, "amphorae")
                    if a["status"] in ("ALLOCATED", "READY")
                ]
            for one in ids:
                _check(client.put(f"{AMPS}/{one}/config"), 202)
                typer.echo(f"{one}: configuration requested")

        _run(push)


def register(app: typer.Typer) -> None:
    """Add these commands to ``portico admin``."""
    app.command("rotate")(rotate)
    app.command("migrate")(migrate)
    loadbalancer_app.command("migrate")(migrate)
    app.command("configure")(configure)
