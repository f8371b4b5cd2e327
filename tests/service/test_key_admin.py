"""``KeyAdmin``'s checks, the ones the CLI, the admin API and the console all go through: a key's
models must be served by the gateway (a pattern must match a served alias), its team must exist,
its role must be one of the roles; ``check`` refuses what ``create``/``update`` would, storing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagegate.domain.errors import InvalidRequest
from imagegate.service.keys import KeyAdmin, KeySettings, UnknownModel
from imagegate.service.teams import TeamNotFound
from imagegate.store import SqlKeyStore, SqlTeamStore
from tests.store.fixtures import migrated_sqlite_engine


class Served:
    """The aliases the gateway serves; a test may change them, as a new config would."""

    def __init__(self, *aliases: str) -> None:
        self.aliases = list(aliases)

    def __call__(self) -> list[str]:
        return self.aliases


@pytest.fixture
def served() -> Served:
    return Served("gpt-image-2", "gpt-image-1.5", "nano-banana-2")


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqlKeyStore, SqlTeamStore]]:
    engine = migrated_sqlite_engine(tmp_path / "imagegate.db")
    teams = SqlTeamStore(engine)
    teams.create_team(name="design")
    yield SqlKeyStore(engine), teams
    engine.dispose()


@pytest.fixture
def keys(stores: tuple[SqlKeyStore, SqlTeamStore], served: Served) -> KeyAdmin:
    return KeyAdmin(*stores, served_models=served)


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (["gpt-image-2", "dall-e-9"], "unknown model 'dall-e-9' (it serves gpt-image-1.5, gpt-image-2, nano-banana-2)"),
        (["gtp-image-*"], "'gtp-image-*' matches no model this gateway serves (it serves gpt-image-1.5, "),
    ],
)
def test_models_the_gateway_does_not_serve_are_refused_on_create_update_and_check(
    keys: KeyAdmin, models: list[str], message: str
) -> None:
    keys.create("svc")
    for attempt in (
        lambda: keys.create("other", KeySettings(models=models)),
        lambda: keys.update("svc", KeySettings(models=models)),
        lambda: keys.check(KeySettings(models=models)),
    ):
        with pytest.raises(UnknownModel) as info:
            attempt()
        assert info.value.message.startswith(message) and info.value.param == "models"
    assert [record.name for record in keys.list()] == ["svc"]
    assert keys.show("svc").models is None


def test_served_aliases_and_patterns_matching_one_are_kept(keys: KeyAdmin) -> None:
    record = keys.create("svc", KeySettings(models=[" gpt-image-2 ", "gpt-image-1*", "nano-*"])).record
    assert record.models == ("gpt-image-2", "gpt-image-1*", "nano-*")
    assert keys.update("svc", KeySettings(models=None)).models is None  # None: every model


def test_without_served_models_any_model_is_kept(stores: tuple[SqlKeyStore, SqlTeamStore]) -> None:
    unchecked = KeyAdmin(*stores)  # the CLI: no route table
    assert unchecked.served_models() is None
    assert unchecked.create("svc", KeySettings(models=["dall-e-9"])).record.models == ("dall-e-9",)


def test_served_models_are_read_at_each_change(keys: KeyAdmin, served: Served) -> None:
    keys.create("svc", KeySettings(models=["nano-banana-2"]))
    served.aliases.remove("nano-banana-2")
    with pytest.raises(UnknownModel):
        keys.update("svc", KeySettings(models=["nano-banana-2"]))
    # Models are checked only when they change: a key naming a model no longer served still moves team.
    moved = keys.update("svc", KeySettings(team="design", role="admin-read"))
    assert (moved.team is not None and moved.team.name, moved.role, moved.models) == (
        "design",
        "admin-read",
        ("nano-banana-2",),
    )


def test_check_refuses_what_update_would_and_stores_nothing(keys: KeyAdmin) -> None:
    keys.create("svc")
    with pytest.raises(TeamNotFound) as team:
        keys.check(KeySettings(team="nobody"))
    assert (team.value.message, team.value.param) == ("no team named 'nobody'", "team")
    with pytest.raises(InvalidRequest) as role:
        keys.check(KeySettings(role="owner"))
    assert (role.value.message, role.value.param) == ("'role' must be one of client, admin-read, admin", "role")
    with pytest.raises(InvalidRequest) as limit:
        keys.check(KeySettings(limits={"image_quota": "lots"}))
    assert limit.value.param == "image_quota"
    keys.check(KeySettings(team="design", role="admin", models=["gpt-image-2"], limits={"image_quota": "5"}))
    record = keys.show("svc")
    assert (record.team, record.role, record.models, record.limits.image_quota) == (None, "client", None, None)
