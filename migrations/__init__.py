"""Alembic migrations (the only schema path) and the code that runs and checks them."""
