"""A certificate remembers who paid for it; customers are told of passes, cancellations
and replies to their reviews

- certificate.buyer_id: the customer who paid for it. A certificate passed to another
  customer (a present) had only its holder: cancelling it refunded the unspent part to
  the friend's deposit, and reversing a payment the buyer had made with it before the
  pass put the money on the friend's certificate. Filled for the certificates sold
  before: the customer its sale's row of the change history was filed on, else the
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
    # the customer the sale's row of the change history was filed on (audit files a record
    # under its customer when it is created); no such row: the holder
    conn.execute(
        sa.text(
            "UPDATE certificate SET buyer_id = COALESCE(("
            "SELECT change_log.customer_id FROM change_log WHERE change_log.entity = 'Certificate' "
            "AND change_log.entity_id = certificate.id AND change_log.action = 'create' "
            "AND change_log.customer_id IN (SELECT customer.id FROM customer) "
            "ORDER BY change_log.id LIMIT 1), customer_id)"
        )
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
