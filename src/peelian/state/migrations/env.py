"""Alembic environment for the state database.

`peelian.state.State.open` runs the migrations itself, passing its connection
(already in a transaction, holding the state write lock) as
`config.attributes["connection"]`; there is no alembic.ini. To write a new
migration, compare the tables in `peelian/state/tables.py` with a database at
head:

    from alembic import command
    from peelian.state.database import alembic_config
    command.revision(alembic_config("sqlite:///scratch.db"), "add watchlists",
                     autogenerate=True, rev_id="0002")

then read and edit the script it writes under `versions/` (autogenerate
misses triggers and some constraints).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from peelian.state.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if context.is_offline_mode():
    raise RuntimeError("the state migrations run online only (through State.open)")
if connection is None:
    engine = sa.create_engine(config.attributes["url"])
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
