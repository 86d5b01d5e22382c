"""A subject request says whom it was about after its customer is deleted

- subject_request.customer_number, customer_name, customer_card: the customer as the
  clinic knew them when the request was received (their number, name and card). The
  key stays ON DELETE SET NULL: the rules read it (whether a customer was erased, what
  an export collects), and SQLite gives a deleted customer's id out again. Deleting a
  customer emptied their requests' «Клиент»; the request, a legal record (152-FZ), now
  keeps the label. An erasure keeps the number only.
- Filled for the requests whose customer is there: the number of all, the name and the
  card of the customers not erased (a request whose customer was already deleted has
  nobody to read them from).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def _full_name(last_name, first_name, middle_name, company_name, customer_type) -> str | None:
    """models.full_name as it is at this revision."""
    person = " ".join(filter(None, (last_name, first_name, middle_name)))
    legal = (customer_type or "").lower() == "legal" and company_name
    name = company_name if legal else person or company_name
    return name[:300] if name else None


def upgrade():
    with op.batch_alter_table("subject_request") as batch:
        batch.add_column(sa.Column("customer_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("customer_name", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("customer_card", sa.String(length=40), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE subject_request SET customer_number = customer_id"))
    # the customers not erased (a done erasure blanked them, the name aside while the
    # medical records are kept: the label is not to hold it)
    rows = bind.execute(
        sa.text(
            "SELECT c.id, c.last_name, c.first_name, c.middle_name, c.company_name, c.customer_type, "
            "c.card_number FROM customer c WHERE c.id IN (SELECT customer_id FROM subject_request) "
            "AND NOT EXISTS (SELECT 1 FROM subject_request e WHERE e.customer_id = c.id "
            "AND lower(e.kind) = 'erasure' AND lower(e.status) = 'done')"
        )
    ).all()
    fill = sa.text(
        "UPDATE subject_request SET customer_name = :name, customer_card = :card WHERE customer_id = :id"
    )
    for cid, last, first, middle, company, kind, card in rows:
        bind.execute(fill, {"id": cid, "name": _full_name(last, first, middle, company, kind), "card": card})


def downgrade():
    with op.batch_alter_table("subject_request") as batch:
        batch.drop_column("customer_card")
        batch.drop_column("customer_name")
        batch.drop_column("customer_number")
