"""A legal entity is named by its organisation

A legal entity had to give a Фамилия and an Имя (a contact person it need not
have) and its card was titled by them; the name columns become optional and
the domain rule asks for the organisation's name instead. Name search keys of
legal entities put the organisation first (lists sort by them).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customer") as batch:
        batch.alter_column("last_name", existing_type=sa.String(100), nullable=True)
        batch.alter_column("first_name", existing_type=sa.String(100), nullable=True)
    customer = sa.table(
        "customer",
        sa.column("id", sa.Integer),
        sa.column("customer_type", sa.String),
        sa.column("last_name", sa.String),
        sa.column("first_name", sa.String),
        sa.column("middle_name", sa.String),
        sa.column("company_name", sa.String),
        sa.column("name_search", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(customer).where(customer.c.customer_type == "legal", customer.c.company_name.isnot(None))
    ).all()
    for row in rows:
        parts = [row.company_name, row.last_name, row.first_name, row.middle_name]
        key = "".join(" " + w for p in parts if p for w in p.lower().replace("ё", "е").split())
        bind.execute(sa.update(customer).where(customer.c.id == row.id).values(name_search=key))


def downgrade():
    with op.batch_alter_table("customer") as batch:
        batch.alter_column("last_name", existing_type=sa.String(100), nullable=False)
        batch.alter_column("first_name", existing_type=sa.String(100), nullable=False)
