"""The access journal outlives its customer

- access_log.customer_id loses its foreign key (ON DELETE SET NULL): deleting a
  customer emptied the customer of their journal rows, an alteration of an
  append-only journal through the delete route. The column keeps the id.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _customer_fk_name(bind) -> str | None:
    for fk in sa.inspect(bind).get_foreign_keys("access_log"):
        if fk["constrained_columns"] == ["customer_id"]:
            return fk["name"]
    return None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # the constraint has no name on SQLite: the batch names it by convention to drop it
        with op.batch_alter_table("access_log", naming_convention=SQLITE_NAMES) as batch:
            batch.drop_constraint("fk_access_log_customer_id_customer", type_="foreignkey")
    else:
        name = _customer_fk_name(bind)
        if name is not None:
            op.drop_constraint(name, "access_log", type_="foreignkey")


def downgrade():
    # rows of customers deleted since then have nobody to point at
    op.execute("UPDATE access_log SET customer_id = NULL WHERE customer_id NOT IN (SELECT id FROM customer)")
    with op.batch_alter_table("access_log") as batch:
        batch.create_foreign_key(
            "fk_access_log_customer_id_customer", "customer", ["customer_id"], ["id"], ondelete="SET NULL"
        )
