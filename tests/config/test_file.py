from pathlib import Path

import pytest

from imagegate.config.file import ConfigError, load_config, parse_config

DOC = {
    "models": [
        {
            "name": "gpt-image-2",
            "routes": [
                {
                    "provider": "openai",
                    "model": "gpt-image-2",
                    "base_url": "https://api.openai.com/v1/",
                    "api_key": "${OPENAI_API_KEY}",
                },
            ],
        },
    ],
}


def test_env_references_are_resolved_and_base_url_normalised():
    config = parse_config(DOC, {"OPENAI_API_KEY": "sk-live"})
    route = config.models[0].routes[0]
    assert route.api_key == "sk-live"
    assert route.base_url == "https://api.openai.com/v1"
    assert route.timeout == 300.0


def test_missing_env_without_default_names_the_variable_and_place():
    with pytest.raises(ConfigError, match=r"models\[0\].routes\[0\].api_key: environment variable OPENAI_API_KEY"):
        parse_config(DOC, {})


def test_defaults_and_escapes():
    doc = {
        "models": [
            {
                "name": "m",
                "routes": [
                    {
                        "provider": "openai",
                        "model": "x",
                        "base_url": "${BASE:-http://localhost:1}/v1",
                        "api_key": "$${LITERAL}",
                    }
                ],
            }
        ]
    }
    route = parse_config(doc, {}).models[0].routes[0]
    assert route.base_url == "http://localhost:1/v1"
    assert route.api_key == "${LITERAL}"


def test_invalid_documents_say_where(tmp_path: Path):
    bad = tmp_path / "c.yaml"
    bad.write_text("models:\n  - name: m\n    routes: []\n")
    with pytest.raises(ConfigError, match=r"models.0.routes"):
        load_config(bad)
    bad.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("models:\n  - name: m\n    routes:\n      - {provider: openai, model: x, base_url: ftp://x}\n")
    with pytest.raises(ConfigError, match="base_url"):
        load_config(bad)


def test_duplicate_model_names_rejected():
    doc = {"models": [DOC["models"][0], DOC["models"][0]]}
    with pytest.raises(ConfigError, match="appears twice"):
        parse_config(doc, {"OPENAI_API_KEY": "k"})


def test_api_key_not_in_repr():
    config = parse_config(DOC, {"OPENAI_API_KEY": "sk-secret-value"})
    assert "sk-secret-value" not in repr(config)


def test_webhook_allow_cidrs_are_checked_at_load():
    config = parse_config({"webhooks": {"allow_cidrs": ["127.0.0.0/8", "::1/128"]}}, env={})
    assert config.webhooks.allow_cidrs == ["127.0.0.0/8", "::1/128"]
    with pytest.raises(ConfigError, match="allow_cidrs"):
        parse_config({"webhooks": {"allow_cidrs": ["not-a-network"]}}, env={})
