"""Key administration shared by the CLI and the admin API: create (shown once), list, show, update,
rotate (with a grace period for the old secret), revoke.

A key may belong to a team, carries a role (``client``, ``admin-read``, ``admin``), the models it
may use (aliases or glob patterns such as ``gpt-image-*``), the dialects or endpoints it may call
(``openai-images``, ``gemini``, ``imagen``, or one operation: ``openai-images:edit``), an expiry,
tags copied onto its ledger rows, its own limits and alert thresholds.

Every setting is checked here, once, for every front end (CLI, admin API, console): an unknown
team, a role that does not exist, a model this gateway does not serve (when it was told which it
serves), a bad limit. ``KeyAdmin.check`` runs the same checks without storing anything, for the
console's confirmation step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from imagegate.accounting.auth import admits, is_pattern
from imagegate.accounting.keys import generate_key
from imagegate.accounting.ports import ROLES, ApiKeyRecord, KeyAdminStore, Role, TeamStore
from imagegate.domain.errors import InvalidRequest
from imagegate.domain.limits import Limits
from imagegate.service.limit_changes import (
    UNCHANGED,
    Unchanged,
    apply_limit_changes,
    limits_view,
    thresholds_change,
    thresholds_view,
)
from imagegate.service.teams import TeamNotFound

log = logging.getLogger("imagegate.governance")

DIALECTS = ("openai-images", "gemini", "imagen")
OPERATIONS = ("generate", "edit")


class KeyNotFound(InvalidRequest):
    """No key (or no active key, for rotation and revocation) has that name."""

    code = "key_not_found"


class UnknownModel(InvalidRequest):
    """A key's allowed models name an alias this gateway does not serve, or a pattern matching none."""

    code = "unknown_model"


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new (or rotated) key: ``secret`` is returned to the caller once and never stored."""

    record: ApiKeyRecord
    secret: str


@dataclass(frozen=True, slots=True)
class KeySettings:
    """What an operator sets on a key; every field left ``UNCHANGED`` keeps its value on update.

    ``limits`` holds operator names to raw values (``service.limit_changes``); ``team`` is a name
    (None: no team).
    """

    team: str | Unchanged | None = UNCHANGED
    models: Sequence[str] | Unchanged | None = UNCHANGED
    role: str | Unchanged = UNCHANGED
    expires_at: datetime | Unchanged | None = UNCHANGED
    dialects: Sequence[str] | Unchanged | None = UNCHANGED
    tags: Mapping[str, str] | Unchanged | None = UNCHANGED
    limits: Mapping[str, Any] = field(default_factory=dict)
    alert_thresholds: Sequence[Any] | str | Unchanged | None = UNCHANGED


class KeyAdmin:
    """Operations on virtual keys; raises ``DuplicateKeyName``, ``KeyNotFound``, ``TeamNotFound``,
    ``UnknownModel`` or ``InvalidRequest`` (naming the field) for a bad setting.

    ``served_models`` gives the aliases the gateway serves: a key's models must name one of them
    or be a pattern matching at least one. None (the CLI, which has no route table): not checked.
    """

    def __init__(
        self,
        store: KeyAdminStore,
        teams: TeamStore,
        *,
        served_models: Callable[[], Collection[str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._teams = teams
        self._served_models = served_models
        self._clock = clock

    def create(self, name: str, settings: KeySettings | None = None) -> CreatedKey:
        """Generate and store a key; only its hash is kept."""
        if name.strip() == "":
            raise InvalidRequest("a key needs a name", param="name")
        chosen = settings if settings is not None else KeySettings()
        columns = self._columns(chosen, Limits())
        new = generate_key()
        record = self._store.create_key(
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
            models=columns.pop("models", None),
            expires_at=columns.pop("expires_at", None),
            team_id=columns.pop("team_id", None),
            role=columns.pop("role", "client"),
            limits=columns.pop("limits"),
            tags=columns.pop("tags", None),
            allowed_dialects=columns.pop("allowed_dialects", None),
        )
        if columns:  # alert thresholds: not a creation argument of the store
            updated = self._store.update_key(name, **columns)
            record = updated if updated is not None else record
        log.info("key created: %s (prefix %s, role %s, team id %s)", name, record.prefix, record.role, record.team_id)
        return CreatedKey(record=record, secret=new.secret)

    def list(self, team: str | None = None) -> list[ApiKeyRecord]:
        """Every key (or one team's), oldest first."""
        records = self._store.list_keys()
        if team is None:
            return records
        team_id = self.team_id(team)
        return [record for record in records if record.team_id == team_id]

    def show(self, name: str) -> ApiKeyRecord:
        """The named key, revoked or not."""
        record = self._store.key_by_name(name)
        if record is None:
            raise KeyNotFound(f"no key named '{name}'", param="name")
        return record

    def check(self, settings: KeySettings) -> None:
        """Raise what ``create`` or ``update`` would raise for ``settings``; store nothing."""
        self._columns(settings, Limits())

    def update(self, name: str, settings: KeySettings) -> ApiKeyRecord:
        """Change what ``settings`` gives; the secret stays the same."""
        current = self.show(name)
        columns = self._columns(settings, current.limits)
        if "alert_thresholds" in columns and columns["alert_thresholds"] == ():
            columns["alert_thresholds"] = None
        updated = self._store.update_key(name, **columns)
        if updated is None:
            raise KeyNotFound(f"no key named '{name}'", param="name")
        log.info("key updated: %s (%s)", name, ", ".join(sorted(columns)))
        return updated

    def rotate(self, name: str, grace: timedelta) -> CreatedKey:
        """A new secret for the named active key; the old one keeps working for ``grace``."""
        if grace < timedelta(0):
            raise InvalidRequest("the grace period cannot be negative", param="grace")
        new = generate_key()
        record = self._store.rotate_key(
            name, prefix=new.prefix, key_hash=new.key_hash, previous_valid_until=self._clock() + grace
        )
        if record is None:
            raise KeyNotFound(f"no active key named '{name}'", param="name")
        log.info(
            "key rotated: %s (new prefix %s, old secret valid until %s)", name, new.prefix, record.previous_valid_until
        )
        return CreatedKey(record=record, secret=new.secret)

    def revoke(self, name: str) -> None:
        """Revoke the named active key (its previous secret, in a rotation's grace, stops too)."""
        if not self._store.revoke_key(name, self._clock()):
            raise KeyNotFound(f"no active key named '{name}'", param="name")
        log.info("key revoked: %s", name)

    def served_models(self) -> tuple[str, ...] | None:
        """The aliases a key's models may name, sorted; None when this admin does not check them."""
        return None if self._served_models is None else tuple(sorted(self._served_models()))

    def team_id(self, name: str) -> int:
        """The id of the named team (``TeamNotFound`` naming ``team``)."""
        team = self._teams.team_by_name(name)
        if team is None:
            raise TeamNotFound(f"no team named '{name}'", param="team")
        return team.id

    def _columns(self, settings: KeySettings, limits: Limits) -> dict[str, Any]:
        """The store columns ``settings`` changes (limits always, merged onto ``limits``)."""
        columns: dict[str, Any] = {"limits": apply_limit_changes(limits, settings.limits)}
        if not isinstance(settings.team, Unchanged):
            columns["team_id"] = None if settings.team is None else self.team_id(settings.team)
        if not isinstance(settings.models, Unchanged):
            columns["models"] = _models(settings.models, self.served_models())
        if not isinstance(settings.role, Unchanged):
            columns["role"] = _role(settings.role)
        if not isinstance(settings.expires_at, Unchanged):
            columns["expires_at"] = settings.expires_at
        if not isinstance(settings.dialects, Unchanged):
            columns["allowed_dialects"] = _dialects(settings.dialects)
        if not isinstance(settings.tags, Unchanged):
            columns["tags"] = None if settings.tags is None else {str(k): str(v) for k, v in settings.tags.items()}
        if not isinstance(settings.alert_thresholds, Unchanged):
            columns["alert_thresholds"] = thresholds_change(settings.alert_thresholds)
        return columns


def _models(models: Sequence[str] | None, served: Sequence[str] | None) -> list[str] | None:
    """The allowed models, cleaned; each must be ``served`` (a pattern: match a served alias) unless that is None."""
    if models is None:
        return None
    cleaned = [model.strip() for model in models if model.strip() != ""]
    if len(cleaned) == 0:
        raise InvalidRequest("'models' needs at least one alias or pattern (omit it for all models)", param="models")
    if served is not None:
        for model in cleaned:
            _check_served(model, served)
    return cleaned


def _check_served(model: str, served: Sequence[str]) -> None:
    if any(admits(model, alias) for alias in served):
        return
    if is_pattern(model):
        raise UnknownModel(f"'{model}' matches no model this gateway serves ({_serves(served)})", param="models")
    raise UnknownModel(f"unknown model '{model}' ({_serves(served)})", param="models")


def _serves(served: Sequence[str]) -> str:
    return "it serves " + (", ".join(served) if served else "none")


def _role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InvalidRequest(f"'role' must be one of {', '.join(ROLES)}", param="role")


def _dialects(dialects: Sequence[str] | None) -> list[str] | None:
    if dialects is None:
        return None
    allowed = {*DIALECTS, *(f"{d}:{op}" for d in DIALECTS for op in OPERATIONS)}
    cleaned = [entry.strip() for entry in dialects if entry.strip() != ""]
    for entry in cleaned:
        if entry not in allowed:
            raise InvalidRequest(
                f"unknown dialect or endpoint '{entry}': use {', '.join(DIALECTS)} or DIALECT:generate|edit",
                param="dialects",
            )
    return cleaned


def expiry_from(span: timedelta | None, now: datetime) -> datetime | None:
    """When a key created ``now`` with ``--expires-in span`` expires (None: never)."""
    return None if span is None else now + span


def key_view(record: ApiKeyRecord) -> dict[str, Any]:
    """The public view of a key (never its hash, its previous hash or its secret)."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "name": record.name,
        "prefix": record.prefix,
        "team": None if record.team is None else record.team.name,
        "role": record.role,
        "models": None if record.models is None else list(record.models),
        "dialects": None if record.allowed_dialects is None else list(record.allowed_dialects),
        "tags": dict(record.tags),
        "limits": limits_view(record.limits),
        "alert_thresholds": thresholds_view(record.alert_thresholds),
        "created_at": iso(record.created_at),
        "last_used_at": iso(record.last_used_at),
        "revoked_at": iso(record.revoked_at),
        "expires_at": iso(record.expires_at),
        "previous_valid_until": iso(record.previous_valid_until),
    }
