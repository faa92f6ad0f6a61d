"""Installing servers: npm, PyPI (uv), container images, plain commands and remote URLs."""

from __future__ import annotations

from mcpfleet.install.base import BaseInstaller, LaunchSpec
from mcpfleet.install.batch import (
    BatchResult,
    InstallOutcome,
    InstallStrategy,
    install_many,
    installer_for,
    uninstall,
)
from mcpfleet.install.lock import InstallLock, LockRecord

__all__ = [
    "BaseInstaller",
    "BatchResult",
    "InstallLock",
    "InstallOutcome",
    "InstallStrategy",
    "LaunchSpec",
    "LockRecord",
    "install_many",
    "installer_for",
    "uninstall",
]
