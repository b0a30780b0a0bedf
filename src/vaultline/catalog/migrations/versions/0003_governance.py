"""Governance: job bookmarks, crawled tables, data-quality results, run metrics and alarm events.

Bookmarks advance in the same transaction as the dataset versions of the run that read the input
(`catalog/bookmarks.py`); the other tables are written once per run or per crawl and never updated,
so their history is the audit trail an on-call engineer reads.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "vaultline_bookmarks",
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("column_name", sa.String(128)),
        sa.Column("watermark", sa.Text),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "source", name="pk_vaultline_bookmarks"),
        sa.CheckConstraint("kind IN ('files', 'column')", name="ck_vaultline_bookmarks_kind"),
    )
    op.create_table(
        "vaultline_bookmark_files",
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "source", "location", name="pk_vaultline_bookmark_files"),
    )
    op.create_table(
        "vaultline_tables",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "vaultline_table_versions",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_vaultline_table_versions"),
        sa.ForeignKeyConstraint(["name"], ["vaultline_tables.name"], name="fk_vaultline_table_versions_name"),
    )
    op.create_table(
        "vaultline_dq_results",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("expectation", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("failed_rows", sa.BigInteger, nullable=False),
        sa.Column("observed", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "expectation", name="pk_vaultline_dq_results"),
    )
    op.create_index("ix_vaultline_dq_results_pipeline", "vaultline_dq_results", ["pipeline", "expectation"])
    op.create_table(
        "vaultline_run_metrics",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_vaultline_run_metrics"),
    )
    op.create_index("ix_vaultline_run_metrics_pipeline", "vaultline_run_metrics", ["pipeline", "name"])
    op.create_table(
        "vaultline_alarm_events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("pipeline", sa.String(128)),
        sa.Column("subject", sa.String(128)),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("delivered", sa.Text, nullable=False),
        sa.Column("fired_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_vaultline_alarm_events_rule", "vaultline_alarm_events", ["rule"])


def downgrade() -> None:
    op.drop_index("ix_vaultline_alarm_events_rule", table_name="vaultline_alarm_events")
    op.drop_table("vaultline_alarm_events")
    op.drop_index("ix_vaultline_run_metrics_pipeline", table_name="vaultline_run_metrics")
    op.drop_table("vaultline_run_metrics")
    op.drop_index("ix_vaultline_dq_results_pipeline", table_name="vaultline_dq_results")
    op.drop_table("vaultline_dq_results")
    op.drop_table("vaultline_table_versions")
    op.drop_table("vaultline_tables")
    op.drop_table("vaultline_bookmark_files")
    op.drop_table("vaultline_bookmarks")
