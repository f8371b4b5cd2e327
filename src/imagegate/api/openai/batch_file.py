"""Reading a batch file: JSONL, one ``/v1/images/generations`` body per line, with an optional ``custom_id``."""

from __future__ import annotations

import orjson

from imagegate.api.openai.parse import generation_from_fields
from imagegate.domain.errors import InvalidRequest
from imagegate.service.batches import BatchInput


def parse_batch_file(content: bytes) -> list[BatchInput]:
    """The requests of a batch file; ``InvalidRequest`` naming the line for a bad one.

    Blank lines are skipped; a line without ``custom_id`` gets ``line-N`` (N counts from 1);
    a ``model`` in a line is ignored (the batch's model applies to every line).
    """
    inputs: list[BatchInput] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if raw.strip() == b"":
            continue
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest(f"line {number}: not valid JSON.", param="file") from None
        if not isinstance(fields, dict):
            raise InvalidRequest(f"line {number}: a request must be a JSON object.", param="file")
        custom_id = fields.pop("custom_id", None)
        if custom_id is None:
            custom_id = f"line-{number}"
        if not isinstance(custom_id, str) or custom_id == "" or "/" in custom_id:
            raise InvalidRequest(
                f"line {number}: 'custom_id' must be a non-empty string without '/'.", param="custom_id"
            )
        if custom_id in seen:
            raise InvalidRequest(f"line {number}: custom_id {custom_id!r} is used twice.", param="custom_id")
        seen.add(custom_id)
        fields.pop("model", None)
        try:
            request = generation_from_fields(fields)
        except InvalidRequest as error:
            raise InvalidRequest(f"line {number}: {error.message}", param=error.param) from None
        inputs.append(BatchInput(custom_id, request))
    return inputs
