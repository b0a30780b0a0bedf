"""The run catalog: `vaultline_runs` exactly as `catalog/runs.py` created it before migrations.

Catalogs created by that code have this table but no version table; `open_catalog` recognises them
and stamps this revision instead of running it. Keep this file frozen: it must keep describing
those catalogs. Later changes to the runs table go into a new revision.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "vaultline_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("spec_sha256", sa.String(64), nullable=False),
        sa.Column("rows_in", sa.BigInteger),
        sa.Column("rows_out", sa.BigInteger),
        sa.Column("rows_quarantined", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("report", sa.Text),
    )
    op.create_index("ix_vaultline_runs_pipeline", "vaultline_runs", ["pipeline"])


def downgrade() -> None:
    op.drop_index("ix_vaultline_runs_pipeline", table_name="vaultline_runs")
    op.drop_table("vaultline_runs")
