"""Layout 1: sessions, their parts (tables and clip) and images, and the layout-version row.

A database made before migrations were kept with Alembic (layout 0 or 1) is stamped with this revision once it
has layout 1 (:func:`larnet_core.sessions.schema.ensure_schema`); an empty database starts here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written out as it was, not taken from today's metadata, so later layouts never change what this step does.
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("edit_token_hash", sa.String(64), nullable=False),
        sa.Column("model_preset", sa.String(200), nullable=False),
        sa.Column("checkpoint_path", sa.Text, nullable=False),
        sa.Column("checkpoint_sha256", sa.String(64), nullable=False),
        sa.Column("model_synthetic", sa.Boolean, nullable=False),
        sa.Column("input_name", sa.Text, nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("input_fps", sa.Float, nullable=False),
        sa.Column("input_width", sa.Integer, nullable=False),
        sa.Column("input_height", sa.Integer, nullable=False),
        sa.Column("input_frame_count", sa.Integer, nullable=False),
        sa.Column("metrics_runs", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
    )
    op.create_index("ix_sessions_updated_at", "sessions", ["updated_at"])
    op.create_table(
        "session_parts",
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("part", sa.String(16), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_columns", sa.Integer, nullable=False),
        sa.Column("n_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "session_images",
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    version = op.create_table("schema_version", sa.Column("version", sa.Integer, nullable=False))
    op.bulk_insert(version, [{"version": 1}])


def downgrade() -> None:
    for table in ("schema_version", "session_images", "session_parts", "sessions"):
        op.drop_table(table)
