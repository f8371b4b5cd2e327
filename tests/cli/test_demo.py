"""``imagegate demo`` as a user runs it: a real process in a fresh directory, a HOME of its own, then the
SDKs and the other commands run from the same directory with no flags."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from imagegate.cli.demo import DEMO_ROUTES, demo_config
from imagegate.config.file import parse_config
from tests.support.demo import DemoProcess, running_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    root = tmp_path_factory.mktemp("demo")
    (root / "checkout").mkdir()
    (root / "home").mkdir()
    with running_demo(root / "checkout", root / "home") as process:
        yield process


def _openai(demo: DemoProcess) -> OpenAI:
    return OpenAI(
        base_url=demo.variables["IMAGEGATE_URL"] + "/v1", api_key=demo.variables["IMAGEGATE_KEY"], max_retries=0
    )


def test_demo_prints_url_and_key_that_work_with_both_sdks(demo: DemoProcess):
    response = _openai(demo).images.generate(
        model="gpt-image-2", prompt="a lighthouse", size="1024x1024", quality="low"
    )
    assert response.usage.output_tokens == 196 and len(response.data) == 1
    from google import genai
    from google.genai import types

    gemini = genai.Client(
        api_key=demo.variables["IMAGEGATE_KEY"],
        http_options=types.HttpOptions(base_url=demo.variables["IMAGEGATE_URL"]),
    )
    answer = gemini.models.generate_content(model="nano-banana-2", contents="a lighthouse")
    assert any(part.inline_data is not None for part in answer.candidates[0].content.parts)


def test_demo_says_how_to_get_the_sdks_and_its_master_key_opens_the_admin_api(demo: DemoProcess):
    banner = "".join(demo.output)
    assert "pip install openai google-genai" in banner
    url, master = demo.variables["IMAGEGATE_URL"], demo.variables["IMAGEGATE_MASTER_KEY"]
    listed = httpx.get(url + "/admin/keys", headers={"Authorization": f"Bearer {master}"})
    assert listed.status_code == 200, listed.text
    assert httpx.get(url + "/admin/keys", headers={"Authorization": "Bearer wrong"}).status_code == 401
    env_file = (demo.cwd / ".imagegate" / "demo.env").read_text()
    for name, value in demo.variables.items():
        assert f"export {name}={value}\n" in env_file


def test_cli_commands_find_the_demo_from_its_directory_and_nothing_lands_in_the_default_data_dir(demo: DemoProcess):
    response = _openai(demo).images.with_raw_response.generate(model="gpt-image-2", prompt="a fox", quality="low")
    request_id = response.headers["x-request-id"]

    rows: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while not rows and time.monotonic() < deadline:
        listed = demo.cli("usage", "--json", "--request", request_id)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
    assert [row["model"] for row in rows] == ["gpt-image-2"]

    routes = demo.cli("routes", "--json")
    assert routes.returncode == 0, routes.stderr
    aliases = {alias["alias"] for alias in json.loads(routes.stdout)}
    assert {"gpt-image-2", "nano-banana-2", "imagen-4"} <= aliases

    smoke = demo.cli("smoke", "--model", "gpt-image-2", "--json")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert [result["status"] for result in json.loads(smoke.stdout)] == ["available"]

    report = demo.cli("report", "--by", "model", "--json")
    assert report.returncode == 0, report.stderr
    groups = {row["model"]: row for row in json.loads(report.stdout)["rows"]}
    assert groups["gpt-image-2"]["requests"] >= 2  # the request above and smoke's

    assert (demo.cwd / ".imagegate" / "imagegate.db").is_file()
    assert (demo.cwd / ".imagegate" / "imagegate.yaml").is_file()
    home = Path(demo.env["HOME"])
    assert list(home.rglob("*")) == [], "the demo wrote under HOME"


def test_fault_directives_do_not_take_the_demo_route_down(demo: DemoProcess):
    client = _openai(demo)
    for _ in range(3):  # two attempts each: more consecutive failures than the default breaker allows
        with pytest.raises(Exception) as failure:
            client.images.generate(model="gpt-image-2", prompt="a fox [sandbox:500]", quality="low")
        assert getattr(failure.value, "status_code", None) == 502
    assert len(client.images.generate(model="gpt-image-2", prompt="a fox", quality="low").data) == 1


def test_demo_config_leaves_out_shut_down_models_unless_it_says_what_to_do_after_shutdown():
    everything_shut = demo_config("http://sandbox", date(2030, 1, 1), lambda provider, model, today: True)
    assert [model["name"] for model in everything_shut["models"]] == [
        alias for alias, *_rest, after_shutdown in DEMO_ROUTES if after_shutdown is not None
    ]
    nothing_shut = demo_config("http://sandbox", date(2030, 1, 1), lambda provider, model, today: False)
    assert len(nothing_shut["models"]) == len(DEMO_ROUTES)
    parse_config(nothing_shut, env={})


def test_demo_lists_no_alias_the_gateway_would_refuse_today(demo: DemoProcess):
    models = httpx.get(
        demo.variables["IMAGEGATE_URL"] + "/v1/models",
        headers={"Authorization": f"Bearer {demo.variables['IMAGEGATE_KEY']}"},
    ).json()["data"]
    listed = {model["id"] for model in models}
    assert {"gpt-image-2", "nano-banana-2", "imagen-4"} <= listed
    assert not listed & {"gpt-image-1.5", "gpt-image-1-mini"}


@pytest.mark.parametrize("model", ["flux-2-pro", "flux-2-klein-4b"])
def test_demo_serves_flux_from_the_sandbox(demo: DemoProcess, model: str):
    import base64
    import io

    from PIL import Image

    response = _openai(demo).images.generate(model=model, prompt="a lighthouse", size="1024x768")
    [image] = response.data
    with Image.open(io.BytesIO(base64.b64decode(image.b64_json))) as picture:
        assert picture.size == (1024, 768)
