"""A small in-memory file store behind temporary signed URLs (protocol notes §5.9).

``GenerateURLForUploadFile`` reserves a path and signs a PUT URL; the HTTP listener checks
``temp_url_sig``/``temp_url_expires`` (HMAC-SHA1 like OpenStack Swift temp URLs) and stores the
bytes; ``GenerateURLForDownloadFile`` signs a GET URL for a stored file, for the consumer who
uploaded it only (another consumer of the account who learns the path gets 400, as for a path
that does not exist). URLs expire after a minute by default.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from dataclasses import dataclass

from .model import Refused

__all__ = ["FILE_TYPES", "MAX_FILE_SIZE", "FileStore", "StoredFile"]

#: file types the schema and tutorials name (§5.8.2, §5.9)
FILE_TYPES = {
    "JPG": "image/jpeg",
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "IMG": "application/octet-stream",
    "TXT": "text/plain",
    "PDF": "application/pdf",
}
MAX_FILE_SIZE = 3 * 1024 * 1024


@dataclass(slots=True)
class StoredFile:
    """One reserved or uploaded file."""

    account: str
    consumer: str
    declared_size: int
    file_type: str
    data: bytes | None = None


class FileStore:
    """Thread-safe store of files keyed by relative path (shared by WS and HTTP threads)."""

    def __init__(self, *, url_lifetime: float = 60.0, max_files: int = 1000) -> None:
        self.url_lifetime = url_lifetime
        self.max_files = max_files
        self._key = uuid.uuid4().bytes
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def _sign(self, method: str, path: str, expires: int) -> str:
        text = f"{method}\n{expires}\n{path}".encode()
        return hmac.new(self._key, text, hashlib.sha1).hexdigest()

    def _params(self, method: str, path: str) -> dict[str, str]:
        expires = int(time.time() + self.url_lifetime)
        return {"temp_url_sig": self._sign(method, path, expires), "temp_url_expires": str(expires)}

    def upload_url(
        self, account: str, consumer: str, size: int, file_type: str
    ) -> tuple[str, dict[str, str]]:
        """Reserve a path for ``consumer``'s file of ``size`` bytes and sign a PUT URL for it."""
        kind = file_type.upper()
        if kind not in FILE_TYPES:
            raise Refused(400, f"unsupported fileType {file_type!r}")
        if not 0 < size <= MAX_FILE_SIZE:
            raise Refused(400, f"fileSize must be between 1 and {MAX_FILE_SIZE}")
        path = f"/v1/AUTH_async-images/{account}/{uuid.uuid4()}.{kind}"
        with self._lock:
            if len(self._files) >= self.max_files:  # keep memory bounded: drop the oldest
                del self._files[next(iter(self._files))]
            self._files[path] = StoredFile(account, consumer, size, kind)
        return path, self._params("PUT", path)

    def store(self, account: str, consumer: str, data: bytes, file_type: str) -> str:
        """Keep ``data`` as a file of ``consumer``'s conversation (one an agent sends); its path."""
        path, _ = self.upload_url(account, consumer, len(data), file_type)
        self.put(path, data)
        return path

    def download_url(self, account: str, consumer: str, path: str) -> dict[str, str]:
        """Sign a GET URL for a file of ``consumer`` (its upload, or one an agent sent it)."""
        with self._lock:
            stored = self._files.get(path)
        if (
            stored is None
            or (stored.account, stored.consumer) != (account, consumer)
            or stored.data is None
        ):
            raise Refused(400, f"unknown file {path}")
        return self._params("GET", path)

    def check(self, method: str, path: str, sig: str | None, expires: str | None) -> bool:
        """True when the temp URL signature is right and not expired."""
        if sig is None or expires is None or not expires.isdigit():
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(self._sign(method, path, int(expires)), sig)

    def put(self, path: str, data: bytes) -> bool:
        """Store the bytes of a reserved path; False if unknown or larger than declared."""
        with self._lock:
            stored = self._files.get(path)
            if stored is None or len(data) > max(stored.declared_size, 0) or not data:
                return False
            stored.data = data
            return True

    def get(self, path: str) -> tuple[bytes, str] | None:
        """The bytes and content type of an uploaded file, or None."""
        with self._lock:
            stored = self._files.get(path)
            if stored is None or stored.data is None:
                return None
            return stored.data, FILE_TYPES[stored.file_type]
