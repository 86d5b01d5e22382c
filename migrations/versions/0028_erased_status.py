"""An erased customer's status reads «Данные уничтожены»

The erasure (152-FZ, app/subjects.py) blanked the customer's row but left its status:
the card, the customers list, its status filter and the API went on saying «Активен»
of a customer whose data were destroyed. The erasure now writes the status «erased»
(the column is a VARCHAR(32) without a check: no schema change); customers erased
before are given it here.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade():
    customer = sa.table("customer", sa.column("id", sa.Integer), sa.column("status", sa.String))
    request = sa.table(
        "subject_request",
        sa.column("customer_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("status", sa.String),
    )
    done = sa.select(request.c.customer_id).where(
        request.c.kind == "erasure", request.c.status == "done", request.c.customer_id.isnot(None)
    )
    op.get_bind().execute(sa.update(customer).where(customer.c.id.in_(done)).values(status="erased"))


def downgrade():
    # the remainders were «Активен» before (their earlier status is not known)
    customer = sa.table("customer", sa.column("status", sa.String))
    op.get_bind().execute(sa.update(customer).where(customer.c.status == "erased").values(status="active"))
