"""amphora health: the liveness columns move from amphora to a narrow table of their own

Revision ID: 0004_amphora_health
Revises: 0003_listener_ddos_limits

Every heartbeat batch rewrote each amphora's whole row (about 35 columns) to record three;
``amphora_health`` holds them alone (``portico.db.health_models``). Amphorae heard from keep
their last heartbeat, sequence and generation: the stale check and the replay floor go on
from where they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_amphora_health"
down_revision = "0003_listener_ddos_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "amphora_health",
        sa.Column("amphora_id", sa.String(36), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["amphora_id"],
            ["amphora.id"],
            name="fk_amphora_health_amphora_id_amphora",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("amphora_id", name="pk_amphora_health"),
    )
    # A row heard from without a sequence or generation (never written so by portico) keeps
    # its time; 0 is below any sequence an agent sends (they start from the wall clock).
    op.execute(
        "INSERT INTO amphora_health (amphora_id, last_heartbeat_at, sequence, generation) "
        "SELECT id, last_heartbeat_at, COALESCE(heartbeat_sequence, 0), "
        "COALESCE(heartbeat_generation, 0) FROM amphora WHERE last_heartbeat_at IS NOT NULL"
    )
    with op.batch_alter_table("amphora") as batch:
        batch.drop_column("heartbeat_generation")
        batch.drop_column("heartbeat_sequence")
        batch.drop_column("last_heartbeat_at")


def downgrade() -> None:
    with op.batch_alter_table("amphora") as batch:
        batch.add_column(sa.Column("last_heartbeat_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("heartbeat_sequence", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("heartbeat_generation", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE amphora SET "
        "last_heartbeat_at = (SELECT h.last_heartbeat_at FROM amphora_health h "
        "WHERE h.amphora_id = amphora.id), "
        "heartbeat_sequence = (SELECT h.sequence FROM amphora_health h "
        "WHERE h.amphora_id = amphora.id), "
        "heartbeat_generation = (SELECT h.generation FROM amphora_health h "
        "WHERE h.amphora_id = amphora.id)"
    )
    op.drop_table("amphora_health")
