"""Persistence of the registry, behind the services: what is written and how.

- :mod:`.tables`: the tables (SQLAlchemy Core): the append-only truth and the projections;
- :mod:`.db`: engines (SQLite, PostgreSQL), the writers' lock, the raw driver path of the hot
  statements, bulk inserts, schema migration and check;
- :mod:`.crypto`: master key file, per-operation data keys, sealed fields and blind indexes;
- :mod:`.audit`: the hash-chained audit log;
- ``migrations/``: the Alembic migrations that create and upgrade the schema.
"""
