"""File sharing (protocol notes §5.9): upload a file for a hosted-file message, download one.

Both ask the socket for a temporary signed URL on the ``swift`` host, then PUT or GET the
bytes over HTTP with the client's session (so its TLS settings apply).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import requests

from lpbot.errors import RequestRejected
from lpbot.protocol.names import Services
from lpbot.protocol.requests import FileUrl, GenerateDownloadUrl, GenerateUploadUrl

if TYPE_CHECKING:
    from lpbot.client.client import Client

__all__ = ["MAX_FILE_SIZE", "UPLOAD_TYPES", "download_file", "file_to_send", "upload_file"]

#: file types the upload request documents (§5.9)
UPLOAD_TYPES = ("JPG", "JPEG", "PNG", "GIF")
#: the documented limit of a shared file (§5.9)
MAX_FILE_SIZE = 3 * 1024 * 1024


def file_to_send(source: bytes | str | Path, file_type: str | None) -> tuple[bytes, str]:
    """The bytes and upper-case type of a file to upload; ``ValueError`` outside the limits.

    ``source`` is the bytes or a path (whose suffix gives the type unless ``file_type`` does).
    Checked before anything is sent: a type of §5.9 (JPG, JPEG, PNG, GIF), 1 byte to 3 MB.
    """
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        file_type = file_type or path.suffix.lstrip(".")
        if path.stat().st_size > MAX_FILE_SIZE:
            raise ValueError(f"{path} is larger than 3 MB, the limit of a shared file")
        data = path.read_bytes()
    kind = (file_type or "").upper()
    if kind not in UPLOAD_TYPES:
        raise ValueError(f"file type {file_type!r} cannot be uploaded (one of: "
                         f"{', '.join(UPLOAD_TYPES)})")
    if not 0 < len(data) <= MAX_FILE_SIZE:
        raise ValueError(f"a shared file has 1 byte to 3 MB, not {len(data)} bytes")
    return data, kind


def _url(client: Client, url: FileUrl) -> str:
    return url.url(client.discovery.host(Services.FILES), tls=client.options.tls)


def upload_file(client: Client, data: bytes, file_type: str, *, timeout: float) -> str:
    """Upload ``data`` as a ``file_type`` file; returns its relative path (§5.9)."""
    url = client.request(GenerateUploadUrl(file_size=len(data), file_type=file_type),
                         timeout=timeout)
    try:
        response = client.http.put(_url(client, url), data=data, timeout=timeout)
    except requests.RequestException as exc:
        raise RequestRejected(request=url.relative_path, request_type="FileUpload", code=0,
                              body=str(exc)) from exc
    if response.status_code not in (200, 201):
        raise RequestRejected(request=url.relative_path, request_type="FileUpload",
                              code=response.status_code, body=response.text[:200])
    return url.relative_path


def download_file(client: Client, relative_path: str, *, timeout: float) -> bytes:
    """The bytes of the hosted file at ``relative_path`` (§5.9)."""
    url = client.request(GenerateDownloadUrl(relative_path=relative_path), timeout=timeout)
    try:
        response = client.http.get(_url(client, url), timeout=timeout)
    except requests.RequestException as exc:
        raise RequestRejected(request=relative_path, request_type="FileDownload", code=0,
                              body=str(exc)) from exc
    if response.status_code != 200:
        raise RequestRejected(request=relative_path, request_type="FileDownload",
                              code=response.status_code, body=response.text[:200])
    return response.content
