"""``imagegate demo``: the sandbox as every provider, the gateway in front, a fresh demo key."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from imagegate.accounting.keys import generate_key
from imagegate.cli.common import console, fail
from imagegate.cli.server import bind_socket, serve_forever, url_of
from imagegate.config.file import parse_config
from imagegate.config.settings import Settings
from imagegate.store.database import make_engine
from imagegate.store.keys import SqlKeyStore
from imagegate.store.migrate import upgrade_database

# (alias, provider, provider model, base-URL suffix): each route follows its SDK's base-URL convention.
DEMO_ROUTES = (
    ("gpt-image-2", "openai", "gpt-image-2", "/v1"),
    ("gpt-image-1.5", "openai", "gpt-image-1.5", "/v1"),
    ("gpt-image-1-mini", "openai", "gpt-image-1-mini", "/v1"),
    ("gemini-2.5-flash-image", "gemini", "gemini-2.5-flash-image", ""),
    ("gemini-3-pro-image", "gemini", "gemini-3-pro-image", ""),
    ("gemini-3.1-flash-image", "gemini", "gemini-3.1-flash-image", ""),
)


def demo_config(sandbox_url: str) -> dict[str, Any]:
    """A config document routing every demo model to the sandbox."""
    return {
        "models": [
            {
                "name": alias,
                "routes": [
                    {
                        "provider": provider,
                        "model": model,
                        "base_url": f"{sandbox_url}{suffix}",
                        "api_key": "sk-sandbox",
                        "timeout": 120,
                    }
                ],
            }
            for alias, provider, model, suffix in DEMO_ROUTES
        ]
    }


def run_demo(host: str, port: int) -> None:
    """Start everything and block until Ctrl-C."""
    from imagegate.sandbox.config import SandboxConfig
    from imagegate.sandbox.server import running_sandbox

    settings = Settings()
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror} (try --port 0)") from None
    engine = make_engine(settings.resolved_database_url())
    upgrade_database(engine)
    new = generate_key()
    name = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    SqlKeyStore(engine).create_key(name=name, prefix=new.prefix, key_hash=new.key_hash, models=None)
    engine.dispose()
    with running_sandbox(SandboxConfig()) as sandbox_url:
        config = parse_config(demo_config(sandbox_url), env=os.environ, source="demo")
        url = url_of(sock, host)
        console.print(
            f"imagegate demo: gateway at [bold]{url}[/bold] (sandbox providers at {sandbox_url})", highlight=False
        )
        console.print(f"IMAGEGATE_URL={url}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"IMAGEGATE_KEY={new.secret}", highlight=False, markup=False, soft_wrap=True)
        console.print(
            "Try:  python -c \"from openai import OpenAI; c=OpenAI(base_url='"
            + url
            + "/v1', api_key='"
            + new.secret
            + "'); print(c.images.generate(model='gpt-image-2', prompt='a lighthouse').usage)\"",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        console.print(
            f"Database: {settings.resolved_database_url()}  (imagegate usage --json shows the ledger)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        serve_forever(settings, config, sock)
