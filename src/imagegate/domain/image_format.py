"""What kind of image a run of bytes is, from its signature, and the file extension it is kept under.

Uploads often say ``application/octet-stream`` and providers do not always name the type of what
they return, so every place that needs a type (a provider's inline data, a stored object, an
upload check, a file written to disk) reads it here, from the first bytes only.
"""

from __future__ import annotations

# (signature, offset, MIME type); WebP also needs ``RIFF`` at 0 (checked below).
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"WEBP", 8, "image/webp"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"ftypheic", 4, "image/heic"),
    (b"ftypheif", 4, "image/heif"),
)

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def sniff_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG, WebP, GIF, HEIC or HEIF bytes; None for anything else."""
    for signature, offset, mime in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if mime == "image/webp" and data[:4] != b"RIFF":
                continue
            return mime
    return None


def extension(mime: str | None) -> str:
    """The file extension an image of ``mime`` is stored under (``bin`` when unknown)."""
    return "bin" if mime is None else _EXTENSIONS.get(mime, "bin")
