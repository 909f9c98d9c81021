"""Alembic environment: migrations run on the connection `callboard db upgrade` hands in."""
from alembic import context
from sqlalchemy import Connection

from callboard.engine.tables import metadata

config = context.config


def _include(obj, name, type_, reflected, compare_to):
    # Expression indexes of `index: true` fields are made at run time, per bundle.
    return not (type_ == "index" and name and name.startswith("ix_rec_"))


def run(connection: Connection) -> None:
    target = config.attributes.get("target_metadata", metadata)
    context.configure(connection=connection, target_metadata=target,
                      include_object=_include, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    from callboard.engine.db import connect

    with connect(config.get_main_option("sqlalchemy.url")).connect() as conn:
        run(conn)
else:
    run(connection)
