"""«ё» searched as «е»: fold the stored name keys

People type «Елкина» for «Ёлкина». The search box folds «ё» into «е» in what
is typed and in the stored key (customers.name_search_key); keys written
before keep their «ё» until rewritten here.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE customer SET name_search = replace(name_search, 'ё', 'е') WHERE name_search LIKE '%ё%'")


def downgrade():
    pass  # the folded key finds what the old one found, and «е» cannot be told from a folded «ё»
