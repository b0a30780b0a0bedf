"""Alembic migrations of the catalog schema, applied by `vaultline.catalog.schema.open_catalog`.

No alembic.ini is needed at run time: `schema.py` builds the alembic Config in code and hands
`env.py` an open connection that already holds the migration lock.
"""
