"""Workload files: YAML and JSONL, presets per model, validation errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate.cli.compare.workload import WorkloadError, cell_id, load_workload

ISSUE_EXAMPLE = """\
name: hero-images
repeat: 2
presets:
  square-draft: {gpt-image-2: {size: 1024x1024, quality: low}, nano-banana: {size: 1024x1024}}
models: [gpt-image-2, nano-banana]
prompts:
  - "a lighthouse at dusk"
  - {prompt: "a product shot of a red sneaker", preset: square-draft}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_expands_prompt_major_with_presets_per_model(tmp_path: Path) -> None:
    workload = load_workload(write(tmp_path, "w.yaml", ISSUE_EXAMPLE))
    cells = list(workload.cells())
    assert [cell.id for cell in cells] == [
        "p000.gpt-image-2.r1",
        "p000.gpt-image-2.r2",
        "p000.nano-banana.r1",
        "p000.nano-banana.r2",
        "p001.gpt-image-2.r1",
        "p001.gpt-image-2.r2",
        "p001.nano-banana.r1",
        "p001.nano-banana.r2",
    ]
    assert cells[0].params == {}
    assert cells[4].params == {"size": "1024x1024", "quality": "low"}
    assert cells[6].params == {"size": "1024x1024"}
    assert cells[6].prompt == "a product shot of a red sneaker"
    assert all(cell.operation == "generate" for cell in cells)


def test_prompt_level_size_overrides_the_preset(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE.replace(
        '{prompt: "a product shot of a red sneaker", preset: square-draft}',
        '{prompt: "sneaker", preset: square-draft, size: 1536x1024}',
    )
    cells = list(load_workload(write(tmp_path, "w.yaml", text)).cells())
    assert cells[4].params == {"size": "1536x1024", "quality": "low"}


def test_jsonl_header_line_and_prompt_lines(tmp_path: Path) -> None:
    text = '{"name": "j", "models": ["gpt-image-2"]}\n"a plain prompt"\n{"prompt": "with size", "size": "1024x1536"}\n'
    cells = list(load_workload(write(tmp_path, "w.jsonl", text)).cells())
    assert [(cell.prompt, cell.params) for cell in cells] == [
        ("a plain prompt", {}),
        ("with size", {"size": "1024x1536"}),
    ]


def test_reference_images_make_edits_and_resolve_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "ref.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    text = "name: e\nmodels: [gpt-image-2]\nprompts:\n  - {prompt: make it blue, images: [ref.png]}\n"
    (cell,) = load_workload(write(tmp_path, "w.yaml", text)).cells()
    assert cell.operation == "edit"
    assert cell.images == (tmp_path / "ref.png",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nmodels: []\nprompts: [a]\n", "models"),
        ("name: x\nmodels: [m]\nprompts: []\n", "prompts"),
        ("name: x\nmodels: [m, m]\nprompts: [a]\n", "each model may be listed once"),
        ("name: x\nmodels: [m]\nprompts: [{prompt: a, preset: nope}]\n", "preset 'nope' is not defined"),
        ("name: x\nmodels: [m]\npresets: {p: {m: {sise: 1}}}\nprompts: [a]\n", "unknown parameter(s) sise"),
        ("name: x\nmodels: [m]\nprompts: [{prompt: a, params: {colour: red}}]\n", "colour"),
        ("name: x\nmodels: [m]\nprompts: [{prompt: a, images: [missing.png]}]\n", "no file"),
        ("name: x\nmodels: [m]\nprompts: [a]\nrepeat: 0\n", "repeat"),
        ("models: [m]\nprompts: [a]\n", "name"),
        ("- just a list\n", "expected a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_workloads_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=r"w\.yaml") as caught:
        load_workload(write(tmp_path, "w.yaml", text))
    assert message in str(caught.value)


def test_cell_ids_are_filename_safe() -> None:
    assert cell_id(7, "org/model:v1", 3) == "p007.org_model_v1.r3"


def test_digest_changes_with_the_file(tmp_path: Path) -> None:
    first = load_workload(write(tmp_path, "w.yaml", ISSUE_EXAMPLE)).digest
    second = load_workload(write(tmp_path, "w.yaml", ISSUE_EXAMPLE.replace("repeat: 2", "repeat: 1"))).digest
    assert first != second
