"""The checkpoint key (a file made once, or a configured secret) and what a checkpoint's signature covers."""

from __future__ import annotations

import stat
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mcpfleet.audit import Checkpoint, CheckpointKey
from mcpfleet.audit.checkpoint import KEY_FILE, load_key
from mcpfleet.config import parse_config
from mcpfleet.exceptions import AuditError, ConfigError, SecretError

pytestmark = pytest.mark.timeout(10)
KEY = CheckpointKey.from_secret("0123456789abcdef0123456789abcdef")


def test_the_key_file_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    config = parse_config(f"home: {tmp_path / 'home'}\nservers: {{}}")
    assert load_key(config) is None  # verifying never makes a key
    assert not (tmp_path / "home" / KEY_FILE).exists()
    keys: list[CheckpointKey | None] = []
    racers = [threading.Thread(target=lambda: keys.append(load_key(config, create=True))) for _ in range(8)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    path = tmp_path / "home" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len({k.key_id for k in keys if k is not None}) == 1 and len(keys) == 8  # every racer, one key
    assert load_key(config) == keys[0] and path.read_text().strip() not in repr(keys[0])
    assert sorted(p.name for p in path.parent.iterdir()) == [KEY_FILE]  # no drafts left behind
    path.chmod(0o644)
    with pytest.raises(AuditError, match=r"can be read by other users \(mode 644\); run `chmod 600"):
        load_key(config)


def test_a_configured_key_comes_from_the_environment(tmp_path: Path) -> None:
    config = parse_config(f"home: {tmp_path}\nservers: {{}}\naudit: {{checkpoint_key: '${{AUDIT_KEY}}'}}")
    key = load_key(config, {"AUDIT_KEY": "a long enough secret value"}, create=True)
    assert key is not None and key.source == "audit.checkpoint_key"
    assert key.key_id == CheckpointKey.from_secret("a long enough secret value").key_id
    assert not (tmp_path / KEY_FILE).exists()
    with pytest.raises(SecretError, match=r"audit.checkpoint_key: \$\{AUDIT_KEY\} is not set"):
        load_key(config, {})
    with pytest.raises(AuditError, match="at least 16 random characters"):
        load_key(config, {"AUDIT_KEY": "short"})


def test_the_signature_covers_every_field() -> None:
    mark = Checkpoint.sign("host-1-a", seq=41, hash="ab" * 32, time=datetime(2025, 3, 1, tzinfo=UTC), key=KEY)
    assert mark.pruned == 42 and mark.problem(KEY) is None
    assert Checkpoint.from_dict(mark.to_dict()) == mark
    for change in ({"seq": 42}, {"hash": "cd" * 32}, {"chain": "host-2-b"}, {"time": datetime.now(UTC)}):
        assert "signature does not match" in (replace(mark, **change).problem(KEY) or "")
    claims = replace(mark, pruned=7)  # signed by the key's holder, but not what a prune writes
    assert "it claims 7 pruned records up to seq 41" in (
        replace(claims, signature=KEY.sign(claims.payload())).problem(KEY) or ""
    )
    with pytest.raises(ValueError, match="exactly the fields"):
        Checkpoint.from_dict({"chain": "x"})


def test_retention_settings_in_the_fleet_file() -> None:
    audit = parse_config("servers: {}").audit
    assert (audit.retention_days, audit.max_size_mb, audit.prune_every, audit.prune_interval) == (
        90, None, "1h", 3600.0,
    )  # fmt: skip
    audit = parse_config("audit: {retention_days: null, max_size_mb: 250, prune_every: null}").audit
    assert (audit.retention_days, audit.max_size_mb, audit.prune_interval) == (None, 250, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audit: {retention_days: 0}", "audit.retention_days (line 1): Input should be greater than 0"),
        ("audit: {max_size_mb: -5}", "audit.max_size_mb (line 1): Input should be greater than 0"),
        ("audit: {prune_every: hourly}", "'hourly' is not a duration; write a positive number and a unit"),
        ("audit: {prune_batch_size: 0}", "audit.prune_batch_size"),
        ("audit: {checkpoint_key: hunter2hunter2hunter2}", "not the key itself"),
        ("audit: {retention: 30}", "audit.retention (line 1): Extra inputs are not permitted"),
    ],
)
def test_retention_mistakes_are_reported(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in str(caught.value)
