"""``imagegate estimate``: what a workflow costs on one model or several, side by side."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from imagegate.cli.common import config_from, console, fail, settings_from_env
from imagegate.service.estimate import EstimateSpec, ModelEstimate, compare


def estimate(
    models: list[str] = typer.Argument(..., help="Models to compare: served aliases, catalog ids, or provider/model."),
    size: str | None = typer.Option(None, "--size", help="WxH or a resolution tier (1K, 4K); default: the model's."),
    quality: str | None = typer.Option(
        None, "--quality", help="low / medium / high / ... (auto: priced as the most expensive)."
    ),
    n: int | None = typer.Option(None, "--n", "-n", help="Images per request (default: the provider's default)."),
    reference: list[str] = typer.Option(
        [], "--reference", help="A reference/edit image's size, WxH (repeat per image)."
    ),
    input_fidelity: str | None = typer.Option(None, "--input-fidelity", help="low or high (GPT Image edits)."),
    partial_images: int = typer.Option(0, "--partial-images", help="Streamed partial images per request (0-3)."),
    prompt_tokens: int = typer.Option(0, "--prompt-tokens", help="Prompt length in tokens (about 4 characters each)."),
    thinking_tokens: int | None = typer.Option(
        None, "--thinking-tokens", help="Text/thinking output tokens per image (default: the catalog's reserve)."
    ),
    monthly_images: int | None = typer.Option(
        None, "--monthly-images", help="Images generated per month (requests x n)."
    ),
    retry_rate: str = typer.Option(
        "0", "--retry-rate", help="Billed extra attempts per request (0.1 = one in ten paid twice)."
    ),
    acceptance_rate: str = typer.Option("1", "--acceptance-rate", help="Share of delivered images kept (0-1)."),
    batch: bool = typer.Option(False, "--batch", help="Price at the provider's batch tier."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config: its aliases and catalog overrides (default: $IMAGEGATE_CONFIG)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cost per request, per generated image, per accepted image and per month (see docs/pricing.md)."""
    from imagegate.route_config import build_route_table
    from imagegate.wiring import load_operator_catalog, utc_today

    settings = settings_from_env()
    gateway_config = config_from(config, settings)
    try:
        # Validated from the raw option strings: pydantic turns them into Decimal / Literal or names the bad one.
        spec = EstimateSpec.model_validate(
            {
                "models": models,
                "size": size,
                "quality": quality,
                "n": n,
                "reference_images": reference,
                "input_fidelity": input_fidelity,
                "partial_images": partial_images,
                "prompt_tokens": prompt_tokens,
                "thinking_tokens": thinking_tokens,
                "monthly_images": monthly_images,
                "retry_rate": retry_rate,
                "acceptance_rate": acceptance_rate,
                "batch": batch,
            }
        )
        results = compare(
            spec, load_operator_catalog(settings, gateway_config), build_route_table(gateway_config), today=utc_today()
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(
            json.dumps(
                {
                    "workflow": spec.model_dump(mode="json", exclude={"models"}),
                    "models": [result.as_dict() for result in results],
                },
                indent=1,
            )
        )
    else:
        console.print(estimate_table(results, spec))
    if all(result.error is not None for result in results):
        raise typer.Exit(1)


def estimate_table(results: list[ModelEstimate], spec: EstimateSpec) -> Table:
    """One row per model, in the order asked; figures in USD, notes last."""
    table = Table(title=_title(spec), title_justify="left")
    table.add_column("model")
    table.add_column("provider")
    table.add_column("n", justify="right")
    for heading in ("per request", "per image", "per accepted"):
        table.add_column(heading, justify="right")
    if spec.monthly_images is not None:
        table.add_column("per month", justify="right")
    table.add_column("notes")
    for result in results:
        figures = result.estimate
        if figures is None:
            blanks = ["-"] * (5 if spec.monthly_images is not None else 4)
            table.add_row(result.name, result.provider or "-", *blanks, f"[red]{result.error}[/red]")
            continue
        cells = [
            str(figures.n),
            _usd(figures.per_request_micros),
            _usd(figures.per_generated_image_micros),
            _usd(figures.per_accepted_image_micros),
        ]
        if spec.monthly_images is not None:
            cells.append(_monthly(figures.per_month_micros))
        notes = (["estimate (an input rests on a guess)"] if figures.estimated else []) + list(result.warnings)
        table.add_row(result.name, result.provider or "-", *cells, "; ".join(notes))
    return table


def _title(spec: EstimateSpec) -> str:
    parts = [
        f"size {spec.size or 'default'}",
        f"quality {spec.quality or 'default'}",
        f"n {spec.n if spec.n is not None else 'default'}",
        f"prompt {spec.prompt_tokens} tok",
    ]
    if spec.reference_images:
        parts.append(f"{len(spec.reference_images)} reference(s) {' '.join(spec.reference_images)}")
    if spec.input_fidelity:
        parts.append(f"input fidelity {spec.input_fidelity}")
    if spec.partial_images:
        parts.append(f"{spec.partial_images} partial image(s)")
    if spec.thinking_tokens is not None:
        parts.append(f"thinking {spec.thinking_tokens} tok/image")
    if spec.monthly_images is not None:
        parts.append(f"{spec.monthly_images:,} images/month")
    if spec.retry_rate:
        parts.append(f"retry rate {spec.retry_rate}")
    if spec.acceptance_rate != 1:
        parts.append(f"acceptance {spec.acceptance_rate}")
    if spec.batch:
        parts.append("batch")
    return "Estimate: " + ", ".join(parts)


def _usd(micros: int | None) -> str:
    if micros is None:
        return "-"
    return f"${Decimal(micros) / 1_000_000:.6f}"


def _monthly(micros: int | None) -> str:
    if micros is None:
        return "-"
    return f"${Decimal(micros) / 1_000_000:,.2f}"
