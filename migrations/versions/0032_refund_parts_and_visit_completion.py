"""A return's refund in parts; when a visit was completed

- payment.return_id is no longer unique (an index instead): a full return goes back in
  parts, each the way it was paid (bonuses to bonuses, the deposit to the deposit, a
  certificate to itself, money in money), a refund per part. Before, a return held one
  refund, and a return paid in two ways was refused.
- customer_order.completed_at: when a visit was marked «Выполнен». A visit completed
  before its booked time took place then; «Последний визит» was capped at the moment of
  each recalculation instead, and moved whenever another order was saved. Filled for the
  completed orders there are with their last change (the earlier of it and the visit
  time is read, so a later edit of a past visit changes nothing).

Downgrading puts the uniqueness back, which fails while a return has several refunds.

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

# SQLite reflects the constraint of 0017 without a name; this names it to be dropped
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("payment_return_id_key", "payment", type_="unique")
        op.create_index("ix_payment_return_id", "payment", ["return_id"], unique=False)
    else:
        with op.batch_alter_table("payment", naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint("uq_payment_return_id", type_="unique")
            batch_op.create_index("ix_payment_return_id", ["return_id"], unique=False)
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE customer_order SET completed_at = changed_on WHERE status = 'completed' AND kind = 'visit'"
    )


def downgrade():
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.drop_column("completed_at")
    with op.batch_alter_table("payment", naming_convention=NAMING) as batch_op:
        batch_op.drop_index("ix_payment_return_id")
        batch_op.create_unique_constraint("uq_payment_return_id", ["return_id"])
