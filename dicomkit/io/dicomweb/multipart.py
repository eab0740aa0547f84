"""The body parts of a WADO-RS ``multipart/related`` answer (PS3.18 8.7.3)."""

from __future__ import annotations

from typing import Any

from dicomkit.exceptions import DicomwebError
from dicomkit.io.dicomweb.client import shown

__all__ = ["split_parts"]


def split_parts(reply: Any, url: str) -> list[bytes]:
    """The body parts of a ``multipart/related`` answer (or the whole body)."""
    content_type = str(reply.headers.get("Content-Type", ""))
    body: bytes = reply.content
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/dicom":
        return [body]
    if kind != "multipart/related":
        msg = (
            f"the server answered {shown(url)} with {content_type or 'no content type'}, "
            "not multipart/related DICOM"
        )
        raise DicomwebError(msg)
    boundary = ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        msg = f"the multipart answer to {shown(url)} names no boundary"
        raise DicomwebError(msg)
    marker = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    start = body.find(marker)
    while start >= 0:
        after = start + len(marker)
        if body[after : after + 2] == b"--":  # the closing delimiter: all read
            return parts
        head_end = body.find(b"\r\n\r\n", after)
        end = body.find(b"\r\n" + marker, head_end) if head_end >= 0 else -1
        if end < 0:
            break
        parts.append(body[head_end + 4 : end])
        start = end + 2
    msg = f"the multipart answer to {shown(url)} is cut short or malformed"
    raise DicomwebError(msg)
