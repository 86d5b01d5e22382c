"""A moved visit is told to its customer

- message_template: «Перенос визита» on every channel. A visit moved to another time
  was told to nobody: the old reminder was cancelled, and the customer learnt the new
  time from the next reminder, a day before it, or not at all when the move was within
  that day. The text is the administrator's to change, as every other.

Revision ID: 0034
Revises: 0033
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade():
    from app.notifications import install_default_templates

    install_default_templates(op.get_bind())


def downgrade():
    op.execute("DELETE FROM message_template WHERE message_type = 'visit_moved'")
