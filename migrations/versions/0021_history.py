"""The change history outlives its customer; the retention job's notices

- change_log.customer_id loses its foreign key (it cascaded: on PostgreSQL, and on
  SQLite with foreign keys on, deleting a customer deleted their history, the row of
  the deletion included). The column keeps the deleted customer's id. An index on
  (entity, entity_id): a record's own history, and the card's tab, which shows the
  rows since its customer's id was last deleted (SQLite gives the id out again).
- retention_review: the daily job's notice to the managers: how many customers are
  past the retention period (waiting for a manager's erasure) and how many are kept
  for their medical records.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _customer_fk_name(bind) -> str | None:
    for fk in sa.inspect(bind).get_foreign_keys("change_log"):
        if fk["constrained_columns"] == ["customer_id"]:
            return fk["name"]
    return None


def upgrade():
    op.create_table(
        "retention_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("cutoff", sa.DateTime(), nullable=False),
        sa.Column("due", sa.Integer(), nullable=False),
        sa.Column("kept_medical", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("retention_review") as batch:
        batch.create_index("ix_retention_review_at", ["at"])
    with op.batch_alter_table("change_log") as batch:
        batch.create_index("ix_change_log_entity", ["entity", "entity_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # the constraint has no name on SQLite: the batch names it by convention to drop it
        with op.batch_alter_table("change_log", naming_convention=SQLITE_NAMES) as batch:
            batch.drop_constraint("fk_change_log_customer_id_customer", type_="foreignkey")
    else:
        name = _customer_fk_name(bind)
        if name is not None:
            op.drop_constraint(name, "change_log", type_="foreignkey")


def downgrade():
    op.drop_table("retention_review")
    with op.batch_alter_table("change_log") as batch:
        batch.drop_index("ix_change_log_entity")
    # rows of customers deleted since then have nobody to point at
    op.execute("UPDATE change_log SET customer_id = NULL WHERE customer_id NOT IN (SELECT id FROM customer)")
    with op.batch_alter_table("change_log") as batch:
        batch.create_foreign_key(
            "fk_change_log_customer_id_customer", "customer", ["customer_id"], ["id"], ondelete="CASCADE"
        )
