"""The schema of the release before migrations: API keys, audit records and audit checkpoints

Revision 0001. These are the tables exactly as that release made them (with ``create_all``), so
a database it wrote is recognised by them and kept as it is (see ``mcpfleet.migrations.ops``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcpfleet.migrations.ops import create_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TEXT_FIELDS = ("server", "tool", "user", "role", "client", "request_id")


def upgrade() -> None:
    create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Index("ix_api_keys_name", "name"),
    )
    create_table(
        "audit_records",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("chain", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(field, sa.String(255)) for field in _TEXT_FIELDS),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("latency_ms", sa.Float),
        sa.Column("params", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("chain", "seq", name="audit_records_chain_seq"),
        sa.Index("audit_records_time", "time"),
        sa.Index("audit_records_server_time", "server", "time"),
        sa.Index("audit_records_user_time", "user", "time"),
    )
    create_table(
        "audit_checkpoints",
        sa.Column("chain", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("pruned", sa.BigInteger, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for name in ("audit_checkpoints", "audit_records", "api_keys"):
        op.drop_table(name)
