"""What a customer's file is

- customer_file.category: «Документ, удостоверяющий личность», «Медицинский документ»,
  «Согласие» or «Прочее». An identity document is passport data: a role that may not
  read the passport's number neither sees nor downloads it (app/access.py). A file
  stored before this version is of unknown kind; it may be a passport scan (the front
  desk uploaded them to «Файлы»), so it starts as an identity document: no role sees
  it that could not read the passport, and the manager, who reads both, sorts it.
  A scan that a consent of the ledger points at is that consent.

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

CATEGORY = sa.Enum(
    "identity", "medical", "consent", "other", name="file_category", native_enum=False, length=32
)


def upgrade():
    with op.batch_alter_table("customer_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", CATEGORY, nullable=True))
    op.execute("UPDATE customer_file SET category = 'identity'")
    # a scan a consent of the ledger points at is that consent
    op.execute(
        "UPDATE customer_file SET category = 'consent' "
        "WHERE id IN (SELECT file_id FROM processing_consent WHERE file_id IS NOT NULL)"
    )
    with op.batch_alter_table("customer_file", schema=None) as batch_op:
        batch_op.alter_column("category", existing_type=CATEGORY, nullable=False)


def downgrade():
    with op.batch_alter_table("customer_file", schema=None) as batch_op:
        batch_op.drop_column("category")
