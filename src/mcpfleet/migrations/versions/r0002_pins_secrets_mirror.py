"""Tool-definition pins, per-principal secrets and the registry mirror

Revision 0002: the tables added after the release before migrations (``security/pins.py``,
``security/user_secrets.py``, ``catalog/mirror.py``). Their stores made them with ``create_all``
before this revision existed; such tables are kept (see ``mcpfleet.migrations.ops``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcpfleet.migrations.ops import create_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "tool_pins",
        sa.Column("server", sa.String(128), primary_key=True),
        sa.Column("tool", sa.String(256), primary_key=True),
        sa.Column("state", sa.String(16), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    create_table(
        "tool_pin_servers",
        sa.Column("server", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_table(
        "user_secrets",
        sa.Column("principal", sa.String(256), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_table(
        "catalog_mirror",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.String(255), primary_key=True),
        sa.Column("is_latest", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("published_at", sa.String(32)),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("server_json", sa.Text, nullable=False),
        sa.Column("meta_json", sa.Text, nullable=False),
        sa.Column("sync_id", sa.Integer, nullable=False),
        sa.Index("ix_catalog_mirror_latest", "is_latest", "status", "name"),
        sa.Index("ix_catalog_mirror_updated", "updated_at"),
    )
    create_table(
        "catalog_mirror_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("synced_at", sa.String(32), nullable=False),
        sa.Column("full_sync_at", sa.String(32), nullable=False),
        sa.Column("watermark", sa.String(32)),
        sa.Column("sync_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for name in ("catalog_mirror_state", "catalog_mirror", "user_secrets", "tool_pin_servers", "tool_pins"):
        op.drop_table(name)
