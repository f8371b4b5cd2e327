"""Helpers shared by CLI commands: settings, config and a migrated database engine."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import Engine

from imagegate.config.file import ConfigError, GatewayConfig, load_config
from imagegate.config.settings import Settings
from imagegate.domain.durations import parse_span
from imagegate.store.database import make_engine
from imagegate.store.migrate import upgrade_database

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


# The directory ``imagegate demo`` keeps its data in, relative to where it runs (docs/demo.md).
LOCAL_DIR_NAME = ".imagegate"
LOCAL_CONFIG_NAME = "imagegate.yaml"


def local_dir(cwd: Path | None = None) -> Path:
    """``./.imagegate``: the demo's data directory in ``cwd`` (default: the current directory)."""
    return (Path.cwd() if cwd is None else cwd) / LOCAL_DIR_NAME


def settings_from_env() -> Settings:
    """Settings from ``IMAGEGATE_*``; a ``./.imagegate/`` directory (the demo's) fills in what they leave unset.

    When neither ``IMAGEGATE_DATA_DIR`` nor ``IMAGEGATE_DATABASE_URL`` is set and the current
    directory holds ``.imagegate/``, that directory is the data directory, and its
    ``imagegate.yaml`` the config unless ``IMAGEGATE_CONFIG`` is set. So ``imagegate usage``,
    ``routes``, ``smoke`` and ``report`` run next to ``imagegate demo`` see the demo's data.
    """
    directory = local_dir()
    if not directory.is_dir():
        return Settings()
    overrides: dict[str, Path] = {}
    if _unset("IMAGEGATE_DATA_DIR") and _unset("IMAGEGATE_DATABASE_URL"):
        overrides["data_dir"] = directory
    config = directory / LOCAL_CONFIG_NAME
    if _unset("IMAGEGATE_CONFIG") and config.is_file():
        overrides["config"] = config
    return Settings(**overrides)  # type: ignore[arg-type]


def _unset(name: str) -> bool:
    return os.environ.get(name, "") == ""


def config_from(path: Path | None, settings: Settings) -> GatewayConfig:
    """The config file from ``--config`` or ``IMAGEGATE_CONFIG``; empty config when neither."""
    chosen = path if path is not None else settings.config
    if chosen is None:
        return GatewayConfig()
    try:
        return load_config(chosen)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def migrated_engine(settings: Settings) -> Engine:
    """An engine on the configured database, migrated to head."""
    engine = make_engine(settings.resolved_database_url())
    upgrade_database(engine)
    return engine


def parse_since(value: str | None, now: datetime | None = None, *, option: str = "--since") -> datetime | None:
    """``--since`` (or ``option``): an ISO-8601 time (UTC when naive) or a span ago like ``30m``, ``2h``, ``7d``."""
    if value is None:
        return None
    current = now if now is not None else datetime.now(UTC)
    relative = parse_span(value)
    if relative is not None:
        return current - relative
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r}: expected an ISO time (2026-11-21T10:00) or a span (30m, 2h, 7d)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
