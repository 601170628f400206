"""One TLS context per CA file and one HTTP connection pool per account, for the whole process.

Loading a CA store is the expensive part of TLS on the client side: the system store holds
about 140 certificates, and an :class:`ssl.SSLContext` that loaded them costs tens of
milliseconds of CPU and most of a megabyte. Before this module every client built its own
context for its WebSocket, and urllib3 built and loaded another one for each HTTPS
connection of each client's ``requests.Session``. Here:

* :func:`tls_context` returns the process's context for a CA file (``None``: the system's
  store, as ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` say). It is built once, on first use, and
  shared by every client's WebSocket and HTTPS calls: an ``SSLContext`` is safe to share
  between threads, and what a consumer then pays for TLS is its own session (its socket's
  buffers and keys), not a copy of the CA store. A CA file that does not exist or holds no
  PEM certificate raises :class:`CaFileError`, one line naming the file and the cause.
* :func:`acquire_pools` lends the clients of one account (and CA file) one
  :class:`TlsAdapter`: one urllib3 pool manager, thread-safe, whose connections to the
  domain lookup, the identity service and the profile API are reused by every consumer of the
  account. :func:`release_pools` gives it back; the last client to give it back closes its
  connections.

A context is rebuilt when its CA file changes on disk (a renewed bundle), and the contexts
never verify less than ``ssl.create_default_context`` does.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils
from requests.sessions import merge_setting as _merge_setting

from lpbot.errors import LpError

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

__all__ = ["CaFileError", "PooledSession", "TlsAdapter", "acquire_pools", "ca_bundle",
           "environment_proxies", "release_pools", "shared_session", "tls_context"]

#: connections kept per host in an account's pool (consumers connect in bursts)
POOL_SIZE = 32


class CaFileError(LpError):
    """A CA file cannot be used: it does not exist, cannot be read, or holds no PEM certificate.

    Retrying cannot help, so it is raised when the client is built, before anything connects
    (``lpbot run`` then exits with code 3 at start-up). ``path`` is the file.
    """

    def __init__(self, path: str, cause: str) -> None:
        super().__init__(f"ca_file {path}: {cause}")
        self.path = path


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A context and the state of its CA file when it was loaded (to notice a new bundle)."""

    stamp: tuple[int, int] | tuple[str | None, str | None]
    context: ssl.SSLContext


_lock = threading.Lock()
_contexts: dict[str | None, _Loaded] = {}


