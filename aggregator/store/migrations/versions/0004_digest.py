"""the daily newsletter: subscribers, suppressions, digests, mail deliveries

Revision ID: 0004
Revises: 0003

Self-contained: four new tables, nothing else touched.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("entry_ids", sa.Text(), server_default="[]", nullable=False),
        sa.Column("stories", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("sent", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("day", name=op.f("uq_digests_day")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("filters", sa.Text(), server_default="{}", nullable=False),
        sa.Column("locale", sa.String(length=8), server_default="fr", nullable=False),
        sa.Column("state", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("consent_at", TS, nullable=False),
        sa.Column("confirm_sent_at", TS, nullable=True),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.Column("reconfirmed_at", TS, nullable=True),
        sa.Column("reconfirm_sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("address_key", name=op.f("uq_subscribers_address_key")),
    )
    op.create_index("ix_subscribers_state", "subscribers", ["state", "consent_at"], unique=False)
    op.create_table(
        "suppressions",
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.PrimaryKeyConstraint("address_key", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "mail_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt", TS, nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("data_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created", TS, nullable=False),
        sa.ForeignKeyConstraint(["digest_id"], ["digests.id"], name=op.f("fk_mail_deliveries_digest_id_digests"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name=op.f("fk_mail_deliveries_subscriber_id_subscribers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_deliveries")),
        sa.UniqueConstraint("digest_id", "recipient", name=op.f("uq_mail_deliveries_digest_id_recipient")),
    )
    op.create_index("ix_mail_deliveries_due", "mail_deliveries", ["state", "next_attempt"], unique=False)
    op.create_index("ix_mail_deliveries_sent", "mail_deliveries", ["sent_at"], unique=False)
    op.create_index("ix_mail_deliveries_subscriber", "mail_deliveries", ["subscriber_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mail_deliveries_subscriber", table_name="mail_deliveries")
    op.drop_index("ix_mail_deliveries_sent", table_name="mail_deliveries")
    op.drop_index("ix_mail_deliveries_due", table_name="mail_deliveries")
    op.drop_table("mail_deliveries")
    op.drop_table("suppressions")
    op.drop_index("ix_subscribers_state", table_name="subscribers")
    op.drop_table("subscribers")
    op.drop_table("digests")
