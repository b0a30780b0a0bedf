"""Versioned datasets: one row per dataset, per committed version, and per file of a version.

JSON documents (schema, classifications, protections, encryption, watermark) are stored as text,
like run reports, so SQLite and PostgreSQL hold byte-identical documents. The (dataset, version)
primary key is the UNIQUE constraint optimistic commits rely on: two writers that read the same
latest version cannot both insert the next one.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "vaultline_datasets",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "vaultline_dataset_versions",
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("committed_at", sa.String(40), nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("classifications", sa.Text, nullable=False),
        sa.Column("protections", sa.Text, nullable=False),
        sa.Column("encryption", sa.Text, nullable=False),
        sa.Column("watermark", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("vacuumed_at", sa.String(40)),
        sa.PrimaryKeyConstraint("dataset", "version", name="pk_vaultline_dataset_versions"),
        sa.ForeignKeyConstraint(
            ["dataset"], ["vaultline_datasets.name"], name="fk_vaultline_dataset_versions_dataset"
        ),
        sa.CheckConstraint(
            "status IN ('committed', 'vacuumed')", name="ck_vaultline_dataset_versions_status"
        ),
    )
    op.create_index("ix_vaultline_dataset_versions_run_id", "vaultline_dataset_versions", ["run_id"])
    op.create_table(
        "vaultline_dataset_files",
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dataset", "version", "location", name="pk_vaultline_dataset_files"),
        sa.ForeignKeyConstraint(
            ["dataset", "version"],
            ["vaultline_dataset_versions.dataset", "vaultline_dataset_versions.version"],
            name="fk_vaultline_dataset_files_version",
        ),
    )
    op.create_index("ix_vaultline_dataset_files_location", "vaultline_dataset_files", ["location"])


def downgrade() -> None:
    op.drop_index("ix_vaultline_dataset_files_location", table_name="vaultline_dataset_files")
    op.drop_table("vaultline_dataset_files")
    op.drop_index("ix_vaultline_dataset_versions_run_id", table_name="vaultline_dataset_versions")
    op.drop_table("vaultline_dataset_versions")
    op.drop_table("vaultline_datasets")
