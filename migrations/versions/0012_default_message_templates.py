"""The default message texts as template rows, so that an administrator sees them

The «Шаблоны уведомлений» screen was empty: messages went out with texts kept
in the code (app.notifications.DEFAULT_TEMPLATES), which nobody could read or
change without adding a template by hand. Every message type on every channel
now has a row with its default text; rows an administrator added stay as they are.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    from app.notifications import install_default_templates

    install_default_templates(op.get_bind())


def downgrade():
    pass  # rows equal to the defaults send what the code would send without them
