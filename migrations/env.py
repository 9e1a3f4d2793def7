"""Alembic environment: the URL comes from the caller's Config (see app/core/migrate.py)."""

from alembic import context

import app.access.models  # noqa: F401
import app.artifacts.models  # noqa: F401 - registers the tables on Base.metadata
import app.datasets.models  # noqa: F401
import app.jobs.models  # noqa: F401
import app.metrics.models  # noqa: F401
from app.core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
