"""Process-wide settings from the environment (prefix ``MCPFLEET_``), read once in ``main()``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """``MCPFLEET_CONFIG``, ``MCPFLEET_HOME``, ``MCPFLEET_LOG_LEVEL``, ``MCPFLEET_LOG_FORMAT``."""

    model_config = SettingsConfigDict(env_prefix="MCPFLEET_", extra="ignore")

    config: Path = Path("mcpfleet.yaml")
    home: Path | None = None
    log_level: str = "WARNING"
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: text on a terminal, else JSON lines
