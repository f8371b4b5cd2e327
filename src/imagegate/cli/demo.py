"""``imagegate demo``: the sandbox as every provider, the gateway in front, a fresh demo key.

Everything the demo keeps lives in ``./.imagegate/`` (never the production data directory): the
SQLite database, the config it serves (``imagegate.yaml``) and ``demo.env`` with the URL and keys.
Other commands run from the same directory find it there (``cli.common.settings_from_env``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from imagegate.accounting.keys import generate_key
from imagegate.catalog.loader import load_catalog
from imagegate.cli.common import LOCAL_CONFIG_NAME, console, fail, local_dir
from imagegate.cli.listeners import bind_socket, url_of
from imagegate.cli.server import serve_forever
from imagegate.config.file import parse_config
from imagegate.config.settings import Settings
from imagegate.store.database import make_engine
from imagegate.store.keys import SqlKeyStore
from imagegate.store.migrate import upgrade_database

ENV_FILE_NAME = "demo.env"
SANDBOX_PROVIDER_KEY = "sk-sandbox"

# (alias, provider, provider model, base-URL suffix, after_shutdown): each route follows its SDK's
# base-URL convention. The README's aliases come first; a model the catalog says is shut down is
# left out unless its row says what to do after shutdown (imagen-4 is served by its replacement).
DEMO_ROUTES: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("gpt-image-2", "openai", "gpt-image-2", "/v1", None),
    ("gpt-5-mini", "openai", "gpt-5-mini", "/v1", None),  # the Responses API's mainline model
    ("nano-banana-2", "gemini", "gemini-3.1-flash-image", "", None),
    ("nano-banana-pro", "gemini", "gemini-3-pro-image", "", None),
    ("imagen-4", "imagen", "imagen-4.0-generate-001", "", "replace"),
    ("gemini-3.1-flash-image", "gemini", "gemini-3.1-flash-image", "", None),
    ("gemini-3-pro-image", "gemini", "gemini-3-pro-image", "", None),
    ("gemini-2.5-flash-image", "gemini", "gemini-2.5-flash-image", "", None),
    ("flux-2-pro", "bfl", "flux-2-pro", "", None),
    ("flux-2-klein-4b", "bfl", "flux-2-klein-4b", "", None),
)

# Route options by provider: the sandbox's submit-and-poll hosts put result files on its other
# loopback name (a separate result host, as BFL's delivery host is), which the route must allow.
DEMO_OPTIONS: dict[str, dict[str, Any]] = {
    "bfl": {"poll_interval": 0.1, "result_hosts": ["localhost", "127.0.0.1"]},
}

# The demo's only providers are the sandbox, so every failure there is one the user asked for
# with a fault directive: the breaker must not take the demo's only route down for trying the
# README's directives (docs/routing.md, "The demo and the breaker").
DEMO_BREAKER = {"consecutive_failures": 1_000_000, "min_calls": 1_000_000}


def demo_config(
    sandbox_url: str, today: date | None = None, is_shut_down: Callable[[str, str, date], bool] | None = None
) -> dict[str, Any]:
    """A config document routing every demo model that is still served to the sandbox."""
    when = today if today is not None else datetime.now(UTC).date()
    shut_down = is_shut_down if is_shut_down is not None else _catalog_shutdowns()
    models = []
    for alias, provider, model, suffix, after_shutdown in DEMO_ROUTES:
        if after_shutdown is None and shut_down(provider, model, when):
            continue
        entry: dict[str, Any] = {
            "name": alias,
            "routes": [
                {
                    "provider": provider,
                    "model": model,
                    "base_url": f"{sandbox_url}{suffix}",
                    "api_key": SANDBOX_PROVIDER_KEY,
                    "timeout": 120,
                    "options": dict(DEMO_OPTIONS.get(provider, {})),
                }
            ],
        }
        if after_shutdown is not None:
            entry["after_shutdown"] = after_shutdown
        models.append(entry)
    return {"models": models, "breaker": dict(DEMO_BREAKER)}


def _catalog_shutdowns() -> Callable[[str, str, date], bool]:
    catalog = load_catalog()

    def is_shut_down(provider: str, model: str, today: date) -> bool:
        entry = catalog.find(provider, model)
        return entry is not None and entry.lifecycle is not None and entry.lifecycle.is_shut_down(today)

    return is_shut_down


def demo_settings(directory: Path, master_key: str) -> Settings:
    """The demo's settings: its own data directory and database, whatever the environment says."""
    return Settings(
        data_dir=directory,
        database_url=f"sqlite:///{directory / 'imagegate.db'}",
        master_key=master_key,  # type: ignore[arg-type]
        config=directory / LOCAL_CONFIG_NAME,
    )


def run_demo(host: str, port: int) -> None:
    """Start everything and block until Ctrl-C."""
    from imagegate.sandbox.config import SandboxConfig
    from imagegate.sandbox.server import running_sandbox

    directory = local_dir()
    try:
        directory.mkdir(exist_ok=True)
        sock = bind_socket(host, port)
    except OSError as exc:
        raise fail(
            f"cannot start the demo: {exc.strerror} (try --port 0, or run it from a writable directory)"
        ) from None
    master_key = "ig-master-" + secrets.token_urlsafe(24)
    settings = demo_settings(directory, master_key)
    engine = make_engine(settings.resolved_database_url())
    upgrade_database(engine)
    new = generate_key()
    name = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    SqlKeyStore(engine).create_key(name=name, prefix=new.prefix, key_hash=new.key_hash, models=None)
    engine.dispose()
    with running_sandbox(SandboxConfig()) as sandbox_url:
        document = demo_config(sandbox_url)
        config = parse_config(document, env=os.environ, source="demo")
        config_path = directory / LOCAL_CONFIG_NAME
        config_path.write_text(
            "# Written by `imagegate demo`; the sandbox's port changes on every run.\n"
            + yaml.safe_dump(document, sort_keys=False),
            encoding="utf-8",
        )
        url = url_of(sock, host)
        variables = {"IMAGEGATE_URL": url, "IMAGEGATE_KEY": new.secret, "IMAGEGATE_MASTER_KEY": master_key}
        env_path = directory / ENV_FILE_NAME
        env_path.write_text("".join(f"export {key}={value}\n" for key, value in variables.items()), encoding="utf-8")
        env_path.chmod(0o600)
        _announce(url, sandbox_url, variables, directory)
        serve_forever(settings, config, sock)


def _announce(url: str, sandbox_url: str, variables: dict[str, str], directory: Path) -> None:
    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)

    say(f"imagegate demo: gateway at {url} (sandbox providers at {sandbox_url})")
    for key, value in variables.items():
        say(f"{key}={value}")
    say(f"Data, config and these variables: {directory}/ (in another shell: source {directory / ENV_FILE_NAME})")
    say("Commands run from this directory use it: imagegate routes | smoke | usage | report")
    say("Try:  pip install openai google-genai    # the client SDKs, then:")
    say(
        "      python -c \"from openai import OpenAI; c=OpenAI(base_url='"
        + url
        + "/v1', api_key='"
        + variables["IMAGEGATE_KEY"]
        + "'); print(c.images.generate(model='gpt-image-2', prompt='a lighthouse').usage)\""
    )
    say(f"Admin API and console: Authorization: Bearer {variables['IMAGEGATE_MASTER_KEY']}")
    say(f"Console in a browser: {url}/console (sign in with IMAGEGATE_MASTER_KEY)")
