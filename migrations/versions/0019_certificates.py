"""Certificates and subscriptions («абонементы»), issue 18 item 4

- certificate_kind (+ certificate_kind_service): the kinds the administrator defines:
  a certificate for a sum (possibly for some services only) or a subscription of N
  visits of given services; a price and a validity in days.
- certificate: one sold to a customer: its number, kind, price, how the sale was paid,
  sold when and by whom (created_by_fk), valid until when; the money or the visits
  left (the sum of its operations, kept on the row by conditional UPDATEs).
- certificate_operation: its ledger: the issue at the sale, payments, reversals.
- payment.certificate_id: a payment made by (or a reversal returned to) a certificate.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=12, scale=2)
TYPE = sa.Enum("sum", "visits", name="certificate_type", native_enum=False, length=32)
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
KIND = sa.Enum("issue", "payment", "refund", name="certificate_operation_kind", native_enum=False, length=32)


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
        "certificate_kind",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("type", TYPE, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("amount", MONEY, nullable=True),
        sa.Column("visits", sa.Integer(), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_audited(),
        sa.CheckConstraint("price >= 0", name="ck_certificate_kind_price"),
        sa.CheckConstraint("valid_days > 0", name="ck_certificate_kind_days"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "certificate_kind_service",
        sa.Column("kind_id", sa.Integer(), nullable=False),
        sa.Column("catalog_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["kind_id"], ["certificate_kind.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["catalog_item_id"], ["catalog_item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("kind_id", "catalog_item_id"),
    )
    op.create_index("ix_certificate_kind_service_item", "certificate_kind_service", ["catalog_item_id"])
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("kind_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("type", TYPE, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("method", METHOD, nullable=False),
        sa.Column("sold_at", sa.DateTime(), nullable=False),
        sa.Column("valid_until", sa.DateTime(), nullable=False),
        sa.Column("balance", MONEY, nullable=True),
        sa.Column("visits_left", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        *_audited(),
        sa.CheckConstraint("balance IS NULL OR balance >= 0", name="ck_certificate_balance"),
        sa.CheckConstraint("visits_left IS NULL OR visits_left >= 0", name="ck_certificate_visits"),
        sa.ForeignKeyConstraint(["kind_id"], ["certificate_kind.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_certificate_kind_id"), "certificate", ["kind_id"])
    op.create_index(op.f("ix_certificate_customer_id"), "certificate", ["customer_id"])
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_payment_certificate_id"), ["certificate_id"], unique=False)
        batch_op.create_foreign_key("fk_payment_certificate_id", "certificate", ["certificate_id"], ["id"])
    op.create_table(
        "certificate_operation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("kind", KIND, nullable=False),
        sa.Column("amount", MONEY, nullable=True),
        sa.Column("visits", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        *_audited(),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_certificate_operation_certificate_id"), "certificate_operation", ["certificate_id"]
    )
    op.create_index(op.f("ix_certificate_operation_payment_id"), "certificate_operation", ["payment_id"])


def downgrade():
    op.drop_index(op.f("ix_certificate_operation_payment_id"), table_name="certificate_operation")
    op.drop_index(op.f("ix_certificate_operation_certificate_id"), table_name="certificate_operation")
    op.drop_table("certificate_operation")
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_constraint("fk_payment_certificate_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_payment_certificate_id"))
        batch_op.drop_column("certificate_id")
    op.drop_index(op.f("ix_certificate_customer_id"), table_name="certificate")
    op.drop_index(op.f("ix_certificate_kind_id"), table_name="certificate")
    op.drop_table("certificate")
    op.drop_index("ix_certificate_kind_service_item", table_name="certificate_kind_service")
    op.drop_table("certificate_kind_service")
    op.drop_table("certificate_kind")
