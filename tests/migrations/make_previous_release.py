"""Writes ``previous_release.db`` (and ``previous_release.json``) with the code of the previous release.

The fixture is a fleet database as release e38de9b left it: API keys made by its ApiKeyStore, and
audit records sealed by its AuditLogger into SQLite, one chain pruned behind a signed checkpoint.
Run it with the old source on the path, from the repository root:

    git archive e38de9b src | tar -x -C /tmp/e38
    PYTHONPATH=/tmp/e38/src .venv/bin/python tests/migrations/make_previous_release.py

``previous_release.json`` holds what the tests check afterwards: the keys themselves (test keys,
made here and used nowhere else), the checkpoint secret, and the counts.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mcpfleet
from mcpfleet.audit import AuditLogger, SqliteAuditStore
from mcpfleet.audit.checkpoint import CheckpointKey
from mcpfleet.audit.retention import RetentionPolicy
from mcpfleet.database import Database
from mcpfleet.security.keys import ApiKeyStore

HERE = Path(__file__).parent
SECRET = "previous-release-checkpoint-secret-0123456789"


def main() -> None:
    if "/tmp/e38" not in mcpfleet.__file__:
        sys.exit(f"run this with the previous release on PYTHONPATH, not {mcpfleet.__file__}")
    target = HERE / "previous_release.db"
    target.unlink(missing_ok=True)
    database = Database(f"sqlite:///{target}")
    keys = ApiKeyStore(database)
    made = {}
    for name, role, expires in [("ci-bot", "developer", None), ("ops", "admin", timedelta(days=3650))]:
        key, _ = keys.create(name, role, expires_in=expires)
        made[name] = key
    revoked, info = keys.create("old-bot", "viewer")
    keys.revoke(info.id)
    made["old-bot"] = revoked

    signing = CheckpointKey.from_secret(SECRET)
    store = SqliteAuditStore(database)
    with AuditLogger(store=SqliteAuditStore(database)) as first:
        for i in range(10):
            first.record(server="files", tool="read", params={"path": f"/data/{i}"}, user="ci-bot")
    # Everything so far is older than a day "from now": pruned, leaving a signed checkpoint.
    later = datetime.now(UTC) + timedelta(days=2)
    pruned = AuditLogger(store=store).prune(RetentionPolicy(max_age=timedelta(days=1)), signing, now=later)
    with AuditLogger(store=SqliteAuditStore(database)) as second:
        for i in range(12):
            outcome = "success" if i % 4 else "error"
            second.record(
                server="git",
                tool="log",
                params={"n": i, "token": "hunter2"},
                outcome=outcome,
                error=None if i % 4 else "boom",
                latency_ms=1.5 * i,
                user="ops",
                role="admin",
            )
    database.dispose()
    facts = {
        "release": "e38de9b",
        "keys": made,
        "revoked": ["old-bot"],
        "checkpoint_secret": SECRET,
        "records": 12,
        "pruned": pruned.pruned,
    }
    (HERE / "previous_release.json").write_text(json.dumps(facts, indent=2) + "\n")
    print(f"wrote {target} ({target.stat().st_size} bytes): {facts['records']} records, {pruned}")


if __name__ == "__main__":
    main()
