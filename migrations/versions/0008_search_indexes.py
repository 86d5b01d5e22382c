"""trigram indexes for the customer search box (PostgreSQL)

The search box looks for a fragment anywhere in the phone, a word prefix in the
name key and a fragment of the e-mail: LIKE '%...%', which B-tree indexes cannot
serve. pg_trgm GIN indexes can. SQLite has no equivalent: there the search scans
the customer table (fine for the embedded default's sizes).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_customer_phone_trgm": "phone",
    "ix_customer_phone_extra_trgm": "phone_extra",
    "ix_customer_name_search_trgm": "name_search",
    "ix_customer_email_trgm": "email",
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON customer USING gin ({column} gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
