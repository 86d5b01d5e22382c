"""Certificates keep the terms they were sold with, and may be cancelled; deposit transfers are told

- certificate.amount, certificate.visits_total and certificate_service: the nominal, the
  visits and the services copied from the kind at the sale (an edited kind changed what
  the sold ones paid for and showed); filled for the sold ones from their kinds.
- certificate.cancelled_at: a certificate or a subscription the manager cancelled (what
  was left of it refunded to the customer's deposit, a ledger operation).
- message_template: the default texts of «Перевод с депозита» and «Перевод на депозит».

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column("visits_total", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(), nullable=True))
    op.create_table(
        "certificate_service",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("catalog_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["catalog_item_id"], ["catalog_item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("certificate_id", "catalog_item_id"),
    )
    op.create_index("ix_certificate_service_item", "certificate_service", ["catalog_item_id"])
    # the sold ones take their kinds' terms as they are now (the best that is known)
    op.execute(
        "UPDATE certificate SET "
        "amount = CASE WHEN type = 'sum' THEN (SELECT COALESCE(k.amount, k.price) "
        "FROM certificate_kind k WHERE k.id = certificate.kind_id) END, "
        "visits_total = CASE WHEN type = 'visits' THEN (SELECT k.visits "
        "FROM certificate_kind k WHERE k.id = certificate.kind_id) END"
    )
    op.execute(
        "INSERT INTO certificate_service (certificate_id, catalog_item_id) "
        "SELECT c.id, s.catalog_item_id FROM certificate c "
        "JOIN certificate_kind_service s ON s.kind_id = c.kind_id"
    )
    from app.notifications import install_default_templates

    install_default_templates(op.get_bind())  # the deposit transfer's two messages on every channel


def downgrade():
    op.execute("DELETE FROM message_template WHERE message_type IN ('deposit_sent', 'deposit_received')")
    op.drop_index("ix_certificate_service_item", table_name="certificate_service")
    op.drop_table("certificate_service")
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("visits_total")
        batch_op.drop_column("amount")
