"""An order whose returns gave money back says so, not «Оплачен»

The payment status gains «Деньги возвращены» (all the order's money went back) and
«Оплачен, часть возвращена» (nothing owed, some money given back); an order fully
refunded read «Оплачен» on the lists and the card. The orders already refunded are
given their status here; going back makes them «Оплачен» again, as they were.

Revision ID: 0029
Revises: 0028
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "UPDATE customer_order SET payment_status = CASE WHEN paid > 0 THEN 'partly_refunded' ELSE 'refunded' END "
        "WHERE refunded > 0 AND paid >= total - refunded"
    )


def downgrade():
    op.execute(
        "UPDATE customer_order SET payment_status = 'paid' WHERE payment_status IN ('partly_refunded', 'refunded')"
    )
