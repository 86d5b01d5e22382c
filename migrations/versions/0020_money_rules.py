"""The customer's money, second part (issue 18): the discount rule, deposit transfers

- money_rules: the clinic's money rules, one row; its discount rule says how the
  customer's and the category's «Скидка, %» make an item's discount (the larger of
  the two, as before; their sum; the category's only; the customer's only).
- account_operation.linked_id: a transfer from one customer's deposit to another's
  is two operations (its kinds «transfer_out», «transfer_in» are new values of a
  VARCHAR, no constraint), each naming the other.

Revision ID: 0020
Revises: 0018 (the lead chains it after 0019 at the merge)
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

RULE = sa.Enum("larger", "sum", "category", "customer", name="discount_rule", native_enum=False, length=32)


def upgrade():
    op.create_table(
        "money_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discount_rule", RULE, nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("changed_on", sa.DateTime(), nullable=False),
        sa.Column("created_by_fk", sa.Integer(), nullable=True),
        sa.Column("changed_by_fk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_fk"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["changed_by_fk"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    op.get_bind().execute(
        sa.text(
            "INSERT INTO money_rules (id, discount_rule, created_on, changed_on) VALUES (1, 'larger', :now, :now)"
        ),
        {"now": now},
    )
    with op.batch_alter_table("account_operation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("linked_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_account_operation_linked_id", "account_operation", ["linked_id"], ["id"], ondelete="SET NULL"
        )


def downgrade():
    # the balances stay the sum of their operations: a transfer becomes what the older
    # version knows, a write-off from one account and a top-up of the other
    op.execute("UPDATE account_operation SET kind = 'write_off' WHERE kind = 'transfer_out'")
    op.execute("UPDATE account_operation SET kind = 'top_up' WHERE kind = 'transfer_in'")
    with op.batch_alter_table("account_operation", schema=None) as batch_op:
        batch_op.drop_constraint("fk_account_operation_linked_id", type_="foreignkey")
        batch_op.drop_column("linked_id")
    op.drop_table("money_rules")
