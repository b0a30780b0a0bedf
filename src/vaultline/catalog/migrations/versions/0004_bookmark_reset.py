"""Bookmark resets wait for the run that redelivers: `reset_pending` marks a bookmark that was reset.

A reset no longer deletes what a source delivered: it marks the bookmark, the next run reads the
source from the start and replaces the outputs it appended to, and only that run's commit forgets
the old files and watermark (in the transaction that commits its outputs). A reset followed by a run
that fails leaves the bookmark marked, never empty: no input is delivered twice.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("vaultline_bookmarks") as batch:
        batch.add_column(sa.Column("reset_pending", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("vaultline_bookmarks") as batch:
        batch.drop_column("reset_pending")
