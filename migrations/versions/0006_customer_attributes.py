"""extra customer fields per customer type

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customer_attribute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "customer_type",
            sa.Enum("individual", "legal", "sole", name="customer_type", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=150), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("text", "number", "date", name="attribute_kind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("changed_on", sa.DateTime(), nullable=False),
        sa.Column("created_by_fk", sa.Integer(), nullable=True),
        sa.Column("changed_by_fk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_fk"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["changed_by_fk"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customer_attribute") as batch:
        batch.create_index("ix_customer_attribute_customer_type", ["customer_type"])
    op.create_table(
        "customer_attribute_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["attribute_id"], ["customer_attribute.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "attribute_id", name="uq_customer_attribute_value"),
    )
    with op.batch_alter_table("customer_attribute_value") as batch:
        batch.create_index("ix_customer_attribute_value_customer_id", ["customer_id"])


def downgrade():
    op.drop_table("customer_attribute_value")
    op.drop_table("customer_attribute")
