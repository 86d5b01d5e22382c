"""A refunded return reduces what an order owes

- customer_order.refunded: what the order's refunded returns gave back (no longer bought,
  so no longer owed); filled from the returns already refunded, and the payment status of
  the orders whose debt thereby falls to nothing set to «Оплачен».

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refunded", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE customer_order SET refunded = (SELECT COALESCE(SUM(r.amount), 0) FROM customer_return r "
        "WHERE r.order_id = customer_order.id AND r.status = 'refunded')"
    )
    op.execute(
        "UPDATE customer_order SET payment_status = 'paid' "
        "WHERE refunded > 0 AND paid >= total - refunded"
    )


def downgrade():
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.drop_column("refunded")
