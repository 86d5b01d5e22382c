"""Blank optional values become NULL

A customer saved with «Номер карты» left empty stored '' in a unique column, and
every later customer without a card number was refused. The application now
stores NULL for a blank optional value (app.records); rows written before keep
their empty strings until this migration turns them into NULL.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Kartoteka's tables (FAB's own ab_* tables are left as FAB writes them).
TABLES = (
    "branch",
    "customer_category",
    "tag",
    "catalog_item",
    "customer",
    "customer_document",
    "customer_order",
    "order_item",
    "customer_return",
    "review",
    "note",
    "medical_record",
    "customer_attribute",
    "customer_attribute_value",
    "message_template",
    "message",
)


def upgrade():
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in TABLES:
        if table not in existing:
            continue
        for column in inspector.get_columns(table):
            if column["nullable"] and isinstance(column["type"], sa.String | sa.Text):
                name = column["name"]
                op.execute(sa.text(f'UPDATE "{table}" SET "{name}" = NULL WHERE trim("{name}") = \'\''))


def downgrade():
    pass  # NULL and '' meant the same to every screen
