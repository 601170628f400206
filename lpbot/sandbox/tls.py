"""TLS for the sandbox: a throw-away certificate authority made at start with ``trustme``.

LivePerson serves only ``https`` and ``wss``. ``Sandbox(tls=True)`` makes a fresh CA, issues a
certificate for the loopback names (and the bind host), and writes the CA certificate to a file
that clients trust through ``ca_file`` or ``REQUESTS_CA_BUNDLE``. Nothing is trusted system-wide;
the private keys never touch the disk.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import ssl
import tempfile
from pathlib import Path

import trustme

__all__ = ["SandboxCertificates"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_DNS_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


class SandboxCertificates:
    """A CA and one server certificate for the sandbox's HTTP and WebSocket listeners.

    Args:
        host: the bind host, named in the certificate too; for a wildcard bind (``0.0.0.0``)
            the machine's host name is named instead, so other machines can reach it.
        ca_path: where to write the CA certificate (PEM). By default a private temporary
            directory, removed by :meth:`cleanup`; a given path is left in place.
    """

    def __init__(self, host: str, ca_path: str | Path | None = None) -> None:
        self._ca = trustme.CA(organization_name="lpbot sandbox")
        names = [*_LOOPBACK]
        extra = [socket.gethostname(), socket.getfqdn()] if _is_wildcard(host) else [host]
        names += [n for n in dict.fromkeys(extra) if n and n not in names and _nameable(n)]
        self._cert = self._ca.issue_cert(*names)
        self._tempdir: Path | None = None
        if ca_path is None:
            self._tempdir = Path(tempfile.mkdtemp(prefix="lpbot-sandbox-ca-"))
            ca_path = self._tempdir / "ca.pem"
        self.ca_file = Path(ca_path)
        self.ca_file.parent.mkdir(parents=True, exist_ok=True)
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        """A server-side context holding the certificate (TLS 1.2 or newer)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only this CA (for the sandbox's own calls)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def cleanup(self) -> None:
        """Remove the temporary CA file (a caller-chosen ``ca_path`` stays)."""
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None


def _is_wildcard(host: str) -> bool:
    if host == "":
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _nameable(name: str) -> bool:
    """An IP address or a DNS name a certificate can carry."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return _DNS_NAME.fullmatch(name) is not None
    return True
