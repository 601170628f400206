"""File sharing (protocol.md §5.9): upload a file for a hosted-file message, download one.

Both ask the socket for a temporary signed URL on the ``swift`` host, then PUT or GET the
bytes over HTTP with the client's session (so its TLS settings apply).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from lpbot.errors import RequestRejected
from lpbot.protocol.names import Services
from lpbot.protocol.requests import FileUrl, GenerateDownloadUrl, GenerateUploadUrl

if TYPE_CHECKING:
    from lpbot.client.client import Client

__all__ = ["download_file", "upload_file"]

#: file types the upload request accepts (§5.9; the hosted-file schema adds TXT and PDF)
UPLOAD_TYPES = ("JPG", "JPEG", "PNG", "GIF", "PDF", "TXT")


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
