"""A loyalty card is found by its number in any case

The search box finds a customer by the card shown at the desk, typed or read by a
scanner. A number stored as typed («k00012345») was not found by the same number in
capitals: the index on ``upper(card_number)`` lets the search compare both in capitals
at the cost of one lookup.

Revision ID: 0036
Revises: 0035
"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_customer_card_number_upper", "customer", [sa.text("upper(card_number)")])


def downgrade():
    op.drop_index("ix_customer_card_number_upper", table_name="customer")
