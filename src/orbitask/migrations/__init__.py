"""Alembic migrations; run them with `orbitask db upgrade`."""
