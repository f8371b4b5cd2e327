import base64

import orjson
import pytest

from imagegate.providers.skeleton import MalformedBody, parse_skeleton, skeleton


def _body(images: int = 2) -> bytes:
    payload = base64.b64encode(b"\x89PNG" + bytes(range(256)) * 200).decode()
    return orjson.dumps(
        {
            "created": 1,
            "data": [{"b64_json": payload} for _ in range(images)],
            "size": "1024x1024",
            "usage": {"input_tokens": 5, "output_tokens": 196},
        }
    )


def test_skeleton_blanks_only_the_named_strings_and_counts_them():
    light, count = skeleton(_body(3), (b"b64_json",))
    assert count == 3
    parsed = orjson.loads(light)
    assert [item["b64_json"] for item in parsed["data"]] == ["", "", ""]
    assert parsed["usage"] == {"input_tokens": 5, "output_tokens": 196}
    assert len(light) < 300


def test_escaped_quotes_inside_a_blanked_string_do_not_end_it():
    body = b'{"text": "say \\"hi\\" \\\\", "n": 1}'
    light, count = skeleton(body, (b"text",))
    assert count == 1
    assert orjson.loads(light) == {"text": "", "n": 1}


def test_key_not_followed_by_a_string_value_is_left_alone():
    body = b'{"b64_json": null, "other": "b64_json", "x": {"b64_json": "abc"}}'
    parsed, count = parse_skeleton(body, (b"b64_json",))
    assert count == 1
    assert parsed == {"b64_json": None, "other": "b64_json", "x": {"b64_json": ""}}


@pytest.mark.parametrize("cut", [10, 40, -20, -1])
def test_truncated_body_is_malformed(cut):
    body = _body(1)
    with pytest.raises(MalformedBody):
        parse_skeleton(body[:cut], (b"b64_json",))


def test_whitespace_around_colon_is_accepted():
    parsed, count = parse_skeleton(b'{"b64_json" :\n "QUJD"}', (b"b64_json",))
    assert (parsed, count) == ({"b64_json": ""}, 1)
