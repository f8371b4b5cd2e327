"""The gateway's YAML configuration: models, their routes, limits and catalog overrides.

Strings may reference the environment as ``${NAME}`` or ``${NAME:-default}`` (``$${`` escapes);
a reference to an unset variable without a default is an error naming the variable, so a
missing secret is caught at startup rather than sent to a provider as an empty key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imagegate.providers.outbound import parse_cidrs

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message says where."""


class RouteConfig(BaseModel):
    """One provider deployment of a model."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str
    base_url: str
    api_key: str = Field(default="", repr=False)
    name: str | None = None
    timeout: float = Field(default=300.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)
    # Once the catalog says the model is shut down: refuse (naming the replacement), call the
    # replacement instead, or keep calling the model (the operator still has access to it).
    # None: the model alias's choice, else refuse.
    after_shutdown: Literal["refuse", "replace", "keep"] | None = None
    # Routing: the weight under the ``weighted`` policy, and whether the route is used at all.
    weight: float = Field(default=1.0, ge=0)
    enabled: bool = True

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class RetryConfig(BaseModel):
    """Retries of one route before falling back to the next."""

    model_config = ConfigDict(extra="forbid")

    max_attempts_per_route: int = Field(default=2, ge=1, le=10)
    base_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=20.0, ge=0)
    # Moderation blocks never fall back unless the operator allows it (another provider may judge differently).
    fallback_on_moderation: bool = False


class ModelConfig(BaseModel):
    """A model alias clients send as ``model``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    routes: list[RouteConfig] = Field(min_length=1)
    # Default ``after_shutdown`` for the routes that do not set their own.
    after_shutdown: Literal["refuse", "replace", "keep"] | None = None
    policy: Literal["priority", "weighted", "cheapest", "fastest"] = "priority"
    # The whole request, retries and fallbacks included: image calls take minutes.
    deadline: float = Field(default=600.0, gt=0)
    retry: RetryConfig = Field(default_factory=lambda: RetryConfig())
    # Serve Responses API requests whose only purpose is one image from this (image-only) alias's
    # Images routes, answering a Responses object built from the result (docs/responses.md).
    responses_emulation: bool = False


class LimitsConfig(BaseModel):
    """Request limits enforced before anything reaches a provider."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    max_image_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_images: int = Field(default=16, gt=0)
    # Hosts a Responses API ``input_image`` may reference by URL (never a private address).
    input_image_hosts: list[str] = Field(default_factory=list)


class BreakerSettings(BaseModel):
    """Circuit-breaker thresholds, the same for every route."""

    model_config = ConfigDict(extra="forbid")

    consecutive_failures: int = Field(default=5, ge=1)
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=10, ge=1)
    window: float = Field(default=60.0, gt=0)
    cooldown: float = Field(default=30.0, gt=0)
    # Concurrent trial calls a half-open route admits (the rest get 503 + Retry-After meanwhile).
    half_open_probes: int = Field(default=2, ge=1)


class StorageConfig(BaseModel):
    """How long stored images (URL responses) live, in seconds: globally and per team name."""

    model_config = ConfigDict(extra="forbid")

    retention: float = Field(default=24 * 3600.0, gt=0)
    teams: dict[str, float] = Field(default_factory=dict)

    @field_validator("teams")
    @classmethod
    def _positive(cls, teams: dict[str, float]) -> dict[str, float]:
        for team, seconds in teams.items():
            if seconds <= 0:
                raise ValueError(f"team {team!r}: retention must be positive seconds")
        return teams


class WebhooksConfig(BaseModel):
    """Webhook delivery: networks a receiver may be in although not public (``127.0.0.0/8`` for a local one)."""

    model_config = ConfigDict(extra="forbid")

    allow_cidrs: list[str] = Field(default_factory=list)

    @field_validator("allow_cidrs")
    @classmethod
    def _valid_cidrs(cls, cidrs: list[str]) -> list[str]:
        parse_cidrs(cidrs)
        return cidrs


class GatewayConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelConfig] = Field(default_factory=list)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    catalog: list[dict[str, Any]] = Field(default_factory=list)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        seen: set[str] = set()
        for model in models:
            if model.name in seen:
                raise ValueError(f"model name {model.name!r} appears twice")
            seen.add(model.name)
        return models


def interpolate(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a parsed YAML document."""
    if isinstance(value, dict):
        return {key: interpolate(item, env, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set (use ${{{name}:-default}} for a default)")

    return _REFERENCE.sub(substitute, value)


def parse_config(document: Any, env: Mapping[str, str] | None = None, *, source: str = "config") -> GatewayConfig:
    """Validate an already-parsed YAML document."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    resolved = interpolate(document, os.environ if env is None else env)
    try:
        return GatewayConfig.model_validate(resolved)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None


def load_config(path: Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate a YAML configuration file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(document, env, source=str(path))
