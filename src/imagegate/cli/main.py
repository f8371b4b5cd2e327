"""``imagegate``: serve the gateway, run the sandbox or the demo, manage keys, read the ledger."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from imagegate.cli.batch import batch_app
from imagegate.cli.catalog import catalog_app
from imagegate.cli.common import config_from, console, fail, migrated_engine, settings_from_env
from imagegate.cli.compare.commands import compare_app
from imagegate.cli.estimate import estimate
from imagegate.cli.keys import keys_app
from imagegate.cli.report import report
from imagegate.cli.routes import routes_app
from imagegate.cli.smoke import smoke
from imagegate.cli.spend import spend
from imagegate.cli.storage import storage_app
from imagegate.cli.teams import teams_app
from imagegate.cli.usage import usage_app
from imagegate.cli.webhooks import webhooks_app
from imagegate.cli.worker import worker
from imagegate.config.settings import Settings

app = typer.Typer(
    help="imagegate: one key and one base URL for every image-generation API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(teams_app, name="teams")
app.add_typer(keys_app, name="keys")
app.add_typer(usage_app, name="usage")
app.command("estimate")(estimate)
app.command("report")(report)
app.command("spend")(spend)
app.add_typer(catalog_app, name="catalog")
app.add_typer(routes_app, name="routes")
app.command("smoke")(smoke)
app.add_typer(storage_app, name="storage")
app.add_typer(compare_app, name="compare")
app.add_typer(webhooks_app, name="webhooks")
app.command("worker")(worker)
app.add_typer(batch_app, name="batch")
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config (default: $IMAGEGATE_CONFIG)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on (0: any free port)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
) -> None:
    """Run the gateway."""
    from imagegate.cli.listeners import bind_socket, url_of
    from imagegate.cli.server import serve_forever

    # Only the environment: a production server never picks up a demo's ./.imagegate by accident.
    settings = Settings()
    gateway_config = config_from(config, settings)
    if config is not None:
        os.environ["IMAGEGATE_CONFIG"] = str(config)
    sock = bind_socket(host, port, workers=workers)
    console.print(f"imagegate listening on {url_of(sock, host)}", highlight=False)
    serve_forever(settings, gateway_config, sock, workers=workers)


@app.command()
def sandbox(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8090, "--port", help="Port to listen on."),
    fixed_delay_ms: int | None = typer.Option(
        None, "--fixed-delay-ms", help="Benchmark mode: answer every generation after this delay."
    ),
    fixed_image_bytes: int | None = typer.Option(
        None, "--fixed-image-bytes", help="Benchmark mode: size of the pre-encoded response."
    ),
) -> None:
    """Run the provider sandbox alone (synthetic images, real wire formats, fault injection)."""
    from imagegate.sandbox.config import SandboxConfig
    from imagegate.sandbox.server import run_sandbox

    run_sandbox(
        host,
        port,
        SandboxConfig(fixed_delay_ms=fixed_delay_ms, fixed_image_bytes=fixed_image_bytes),
        log_level=settings_from_env().log_level,
    )


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Gateway port (0: any free port)."),
) -> None:
    """Sandbox + gateway + a demo key and master key, data in ./.imagegate (no provider account needed)."""
    from imagegate.cli.demo import run_demo

    run_demo(host, port)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to the configured database."""
    migrated_engine(settings_from_env()).dispose()
    console.print("database is at the latest revision")


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "fail", "main"]
