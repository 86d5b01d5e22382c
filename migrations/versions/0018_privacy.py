"""Personal data a clinic can defend (issue 19): files on the card, a complete access journal

- customer_file: a customer's uploaded files (the content under instance/files by a
  random name; the type is read from the content).
- access_log.user_agent: the journal says from which browser, beside the address;
  its action gains «card», «tab», «download», «api_read» (a VARCHAR, no constraint).
- consent_text: versioned texts of the consents to processing, the first version of
  each purpose written here; processing_consent: the ledger of consents (a row per
  decision: given or withdrawn, on which text, how, when, by whom).
- subject_request: a customer's request to hand over or destroy their data, with its
  deadline, progress, the export's ZIP and the erasure's act; kept after the erasure.

Revision ID: 0018
Revises: 0016
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

PURPOSE = sa.Enum(
    "treatment", "notifications", "marketing", "third_parties", name="consent_purpose", native_enum=False, length=32
)
METHOD = sa.Enum("paper", "screen", name="consent_method", native_enum=False, length=32)
TEXTS = {
    "treatment": "Я даю согласие на обработку моих персональных данных, включая сведения о "
    "состоянии здоровья, в целях оказания медицинских услуг (ст. 9, 10 Федерального закона № 152-ФЗ).",
    "notifications": "Я даю согласие на обработку моих контактных данных для направления "
    "уведомлений о записях, заказах и их изменениях по SMS, электронной почте и в мобильном приложении.",
    "marketing": "Я даю согласие на получение рекламных и информационных рассылок.",
    "third_parties": "Я даю согласие на передачу моих персональных данных третьим лицам "
    "(лабораториям, страховым компаниям) в целях оказания мне услуг.",
}

revision = "0018"
down_revision = "0017"
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
    texts = op.create_table(
        "consent_text",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", PURPOSE, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("created_by_fk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_fk"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("purpose", "version", name="uq_consent_text_version"),
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    op.bulk_insert(
        texts,
        [{"purpose": purpose, "version": 1, "text": text, "created_on": now} for purpose, text in TEXTS.items()],
    )
    op.create_table(
        "processing_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("purpose", PURPOSE, nullable=False),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column("text_id", sa.Integer(), nullable=False),
        sa.Column("method", METHOD, nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["text_id"], ["consent_text.id"]),
        sa.ForeignKeyConstraint(["file_id"], ["customer_file.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["employee_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("processing_consent") as batch:
        batch.create_index("ix_processing_consent_customer_id", ["customer_id"])
        batch.create_index("ix_processing_consent_at", ["at"])
    op.create_table(
        "subject_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Enum("export", "erasure", name="subject_request_kind", native_enum=False, length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum("queued", "running", "done", "failed", name="subject_request_status", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_fk", sa.Integer(), nullable=True),
        sa.Column("stored_name", sa.String(length=64), nullable=True),
        sa.Column("act", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_fk"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subject_request") as batch:
        batch.create_index("ix_subject_request_customer_id", ["customer_id"])


def downgrade():
    op.drop_table("subject_request")
    op.drop_table("processing_consent")
    op.drop_table("consent_text")
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("user_agent")
    op.drop_table("customer_file")
