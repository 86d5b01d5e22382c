"""indexes for the lists ordered newest first (notes, anamnesis)

The notes list and the anamnesis list open sorted by creation time; at a million
notes PostgreSQL sorted the whole table on every page view (300 ms). An index
on (created_on, id) serves ORDER BY created_on DESC, id DESC with LIMIT directly.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("note") as batch:
        batch.create_index("ix_note_created_on_id", ["created_on", "id"])
    with op.batch_alter_table("medical_record") as batch:
        batch.create_index("ix_medical_record_created_on_id", ["created_on", "id"])


def downgrade():
    with op.batch_alter_table("medical_record") as batch:
        batch.drop_index("ix_medical_record_created_on_id")
    with op.batch_alter_table("note") as batch:
        batch.drop_index("ix_note_created_on_id")
