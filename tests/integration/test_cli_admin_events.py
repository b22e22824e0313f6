"""``portico admin events`` against a real API served on 127.0.0.1: newest first, --kind,
--limit, and the API's refusal shown when the caller is not an admin."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from typer.testing import CliRunner

from portico import bootstrap
from portico.cli.main import app
from portico.db.models import Event
from portico.settings import Settings
from tests.support.api_server import serving
from tests.support.processes import free_port

T0 = dt.datetime(2030, 1, 2, 3, 4, 5)


def _record(settings: Settings) -> None:
    """Three events a second apart, oldest first."""
    db = bootstrap.build_database(settings)
    rows = [("amphora_stale", "WARNING", "amp-1"), ("failover_started", "WARNING", "amp-1")]
    rows.append(("circuit_breaker_tripped", "CRITICAL", None))
    try:
        with db.writing() as session:
            for second, (kind, severity, amphora) in enumerate(rows):
                session.add(
                    Event(
                        id=str(uuid.uuid4()),
                        created_at=T0 + dt.timedelta(seconds=second),
                        kind=kind,
                        severity=severity,
                        amphora_id=amphora,
                        detail=f"{kind} here",
                    )
                )
    finally:
        db.dispose()


def test_admin_events_prints_newest_first_by_kind_and_limit(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    with serving(settings, with_reconciler=False) as url:
        _record(settings)
        runner = CliRunner()
        every = runner.invoke(app, ["admin", "events", "--endpoint", url])
        one = runner.invoke(app, ["admin", "events", "--endpoint", url, "--limit", "1"])
        started = runner.invoke(
            app, ["admin", "events", "--endpoint", url, "--kind", "failover_started"]
        )
        bad = runner.invoke(app, ["admin", "events", "--endpoint", url, "--kind", "nope"])
    assert every.exit_code == 0, every.output
    kinds = [line.split()[2] for line in every.output.splitlines()]
    assert kinds == ["circuit_breaker_tripped", "failover_started", "amphora_stale"]
    assert one.output.split()[1:3] == ["CRITICAL", "circuit_breaker_tripped"]
    (line,) = started.output.splitlines()
    assert line.startswith("2030-01-02T03:04:06.000000  WARNING ")
    assert "amphora=amp-1" in line and line.endswith("failover_started here")
    assert bad.exit_code == 1 and bad.output.startswith("400: Invalid kind: nope")


def test_admin_events_shows_the_api_refusal_for_a_non_admin(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(noauth_default_roles=["member"])
    with serving(settings, with_reconciler=False) as url:
        result = CliRunner().invoke(app, ["admin", "events", "--endpoint", url])
    assert result.exit_code == 1
    assert result.output.startswith("403: ")


def test_admin_events_says_when_the_api_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["admin", "events", "--endpoint", url])
    assert result.exit_code == 1
    assert result.output.startswith(f"cannot reach {url}/v2/portico/events")
