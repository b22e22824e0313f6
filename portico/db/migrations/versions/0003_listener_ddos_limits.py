"""listener ddos limits: per-source rate limits and request size limits

Revision ID: 0003_listener_ddos_limits
Revises: 0002_amphora_upgrades
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_listener_ddos_limits"
down_revision = "0002_amphora_upgrades"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listener") as batch:
        batch.add_column(sa.Column("connection_rate_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("request_rate_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_request_header_size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_request_body_size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listener") as batch:
        batch.drop_column("max_request_body_size")
        batch.drop_column("max_request_header_size")
        batch.drop_column("request_rate_limit")
        batch.drop_column("connection_rate_limit")
