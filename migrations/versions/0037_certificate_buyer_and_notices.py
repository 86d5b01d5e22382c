"""A certificate remembers who paid for it; customers are told of passes, cancellations
and replies to their reviews

- certificate.buyer_id: the customer who paid for it. A certificate passed to another
  customer (a present) had only its holder: cancelling it refunded the unspent part to
  the friend's deposit, and reversing a payment the buyer had made with it before the
  pass put the money on the friend's certificate. Filled for the certificates sold
  before: the holder before its first pass (the change history's old value), else the
  holder.
- message_template: «Сертификат передан клиенту», «Сертификат передан другому клиенту»,
  «Сертификат аннулирован» and «Ответ на отзыв» on every channel: nobody was told of a
  pass or a cancellation, nor that the clinic had answered their review.

Revision ID: 0037
Revises: 0036
"""

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

NEW_TYPES = ("certificate_received", "certificate_given", "certificate_cancelled", "review_reply")


def upgrade():
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("buyer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_certificate_buyer_id_customer", "customer", ["buyer_id"], ["id"], ondelete="SET NULL"
        )
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE certificate SET buyer_id = customer_id"))
    first_holders = conn.execute(
        sa.text(
            "SELECT entity_id, old_value FROM change_log WHERE entity = 'Certificate' "
            "AND field = 'customer_id' AND action = 'update' AND old_value IS NOT NULL ORDER BY id"
        )
    ).all()
    seen = set()
    for certificate_id, old_value in first_holders:
        if certificate_id in seen or not str(old_value).isdigit():
            continue
        seen.add(certificate_id)
        conn.execute(
            sa.text(
                "UPDATE certificate SET buyer_id = :buyer WHERE id = :id "
                "AND EXISTS (SELECT 1 FROM customer WHERE customer.id = :buyer)"
            ),
            {"buyer": int(old_value), "id": certificate_id},
        )
    from app.notifications import install_default_templates

    install_default_templates(conn)


def downgrade():
    op.execute(
        "DELETE FROM message_template WHERE message_type IN ({})".format(", ".join(f"'{t}'" for t in NEW_TYPES))
    )
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_constraint("fk_certificate_buyer_id_customer", type_="foreignkey")
        batch_op.drop_column("buyer_id")
