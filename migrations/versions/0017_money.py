"""The customer's money: payments as records, deposit and bonus accounts as ledgers

- payment: money received for an order (positive) or given back (negative: a refund
  linked to its return, or the reversal of a mistaken payment). The order's «Оплачено»
  was typed as a running total with no date, method or author: each order's `paid`
  becomes one payment (method «Наличные», at the order's last change, no author,
  commented as migrated), and each return already «Деньги возвращены» becomes its
  refund, so that «Оплачено» is the sum of the payments from now on.
- order_item.discount: the customer's or the category's discount (the larger) applied to
  an item when it is added; existing items keep 0 (their amounts were paid as they are).
- customer_category.bonus_percent: bonuses accrued on what its customers pay.
- message_template: «Сгорание бонусов» on every channel (the job that burns expired
  bonuses tells a customer who agreed to such messages).
- account_operation: the deposit's and the bonuses' operations. A balance the demo
  seeder (or anyone) wrote on a customer becomes one «Остаток на начало учёта»
  operation, so that every balance is the sum of its operations.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

METHOD = sa.Enum(
    "cash",
    "card",
    "transfer",
    "deposit",
    "bonus",
    "certificate",
    name="payment_method",
    native_enum=False,
    length=32,
)
ACCOUNT = sa.Enum("deposit", "bonus", name="account", native_enum=False, length=32)
KIND = sa.Enum(
    "top_up",
    "payment",
    "refund",
    "accrual",
    "write_off",
    "expiry",
    "opening",
    name="operation_kind",
    native_enum=False,
    length=32,
)
MONEY = sa.Numeric(precision=12, scale=2)


def _audited():
    return [
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("changed_on", sa.DateTime(), nullable=False),
        sa.Column("created_by_fk", sa.Integer(), nullable=True),
        sa.Column("changed_by_fk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_fk"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["changed_by_fk"], ["ab_user.id"]),
    ]


def upgrade():
    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("method", METHOD, nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("return_id", sa.Integer(), nullable=True),
        *_audited(),
        sa.CheckConstraint("amount <> 0", name="ck_payment_amount_nonzero"),
        sa.ForeignKeyConstraint(["order_id"], ["customer_order.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reverses_id"], ["payment.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["return_id"], ["customer_return.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_id"),
        sa.UniqueConstraint("return_id"),
    )
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "account_operation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account", ACCOUNT, nullable=False),
        sa.Column("kind", KIND, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        *_audited(),
        sa.CheckConstraint("amount <> 0", name="ck_account_operation_nonzero"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("account_operation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_operation_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_operation_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(
            "ix_account_operation_customer_account", ["customer_id", "account"], unique=False
        )
    with op.batch_alter_table("customer_category", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bonus_percent", sa.Numeric(precision=5, scale=2), server_default="0", nullable=False)
        )
    with op.batch_alter_table("order_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("discount", sa.Numeric(precision=5, scale=2), server_default="0", nullable=False)
        )
    _payments_of_typed_totals()
    _opening_balances()
    from app.notifications import install_default_templates

    install_default_templates(op.get_bind())  # «Сгорание бонусов» on every channel


MIGRATED = "Перенесено из поля «Оплачено» (до учёта платежей)"


def _payments_of_typed_totals():
    """One payment per order with something paid; one refund per refunded return, and
    «Оплачено» less what was refunded (a refund did not change it before)."""
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO payment (order_id, customer_id, amount, method, paid_at, comment, created_on, changed_on) "
            "SELECT id, customer_id, paid, 'cash', changed_on, :comment, changed_on, changed_on "
            "FROM customer_order WHERE paid > 0"
        ),
        {"comment": MIGRATED},
    )
    refunded = bind.execute(
        sa.text(
            "SELECT r.id, r.order_id, r.customer_id, r.amount, r.reason, r.changed_on, o.paid "
            "FROM customer_return r JOIN customer_order o ON o.id = r.order_id "
            "WHERE r.status = 'refunded' ORDER BY r.order_id, r.id"
        ).columns(changed_on=sa.DateTime())
    ).all()
    left = {}
    for return_id, order_id, customer_id, amount, reason, at, paid in refunded:
        available = left.setdefault(order_id, paid)
        amount = min(amount, available)
        if amount <= 0:
            continue
        left[order_id] = available - amount
        bind.execute(
            sa.text(
                "INSERT INTO payment (order_id, customer_id, amount, method, paid_at, comment, return_id, "
                "created_on, changed_on) VALUES (:order, :customer, :amount, 'cash', :at, :reason, :ret, :at, :at)"
            ),
            {
                "order": order_id,
                "customer": customer_id,
                "amount": -amount,
                "at": at,
                "reason": reason,
                "ret": return_id,
            },
        )
    for order_id, paid in left.items():
        bind.execute(
            sa.text(
                "UPDATE customer_order SET paid = CAST(:paid AS NUMERIC(12, 2)), payment_status = CASE "
                "WHEN CAST(:paid AS NUMERIC(12, 2)) <= 0 THEN 'unpaid' "
                "WHEN CAST(:paid AS NUMERIC(12, 2)) < total THEN 'partial' ELSE 'paid' END WHERE id = :id"
            ),
            {"paid": paid, "id": order_id},
        )


def _opening_balances():
    bind = op.get_bind()
    for account, column in (("deposit", "deposit_balance"), ("bonus", "bonus_balance")):
        bind.execute(
            sa.text(
                "INSERT INTO account_operation (customer_id, account, kind, amount, comment, created_on, changed_on) "
                f"SELECT id, '{account}', 'opening', {column}, :comment, registered_at, registered_at "
                f"FROM customer WHERE {column} <> 0"
            ),
            {"comment": "Остаток до учёта операций"},
        )


def downgrade():
    op.execute("DELETE FROM message_template WHERE message_type = 'bonus_expired'")
    with op.batch_alter_table("customer_category", schema=None) as batch_op:
        batch_op.drop_column("bonus_percent")
    with op.batch_alter_table("order_item", schema=None) as batch_op:
        batch_op.drop_column("discount")
    # «Оплачено» was a running total that refunds did not change
    op.execute(
        "UPDATE customer_order SET paid = COALESCE((SELECT SUM(p.amount) FROM payment p "
        "WHERE p.order_id = customer_order.id AND p.return_id IS NULL), 0)"
    )
    with op.batch_alter_table("account_operation", schema=None) as batch_op:
        batch_op.drop_index("ix_account_operation_customer_account")
        batch_op.drop_index(batch_op.f("ix_account_operation_payment_id"))
        batch_op.drop_index(batch_op.f("ix_account_operation_customer_id"))
    op.drop_table("account_operation")
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_customer_id"))
        batch_op.drop_index(batch_op.f("ix_payment_order_id"))
    op.drop_table("payment")
