"""personal-data access journal

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column(
            "action",
            sa.Enum("reveal", "export", name="access_action", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("field", sa.String(length=60), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_log") as batch:
        batch.create_index("ix_access_log_at", ["at"])
        batch.create_index("ix_access_log_user_id", ["user_id"])
        batch.create_index("ix_access_log_customer_id", ["customer_id"])


def downgrade():
    op.drop_table("access_log")
