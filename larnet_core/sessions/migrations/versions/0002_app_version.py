"""Layout 2: each session records the LARNet Studio version that last wrote it (``sessions.app_version``), so a
figure can be traced to the code that computed it. Sessions from earlier layouts get an empty version.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("app_version", sa.String(64), nullable=False, server_default=""))
    # Older code refuses a layout newer than it understands instead of writing rows it cannot read back.
    op.execute(sa.text("UPDATE schema_version SET version = 2"))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("app_version")
    op.execute(sa.text("UPDATE schema_version SET version = 1"))
