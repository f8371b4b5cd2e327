"""Teams, keys owned by teams (role, limits, tags, dialects), rotation grace, and the ledger's team and tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection

from imagegate.accounting.auth import KeyAuthenticator
from imagegate.accounting.keys import generate_key
from imagegate.accounting.ports import DuplicateTeamName, UnknownTeam
from imagegate.domain.errors import AuthenticationFailed
from imagegate.domain.limits import Limits
from imagegate.store import SqlKeyStore, SqlLedgerStore
from imagegate.store.teams import SqlTeamStore
from tests.support.ledger_rows import ledger_row

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_teams_are_created_listed_found_and_updated(conn: Connection) -> None:
    teams = SqlTeamStore(conn)
    design = teams.create_team(name="design", limits=Limits(budget_micros=5_000_000, rpm=10), alert_thresholds=[50, 80])
    teams.create_team(name="research")

    assert [team.name for team in teams.list_teams()] == ["design", "research"]
    assert teams.team_by_name("design") == design
    assert teams.team_by_id(design.id) == design
    assert design.limits.budget_micros == 5_000_000 and design.alert_thresholds == (50, 80)
    assert teams.team_by_name("nobody") is None

    updated = teams.update_team("design", limits=Limits(image_quota=100, quota_period="day"))
    assert updated.limits == Limits(image_quota=100, quota_period="day")
    assert updated.alert_thresholds == (50, 80)  # untouched
    with pytest.raises(UnknownTeam):
        teams.update_team("nobody", limits=Limits())
    with pytest.raises(DuplicateTeamName):
        teams.create_team(name="design")


def test_a_key_carries_its_team_role_limits_tags_and_dialects(conn: Connection) -> None:
    team = SqlTeamStore(conn).create_team(name="design", limits=Limits(max_concurrent=3))
    keys = SqlKeyStore(conn)
    new = generate_key()
    keys.create_key(
        name="web",
        prefix=new.prefix,
        key_hash=new.key_hash,
        models=None,
        team_id=team.id,
        role="admin-read",
        limits=Limits(budget_micros=1_000_000, budget_period="day"),
        tags={"env": "prod", "app": "web"},
        allowed_dialects=["openai"],
    )
    record = keys.key_by_hash(new.key_hash)
    assert record is not None and record.team is not None
    assert (record.team_id, record.team.name, record.team.limits.max_concurrent) == (team.id, "design", 3)
    assert record.role == "admin-read"
    assert record.limits == Limits(budget_micros=1_000_000, budget_period="day")
    assert record.tags == (("app", "web"), ("env", "prod"))
    assert record.allowed_dialects == ("openai",)

    plain = generate_key()
    keys.create_key(name="plain", prefix=plain.prefix, key_hash=plain.key_hash, models=None)
    bare = keys.key_by_name("plain")
    assert bare is not None and bare.team is None and bare.role == "client" and bare.limits.empty
    with pytest.raises(UnknownTeam):
        keys.create_key(name="orphan", prefix="ig-o", key_hash="c" * 64, models=None, team_id=999_999)


async def test_a_rotated_key_accepts_its_previous_secret_only_within_the_grace(conn: Connection) -> None:
    keys = SqlKeyStore(conn)
    old = generate_key()
    keys.create_key(name="rotating", prefix=old.prefix, key_hash=old.key_hash, models=None)
    new = generate_key()
    rotated = keys.rotate_key("rotating", prefix=new.prefix, key_hash=new.key_hash, previous_valid_until=NOW)
    assert rotated is not None and rotated.previous_key_hash == old.key_hash

    wall = [NOW - timedelta(minutes=5)]
    auth = KeyAuthenticator(keys, cache_ttl_s=0, wall_clock=lambda: wall[0])
    assert (await auth.authenticate(old.secret)).key_name == "rotating"
    assert (await auth.authenticate(new.secret)).key_name == "rotating"
    wall[0] = NOW
    with pytest.raises(AuthenticationFailed):
        await auth.authenticate(old.secret)
    assert (await auth.authenticate(new.secret)).key_name == "rotating"
    assert keys.rotate_key("missing", prefix="x", key_hash="d" * 64, previous_valid_until=NOW) is None


async def test_the_principal_has_the_team_limits_and_tags(conn: Connection) -> None:
    team = SqlTeamStore(conn).create_team(name="ops", limits=Limits(ipm=40))
    keys = SqlKeyStore(conn)
    new = generate_key()
    keys.create_key(
        name="ops-key",
        prefix=new.prefix,
        key_hash=new.key_hash,
        models=["gpt-image-2"],
        team_id=team.id,
        limits=Limits(rpm=5),
        tags={"cost_center": "42"},
    )
    principal = await KeyAuthenticator(keys).authenticate(new.secret)
    assert (principal.team_id, principal.team_name) == (team.id, "ops")
    assert principal.key_limits == Limits(rpm=5) and principal.team_limits == Limits(ipm=40)
    assert principal.tags == (("cost_center", "42"),)
    assert principal.models == frozenset({"gpt-image-2"}) and principal.dialects is None

    updated = keys.update_key("ops-key", limits=Limits(rpm=7), tags={"cost_center": "43"})
    assert updated is not None and updated.limits == Limits(rpm=7) and updated.tags == (("cost_center", "43"),)
    with pytest.raises(ValueError, match="not key columns"):
        keys.update_key("ops-key", secret="x")


def test_ledger_rows_keep_team_and_tags(conn: Connection) -> None:
    ledger = SqlLedgerStore(conn)
    entry = ledger_row("req_team", created_at=NOW, team="design", tags={"env": "prod"})
    ledger.append_entries([entry])
    [stored] = ledger.query_entries(request_id="req_team")
    assert (stored.team, stored.tags) == ("design", {"env": "prod"})
