"""Bonuses taken back before their write-offs named the accrual they took back

A reversal or a return's refund takes back the bonuses its money earned. Since the
version after 0032 each such write-off names the accrual it took back
(``account_operation.linked_id``), and an accrual taken back in full is settled
(``closed_at``): what is left of an accrual is its amount less what was taken back of
it, and the sweeper burns only that. The write-offs written before name nothing, so an
old order's accrual taken back by them still reads as whole: a year later the sweeper
burnt it again from the customer's other bonuses, and a later return of the same order
took back its share of the whole and left the accrual open.

Each such write-off (bonuses, taken back by a payment: a reversal or a refund, not a
manager's own «Списание») is linked to the accrual it took back: among a reversal's
(those of the payment it reverses) or a refund's (those of its return's order), the
oldest that still holds it whole; an accrual it empties is settled when the write-off
was written. A write-off that took back more than any one accrual held (an order paid
in several accruing payments, returned at once) is left as it was: a link names one
accrual, and splitting the row would put its parts after the operations written since,
which the bonuses given back by a later refund are counted by (payments._lots_spent).

Downgrading keeps the links (the column is 0020's); nothing to undo.

Revision ID: 0033
Revises: 0032
"""

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

CENT = Decimal("0.01")

operation = sa.table(
    "account_operation",
    sa.column("id", sa.Integer),
    sa.column("customer_id", sa.Integer),
    sa.column("account", sa.String),
    sa.column("kind", sa.String),
    sa.column("amount", sa.Numeric(12, 2)),
    sa.column("payment_id", sa.Integer),
    sa.column("closed_at", sa.DateTime),
    sa.column("linked_id", sa.Integer),
    sa.column("created_on", sa.DateTime),
)
payment = sa.table(
    "payment",
    sa.column("id", sa.Integer),
    sa.column("order_id", sa.Integer),
    sa.column("reverses_id", sa.Integer),
    sa.column("return_id", sa.Integer),
)
customer_return = sa.table("customer_return", sa.column("id", sa.Integer), sa.column("order_id", sa.Integer))


def money(value) -> Decimal:
    """An amount as stored (SQLite keeps NUMERIC as binary floating point)."""
    return Decimal(str(value or 0)).quantize(CENT)


def accruals_taken_back_by(conn, write_off):
    """The accruals ``write_off`` took back, oldest first: a reversal's, of the payment it
    reversed; a refund's, of its return's order. None for a write-off of neither."""
    paid_by = conn.execute(
        sa.select(payment.c.reverses_id, payment.c.return_id).where(payment.c.id == write_off.payment_id)
    ).first()
    if paid_by is None:
        return None
    if paid_by.reverses_id is not None:
        earned_on = sa.select(payment.c.id).where(payment.c.id == paid_by.reverses_id)
    elif paid_by.return_id is not None:
        order_id = sa.select(customer_return.c.order_id).where(customer_return.c.id == paid_by.return_id)
        earned_on = sa.select(payment.c.id).where(payment.c.order_id == order_id.scalar_subquery())
    else:
        return None
    return conn.execute(
        sa.select(operation.c.id, operation.c.amount, operation.c.closed_at)
        .where(
            operation.c.customer_id == write_off.customer_id,
            operation.c.account == "bonus",
            operation.c.kind == "accrual",
            operation.c.payment_id.in_(earned_on),
        )
        .order_by(operation.c.id)
    ).all()


def left_of(conn, accrual) -> Decimal:
    """What of an accrual the write-offs linked to it have not taken back."""
    taken = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(operation.c.amount), 0)).where(
            operation.c.linked_id == accrual.id, operation.c.kind == "write_off"
        )
    ).scalar()
    return money(accrual.amount) + money(taken)


def link_write_offs(conn) -> int:
    """Link every bonus write-off a payment made without naming its accrual to the
    oldest of its accruals that still holds it whole; returns how many were linked."""
    old = conn.execute(
        sa.select(operation.c.id, operation.c.customer_id, operation.c.amount, operation.c.payment_id)
        .add_columns(operation.c.created_on)
        .where(
            operation.c.account == "bonus",
            operation.c.kind == "write_off",
            operation.c.linked_id.is_(None),
            operation.c.payment_id.is_not(None),
        )
        .order_by(operation.c.id)
    ).all()
    linked = 0
    for write_off in old:
        taken = -money(write_off.amount)
        for accrual in accruals_taken_back_by(conn, write_off) or ():
            left = left_of(conn, accrual)
            if left < taken:
                continue
            conn.execute(sa.update(operation).where(operation.c.id == write_off.id).values(linked_id=accrual.id))
            if left == taken and accrual.closed_at is None:  # taken back in full: settled then
                conn.execute(
                    sa.update(operation).where(operation.c.id == accrual.id).values(closed_at=write_off.created_on)
                )
            linked += 1
            break
    return linked


def upgrade():
    link_write_offs(op.get_bind())


def downgrade():
    pass
