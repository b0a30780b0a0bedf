"""Alembic environment: run the catalog migrations on the connection `schema.open_catalog` passes.

`open_catalog` opens the transaction (and takes the cross-process lock) before calling alembic, so
the migrations here run inside it: alembic sees an external transaction and neither begins nor
commits one of its own. Developers may also run the alembic CLI with `-x url=...` (e.g. to
autogenerate a revision against a scratch database); then this file opens that URL itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from vaultline.catalog.schema import VERSION_TABLE, target_metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things in place: batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the catalog URL: alembic -x url=sqlite:///path/catalog.db ...")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


run_migrations()
