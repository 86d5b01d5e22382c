"""Delivery that keeps going: deadlines, attempts, a stable delivery key, paused channels

- message.expires_at: a message is retried until its deadline (a reminder until its
  visit, a confirmation for a day…), then «Просрочено», instead of failing after four
  tries; rows waiting when this runs get the deadline their type has from now on.
- message.delivery_key: the Idempotency-Key and the e-mail's Message-ID, one per row
  for good (ids are reused after a restore); existing rows keep «message-<id>», the key
  the gateways already saw for them.
- message.after_crash: handed out again after its worker died mid-send.
- message_attempt: a row per attempt (when, which worker, the provider's answer).
- channel_pause: channels an administrator paused; service_beat: the sweeper's last round.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

CHANNEL = sa.Enum("sms", "email", "push", name="channel", native_enum=False, length=32)
OUTCOME = sa.Enum(
    "sent",
    "retry",
    "failed",
    "cancelled",
    "expired",
    "interrupted",
    "superseded",
    name="attempt_outcome",
    native_enum=False,
    length=32,
)


def upgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("delivery_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("after_crash", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE message SET delivery_key = 'message-' || id")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.alter_column("delivery_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_message_delivery_key"), ["delivery_key"])
    _deadlines_for_waiting_messages()

    op.create_table(
        "message_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("outcome", OUTCOME, nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("provider_answer", sa.String(length=1000), nullable=True),
        sa.Column("provider_id", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "number", name="uq_message_attempt_number"),
    )
    with op.batch_alter_table("message_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_attempt_message_id"), ["message_id"], unique=False)
    op.create_table(
        "channel_pause",
        sa.Column("channel", CHANNEL, nullable=False),
        sa.Column("paused_at", sa.DateTime(), nullable=False),
        sa.Column("paused_by_fk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["paused_by_fk"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.create_table(
        "service_beat",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def _deadlines_for_waiting_messages():
    """Messages still waiting get the deadline of their type (a reminder: its visit)."""
    from app.notifications import deadline

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT m.id, m.message_type, m.send_after, o.visit_at FROM message m "
            "LEFT JOIN customer_order o ON o.id = m.order_id WHERE m.status IN ('queued', 'sending')"
        ).columns(send_after=sa.DateTime(), visit_at=sa.DateTime())
    ).all()
    for message_id, message_type, send_after, visit_at in rows:
        bind.execute(
            sa.text("UPDATE message SET expires_at = :at WHERE id = :id"),
            {"at": deadline(message_type, send_after, visit_at), "id": message_id},
        )


def downgrade():
    op.drop_table("service_beat")
    op.drop_table("channel_pause")
    with op.batch_alter_table("message_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_attempt_message_id"))
    op.drop_table("message_attempt")
    op.execute("UPDATE message SET status = 'failed' WHERE status = 'expired'")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_message_delivery_key"), type_="unique")
        batch_op.drop_column("after_crash")
        batch_op.drop_column("delivery_key")
        batch_op.drop_column("expires_at")
