"""An organisation is found by its name without the quotes

A legal entity's name is written with quotes (ООО «Ромашка», ООО "Ромашка"), and the
stored name key kept them on the word (« «ромашка»»): «Ромашка» typed into the search
box found nothing. The key (customers.name_search_key) now leaves the quotes out, as
the search leaves out what is typed; keys written before are rewritten here from
themselves (they are the folded words already).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

QUOTES = "«»\"„“”"


def upgrade():
    customer = sa.table("customer", sa.column("id", sa.Integer), sa.column("name_search", sa.String))
    bind = op.get_bind()
    quoted = sa.or_(*[customer.c.name_search.contains(q, autoescape=True) for q in QUOTES])
    drop = str.maketrans(dict.fromkeys(QUOTES, " "))
    for row in bind.execute(sa.select(customer.c.id, customer.c.name_search).where(quoted)).all():
        key = "".join(" " + word for word in row.name_search.translate(drop).split())
        bind.execute(sa.update(customer).where(customer.c.id == row.id).values(name_search=key))


def downgrade():
    pass  # the key without quotes finds what the old one found
