"""Personal data a clinic can defend (issue 19): files on the card, a complete access journal

- customer_file: a customer's uploaded files (the content under instance/files by a
  random name; the type is read from the content).
- access_log.user_agent: the journal says from which browser, beside the address;
  its action gains «card», «tab», «download», «api_read» (a VARCHAR, no constraint).

Revision ID: 0018
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customer_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("changed_on", sa.DateTime(), nullable=False),
        sa.Column("created_by_fk", sa.Integer(), nullable=True),
        sa.Column("changed_by_fk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_fk"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["changed_by_fk"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stored_name"),
    )
    with op.batch_alter_table("customer_file") as batch:
        batch.create_index("ix_customer_file_customer_id", ["customer_id"])
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("user_agent", sa.String(length=300), nullable=True))


def downgrade():
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("user_agent")
    op.drop_table("customer_file")
