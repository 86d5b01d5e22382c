"""A return's refunds are found by an index over the payments that are refunds

Migration 0032 let a return have several refunds and indexed ``payment.return_id``
over every payment, while most payments are no refund: SQLite's ANALYZE counted the
empty rows as one value and judged the index to match every row, and a return's page
(its list of refunds) scanned every payment. The index covers the rows that have a
value, as migration 0030 made the other references a row may leave empty.

Revision ID: 0035
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade():
    where = sa.text("return_id IS NOT NULL")
    op.drop_index("ix_payment_return_id", table_name="payment")
    op.create_index("ix_payment_return_id", "payment", ["return_id"], sqlite_where=where, postgresql_where=where)
    if op.get_bind().dialect.name == "sqlite":
        op.execute('ANALYZE "payment"')


def downgrade():
    op.drop_index("ix_payment_return_id", table_name="payment")
    op.create_index("ix_payment_return_id", "payment", ["return_id"])
