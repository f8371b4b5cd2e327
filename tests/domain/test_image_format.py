import io

import pytest
from PIL import Image

from imagegate.domain.image_format import extension, sniff_mime


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime", "ext"),
    [
        ("PNG", "image/png", "png"),
        ("JPEG", "image/jpeg", "jpg"),
        ("WEBP", "image/webp", "webp"),
        ("GIF", "image/gif", "gif"),
    ],
)
def test_real_encodings_are_named_by_their_signature(fmt: str, mime: str, ext: str) -> None:
    data = _encoded(fmt)
    assert sniff_mime(data) == mime
    assert extension(sniff_mime(data)) == ext


def test_heic_is_named_but_stored_without_a_known_extension() -> None:
    assert sniff_mime(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 8) == "image/heic"
    assert extension("image/heic") == "bin"


def test_riff_without_webp_and_unknown_bytes_are_not_images() -> None:
    assert sniff_mime(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff_mime(b"????????WEBPVP8 ") is None  # WEBP at 8 counts only inside a RIFF container
    assert sniff_mime(b"") is None
    assert extension(None) == "bin"
