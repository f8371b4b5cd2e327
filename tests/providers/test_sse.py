from imagegate.providers.sse import frame_fields, sse_frames


async def _chunks(*parts: bytes):
    for part in parts:
        yield part


async def test_frames_are_reassembled_across_chunk_boundaries():
    stream = _chunks(b"event: a\nda", b'ta: {"x":1}\n', b"\nevent: b\r\ndata: 2\r\n\r\n", b"data: tail")
    frames = [frame async for frame in sse_frames(stream)]
    assert frames == [b'event: a\ndata: {"x":1}\n\n', b"event: b\r\ndata: 2\r\n\r\n", b"data: tail"]


def test_frame_fields_reads_event_and_joins_multiline_data():
    assert frame_fields(b'event: image_generation.completed\ndata: {"a":\ndata: 1}\n\n') == (
        "image_generation.completed",
        b'{"a":\n1}',
    )
    assert frame_fields(b"data: [DONE]\n\n") == (None, b"[DONE]")