def tls_context(ca_file: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """The process's verifying client context for ``ca_file`` (``None``: the system store).

    The same object for every caller while the file is unchanged; see the module docstring.

    Raises:
        CaFileError: the file does not exist, cannot be read, or holds no PEM certificate.
    """
    if ca_file is None:
        key = None
        stamp: tuple[int, int] | tuple[str | None, str | None] = (
            os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    else:
        key = os.path.abspath(ca_file)
        try:
            status = os.stat(key)
        except FileNotFoundError:
            raise CaFileError(str(ca_file), "no such file") from None
        except OSError as exc:
            raise CaFileError(str(ca_file), exc.strerror or str(exc)) from None
        stamp = (status.st_mtime_ns, status.st_size)
    with _lock:
        loaded = _contexts.get(key)
        if loaded is not None and loaded.stamp == stamp:
            return loaded.context
        context = ssl.create_default_context() if key is None else _load(key, str(ca_file))
        _contexts[key] = _Loaded(stamp, context)
        return context


def _load(path: str, shown: str) -> ssl.SSLContext:
    """A context trusting ``path`` alone (a file or a hashed directory), as ``ca_file`` says."""
    directory = os.path.isdir(path)
    try:
        context = ssl.create_default_context(cafile=None if directory else path,
                                             capath=path if directory else None)
    except ssl.SSLError as exc:  # HTML, a key, a broken certificate ...: OpenSSL's reason
        if exc.reason == "NO_CERTIFICATE_OR_CRL_FOUND":
            raise CaFileError(shown, "holds no PEM certificate ('BEGIN CERTIFICATE')") from None
        raise CaFileError(shown, f"not a PEM certificate bundle ({exc.reason or exc})") from None
    except OSError as exc:
        raise CaFileError(shown, exc.strerror or str(exc)) from None
    if not directory and context.cert_store_stats()["x509_ca"] == 0:
        raise CaFileError(shown, "holds no CA certificate")
    return context


class TlsAdapter(requests.adapters.HTTPAdapter):
    """Verifies HTTPS servers with the process's shared context for ``ca_file``.

    With ``ca_file`` it trusts that file whatever the environment says (``REQUESTS_CA_BUNDLE``
    would otherwise replace it silently); without, ``verify=True`` uses the system store and a
    ``verify`` path (the environment's bundle, or a caller's) that file's shared context.
    ``verify=False`` is left to urllib3. ``adapter_options`` go to
    :class:`requests.adapters.HTTPAdapter` (``pool_maxsize`` ...).

    Raises:
        CaFileError: ``ca_file`` cannot be used.
    """

    def __init__(self, ca_file: str | None = None, **adapter_options: Any) -> None:
        self.ca_file = ca_file
        if ca_file is not None:
            tls_context(ca_file)  # a bad file fails here, not at the first request
        super().__init__(**adapter_options)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None,
    ) -> tuple[_HostParams, _PoolKwargs]:
        """The pool of ``request``: for HTTPS, one keyed by the shared context."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        if host_params.get("scheme") == "https" and verify is not False:
            source = self.ca_file if self.ca_file is not None or verify is True else verify
            # urllib3 would load these into the shared context, on every new connection
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = tls_context(source)
            pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """As requests does, but leave the CA to the pool's shared context.

        requests names the CA file on the pool for every request, and urllib3 would load it
        into the shared context again for every new connection (the cost this module saves).
        """
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if url.lower().startswith("https") and verify is not False:
            conn.ca_certs = None
            conn.ca_cert_dir = None


_pools_lock = threading.Lock()
_pools: dict[tuple[str, str | None], tuple[TlsAdapter, int]] = {}


def acquire_pools(account: str, ca_file: str | None) -> TlsAdapter:
    """The connection pools shared by the clients of ``account`` trusting ``ca_file``.

    Mount the adapter on the client's own ``requests.Session`` (cookies stay per consumer)
    for ``https://`` and ``http://``; call :func:`release_pools` when the client closes.

    Raises:
        CaFileError: ``ca_file`` cannot be used.
    """
    key = (account, None if ca_file is None else os.path.abspath(ca_file))
    with _pools_lock:
        adapter, users = _pools.get(key, (None, 0))
        if adapter is None:
            adapter = TlsAdapter(ca_file, pool_maxsize=POOL_SIZE)
        _pools[key] = (adapter, users + 1)
        return adapter


def release_pools(adapter: TlsAdapter) -> None:
    """A client is done with ``adapter``; the last one closes its idle connections."""
    with _pools_lock:
        for key, (shared, users) in list(_pools.items()):
            if shared is adapter:
                if users > 1:
                    _pools[key] = (shared, users - 1)
                    return
                del _pools[key]
                break
        else:
            return
    adapter.close()


#: the environment variables that decide a request's proxy (what requests reads for it)
_ENVIRONMENT: Final = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                       "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")
merge_setting = cast("Callable[[Any, Any], Any]", _merge_setting)  # untyped in requests
_proxies_lock = threading.Lock()
_proxies: dict[tuple[str, str, str | None, tuple[str | None, ...]], dict[str, str]] = {}


def environment_proxies(url: str, no_proxy: str | None = None) -> dict[str, str]:
    """``requests.utils.get_environ_proxies(url, no_proxy)``, read once per host and environment.

    requests reads every environment variable two or three times for each request to find
    its proxies; with a thousand consumers that was a tenth of the client's CPU per
    conversation. The answer depends only on the URL's scheme and host and on a few
    variables, so it is kept per (scheme, host, ``no_proxy``, those variables' values): a
    changed ``HTTPS_PROXY`` or ``NO_PROXY`` is seen at the next request.
    """
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, no_proxy, tuple(os.environ.get(n) for n in _ENVIRONMENT))
    with _proxies_lock:
        found = _proxies.get(key)
    if found is None:
        found = requests.utils.get_environ_proxies(url, no_proxy=no_proxy)
        with _proxies_lock:
            if len(_proxies) >= 1024:  # hosts come and go: keep it bounded
                _proxies.clear()
            _proxies[key] = found
    return dict(found)


class PooledSession(requests.Session):
    """A ``requests.Session`` that reads the proxy environment through :func:`environment_proxies`.

    Everything else is requests' own: cookies, headers and ``verify`` per session,
    ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` honoured, ``trust_env = False`` respected.
    """

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        """As ``requests.Session.merge_environment_settings``, with the proxies cached."""
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        if proxies is not None:
            for name, value in environment_proxies(url, no_proxy).items():
                proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                      or verify)
        return {"proxies": merge_setting(proxies, self.proxies),
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert)}


def shared_session(adapter: TlsAdapter) -> requests.Session:
    """A session of its own (cookies, headers) whose connections are ``adapter``'s."""
    session = PooledSession()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def ca_bundle(path: str | Path, *extra: str | Path) -> Path:
    """Write the system's CA store plus ``extra`` PEM files into ``path`` (one bundle).

    Production trusts the system store; a test or benchmark that also trusts a private CA (the
    sandbox's) without losing the system store's size and cost uses such a bundle.
    """
    paths = ssl.get_default_verify_paths()
    parts: list[str] = []
    if paths.cafile is not None and os.path.isfile(paths.cafile):
        parts.append(Path(paths.cafile).read_text())
    elif paths.capath is not None and os.path.isdir(paths.capath):
        parts += [entry.read_text() for entry in sorted(Path(paths.capath).glob("*.pem"))]
    parts += [Path(name).read_text() for name in extra]
    target = Path(path)
    target.write_text("\n".join(part.strip() for part in parts) + "\n")
    return target
