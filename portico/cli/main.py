"""``portico serve | api | controller | db upgrade | admin …``: thin entry points."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from portico import __version__, bootstrap
from portico.cli.admin import admin_app
from portico.cli.upgrades import register as register_upgrades
from portico.settings import Settings
from portico.wire.log_setup import setup_logging

app = typer.Typer(help="portico: load balancing as a service (Octavia v2 API).")
db_app = typer.Typer(help="Database schema management.")
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
register_upgrades(admin_app)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML config file (PORTICO_CONFIG_FILE).")
]
DbOpt = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL (PORTICO_DATABASE_URL).")
]
HostOpt = Annotated[str | None, typer.Option("--host", help="Address to bind (bind_host).")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port to bind (bind_port).")]
DataOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (data_dir).")]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    if config is not None:
        os.environ["PORTICO_CONFIG_FILE"] = str(config)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _serve(settings: Settings, *, with_reconciler: bool, process: str) -> None:
    setup_logging(process, use_json=settings.use_json)
    api = bootstrap.build_app(settings, with_reconciler=with_reconciler)
    bootstrap.tune_gc()
    # log_config=None: uvicorn's loggers keep setup_logging's handler instead of their own.
    uvicorn.run(
        api,
        host=settings.bind_host,
        port=settings.bind_port,
        log_level="warning",
        log_config=None,
    )


@app.command()
def serve(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Everything in one process: API and reconciler (migrates the database first)."""
    settings = _settings(
        config, database_url=database_url, bind_host=host, bind_port=port, data_dir=data_dir
    )
    bootstrap.upgrade_database(settings)
    _serve(settings, with_reconciler=settings.run_reconciler, process="serve")


@app.command()
def api(
    config: ConfigOpt = None,
    database_url: DbOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """The API alone, against a shared (migrated) database."""
    settings = _settings(
        config, database_url=database_url, bind_host=host, bind_port=port, data_dir=data_dir
    )
    _serve(settings, with_reconciler=False, process="api")


@app.command()
def controller(
    config: ConfigOpt = None, database_url: DbOpt = None, data_dir: DataOpt = None
) -> None:
    """The reconciler alone, against a shared (migrated) database."""
    settings = _settings(config, database_url=database_url, data_dir=data_dir)
    setup_logging("controller", use_json=settings.use_json)
    asyncio.run(bootstrap.run_controller(settings))


@app.command()
def agent(
    config: Annotated[Path, typer.Option("--config", help="The agent's JSON config file.")],
) -> None:
    """The amphora agent (runs inside an amphora; written by the compute driver)."""
    from portico.agent.config import AgentConfig
    from portico.agent.server import run_agent

    run_agent(AgentConfig.load(config))


@app.command()
def housekeeping(
    config: ConfigOpt = None, database_url: DbOpt = None, data_dir: DataOpt = None
) -> None:
    """One housekeeping pass now (purge, orphans, certificates, spares); prints what it did.

    Run it on a controller's host, with its settings: orphans are found through the compute
    driver, which sees the amphorae of this host's data directory.
    """
    settings = _settings(config, database_url=database_url, data_dir=data_dir)
    setup_logging("housekeeping", use_json=settings.use_json, level=logging.WARNING)
    report = asyncio.run(bootstrap.housekeeping_once(settings))
    for line in report.lines():
        typer.echo(line)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, database_url: DbOpt = None) -> None:
    """Create or migrate the schema to the latest revision."""
    bootstrap.upgrade_database(_settings(config, database_url=database_url))


@app.command()
def version() -> None:
    """Print portico's version."""
    typer.echo(__version__)
