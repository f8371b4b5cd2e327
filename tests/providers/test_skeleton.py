import base64

import orjson
import pytest

from imagegate.providers.skeleton import MalformedBody, SkeletonScanner, parse_skeleton, skeleton


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


# -- SkeletonScanner: the same reading, fed in chunks ---------------------------------------------

SCANNED = orjson.dumps(
    {
        "created": 1,
        "data": [
            {"b64_json": "QUJD" * 40, "revised_prompt": 'a "quoted" \\ prompt \u00e9 \\"'},
            {"b64_json": "eHl6" * 40},
        ],
        "size": "1024x1024",
        "usage": {"input_tokens": 5, "output_tokens": 196, "note": "\\"},
    }
)
EXPECTED = {
    "created": 1,
    "data": [{"b64_json": "", "revised_prompt": 'a "quoted" \\ prompt \u00e9 \\"'}, {"b64_json": ""}],
    "size": "1024x1024",
    "usage": {"input_tokens": 5, "output_tokens": 196, "note": "\\"},
}


def _scan(chunks: list[bytes], **limits: int) -> object:
    scanner = SkeletonScanner(**limits)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.parse()


def test_one_chunk_keeps_short_strings_and_blanks_long_ones():
    assert _scan([SCANNED], max_string=100) == EXPECTED


@pytest.mark.parametrize("split", range(1, len(SCANNED)))
def test_a_split_at_every_position_reads_the_same(split):
    assert _scan([SCANNED[:split], SCANNED[split:]], max_string=100) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_tiny_chunks_read_the_same(size):
    chunks = [SCANNED[start : start + size] for start in range(0, len(SCANNED), size)]
    assert _scan(chunks, max_string=100) == EXPECTED


def test_empty_chunks_change_nothing():
    middle = len(SCANNED) // 2
    assert _scan([b"", SCANNED[:middle], b"", SCANNED[middle:], b""], max_string=100) == EXPECTED


@pytest.mark.parametrize("cut", [10, 40, len(SCANNED) // 2, -20, -1])
def test_a_cut_body_is_malformed(cut):
    with pytest.raises(MalformedBody):
        _scan([SCANNED[:cut]], max_string=100)


def test_a_structure_over_the_limit_is_malformed():
    body = orjson.dumps({"data": [{"n": index} for index in range(200)]})
    assert _scan([body], max_skeleton=len(body)) == orjson.loads(body)
    with pytest.raises(MalformedBody, match="larger than"):
        _scan([body], max_skeleton=len(body) - 1)


def test_the_held_skeleton_is_the_structure_not_the_images():
    scanner = SkeletonScanner()
    scanner.feed(_body(4))
    assert scanner.kept_bytes < 300
