"""amphora upgrades: a load balancer's target image, an amphora's pending agent settings

Revision ID: 0002_amphora_upgrades
Revises: 0002_purged_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_amphora_upgrades"
down_revision = "0002_purged_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("load_balancer") as batch:
        batch.add_column(sa.Column("amphora_image", sa.String(length=255), nullable=True))
    with op.batch_alter_table("amphora") as batch:
        batch.add_column(sa.Column("agent_config_pending", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("amphora") as batch:
        batch.drop_column("agent_config_pending")
    with op.batch_alter_table("load_balancer") as batch:
        batch.drop_column("amphora_image")
