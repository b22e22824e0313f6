"""``portico housekeeping``: one pass on this host's database and amphorae, printed."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from typer.testing import CliRunner

from portico.db.base import utcnow
from portico.db.models import Amphora, Event
from portico.domain.constants import AmphoraStatus
from portico.drivers.compute.processes import pid_alive
from portico.settings import Settings
from tests.integration.test_orphans import Harness
from tests.support.amphorae import amphora_pids, reap_amphorae

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def test_one_pass_purges_reaps_and_says_what_it_did(
    amphora_settings: Settings, tmp_path: Path
) -> None:
    from portico.cli.main import app

    harness = Harness(amphora_settings)
    try:
        orphan = harness.run(harness.fleet.create_row(None))
        harness.run(harness.fleet.boot(orphan, None, status=AmphoraStatus.READY))
        harness.forget_row(orphan)
        pids = amphora_pids(tmp_path)
        old = utcnow() - dt.timedelta(days=60)
        with harness.db.writing() as session:
            session.add(
                Amphora(id=str(uuid.uuid4()), status="DELETED", created_at=old, updated_at=old)
            )
            session.add(
                Event(id=str(uuid.uuid4()), created_at=old, kind="failover_started", severity="")
            )
        result = CliRunner().invoke(
            app,
            [
                "housekeeping",
                "--database-url",
                amphora_settings.effective_database_url,
                "--data-dir",
                str(tmp_path),
            ],
            # A short boot timeout makes the just-booted orphan old enough to reap.
            env={"PORTICO_AMPHORA_BOOT_TIMEOUT": "0.01"},
        )
        assert result.exit_code == 0, result.output
        # The runner interleaves the log records (timestamp first) with the report.
        lines = [line for line in result.output.splitlines() if not LOG_LINE.match(line)]
        assert lines[0] == "purged: 1 amphorae, 1 events, 0 webhook deliveries"
        assert f"reaped instance without an amphora row: {orphan}" in lines
        assert not any(pid_alive(pid) for pid in pids)
    finally:
        harness.close()
        reap_amphorae(tmp_path)
