"""sources suggested by readers, waiting for the operator

Revision ID: 0006
Revises: 0005

Self-contained: one new table, nothing else touched.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_key", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("feed_url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=20), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("decided", TS, nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
        sa.UniqueConstraint("url_key", name=op.f("uq_suggestions_url_key")),
    )
    op.create_index("ix_suggestions_state", "suggestions", ["state", "created"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_suggestions_state", table_name="suggestions")
    op.drop_table("suggestions")
