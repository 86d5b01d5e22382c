"""A bonus accrual's comment says its percentage as typed

Accruals wrote «%(percent)s%% от оплаты» with ``Decimal.normalize()``, which writes a
whole multiple of ten in exponent notation: a 10 % category's accruals read «1E+1% от
оплаты» on the card's «Счета» tab and in its CSV. The comment is now written through
``formatting.percent`` («10 % от оплаты»); comments written before are rewritten here.

Revision ID: 0027
Revises: 0026
"""

import re
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

EXPONENT = re.compile(r"(\d+(?:\.\d+)?E\+\d+)%")


def upgrade():
    operation = sa.table("account_operation", sa.column("id", sa.Integer), sa.column("comment", sa.String))
    bind = op.get_bind()
    found = sa.select(operation.c.id, operation.c.comment).where(operation.c.comment.contains("E+", autoescape=True))
    for row in bind.execute(found).all():
        comment = EXPONENT.sub(lambda m: f"{Decimal(m[1]):f}\u00a0%", row.comment)
        if comment != row.comment:
            bind.execute(sa.update(operation).where(operation.c.id == row.id).values(comment=comment))


def downgrade():
    pass  # «10 %» reads as «1E+1%» did
