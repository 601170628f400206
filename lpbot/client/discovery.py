"""Domain discovery through LivePerson's CSDS (protocol.md §1), cached and retried.

The all-services form is fetched once and cached for ``ttl`` seconds (node-agent-sdk caches the
map 60 s, §1.1); a network error, 429 or 5xx is retried with the injected :class:`Backoff`
(§3.5), waiting through the client's stop event so shutdown interrupts it.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from lpbot.client.backoff import Backoff, Waiter, wait_on_event
from lpbot.errors import CertificateError, ConfigError, ConnectionClosed

__all__ = ["DEFAULT_CSDS_DOMAIN", "Discovery", "http_retry_delay", "untrusted_certificate"]

log = logging.getLogger(__name__)

#: LivePerson's public Domain API host (§1.1)
DEFAULT_CSDS_DOMAIN: Final = "api.liveperson.net"


def http_retry_delay(status: int | None, attempt: int, backoff: Backoff) -> float | None:
    """The delay before retrying an HTTP call that ended with ``status`` (None = network error).

    ``None`` means "do not retry": 4xx other than 408/429 is a request to fix (§3.5).
    """
    if status is None or status == 408 or status >= 500:
        return backoff.delay(attempt)
    if status == 429:
        return backoff.rate_limited(attempt)
    return None


def untrusted_certificate(error: BaseException, url: str, *,
                          service: str | None = None) -> CertificateError | None:
    """A ``CertificateError`` if ``error`` was caused by certificate verification, else None.

    requests, urllib3 and websocket-client each wrap ``ssl.SSLCertVerificationError`` their
    own way; the chain of causes, contexts, ``reason`` and ``args`` is searched for it.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            host = urlsplit(url).netloc or url
            reason = current.verify_message or str(current)
            if current.reason:  # OpenSSL's code, what people search for
                reason = f"{current.reason}: {reason}"
            return CertificateError(host, reason, service=service)
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args)
        stack += [item for item in linked if isinstance(item, BaseException)]
    return None


class Discovery:
    """Looks up service hosts (``asyncMessagingEnt``, ``idp`` ...) for one account.

    Example:
        >>> discovery = Discovery("123", session=requests.Session())     # doctest: +SKIP
        >>> discovery.url("idp", "/api/account/123/signup")                # doctest: +SKIP
        'https://va.idp.liveperson.net/api/account/123/signup'
    """

    def __init__(
        self,
        account: str,
        *,
        session: requests.Session,
        csds_domain: str = DEFAULT_CSDS_DOMAIN,
        tls: bool = True,
        ttl: float = 60.0,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        waiter: Waiter = wait_on_event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.csds_domain = csds_domain
        self.tls = tls
        self.ttl = ttl
        self.timeout = timeout
        self._session = session
        self._backoff = backoff if backoff is not None else Backoff()
        self._stop = stop if stop is not None else threading.Event()
        self._waiter = waiter
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, str] = {}
        self._fetched_at: float | None = None
        #: number of CSDS fetches made (tests check the cache with it)
        self.fetches = 0

    @property
    def http_scheme(self) -> str:
        """``https`` unless the configuration turned TLS off (a local sandbox)."""
        return "https" if self.tls else "http"

    @property
    def ws_scheme(self) -> str:
        """``wss`` unless the configuration turned TLS off."""
        return "wss" if self.tls else "ws"

    def csds_url(self) -> str:
        """The all-services CSDS URL (§1.1; ``version=1.0`` is required)."""
        return (f"{self.http_scheme}://{self.csds_domain}/api/account/{self.account}"
                "/service/baseURI.json?version=1.0")

    def host(self, service: str) -> str:
        """The host of ``service`` (case-sensitive name, §1.1), from the cache when fresh."""
        with self._lock:
            fresh = (self._fetched_at is not None
                     and self._clock() - self._fetched_at < self.ttl)
            if not fresh:
                self._cache = self._fetch()
                self._fetched_at = self._clock()
            found = self._cache.get(service)
        if found is None:
            # An unknown account may also be answered with no services at all.
            raise ConfigError(f"CSDS at {self.csds_domain} has no service {service!r} for "
                              f"account {self.account!r}: check the account id and csds_domain",
                              key="account.id")
        return found

    def url(self, service: str, path: str = "", *, websocket: bool = False) -> str:
        """``scheme://host`` of ``service`` plus ``path``; ``websocket`` picks ``wss``/``ws``."""
        scheme = self.ws_scheme if websocket else self.http_scheme
        return f"{scheme}://{self.host(service)}{path}"

    def invalidate(self) -> None:
        """Forget the cache (after a connection failure the hosts may have moved, §1.1)."""
        with self._lock:
            self._fetched_at = None

    def _fetch(self) -> dict[str, str]:
        attempt = 0
        while True:
            status: int | None = None
            try:
                response = self._session.get(self.csds_url(), timeout=self.timeout)
                status = response.status_code
                if status == 200:
                    self.fetches += 1
                    return _parse_csds(response.json())
                error: Exception = ConnectionError(f"CSDS answered HTTP {status}")
            except (requests.RequestException, ValueError) as exc:
                untrusted = untrusted_certificate(exc, self.csds_url(), service="CSDS")
                if untrusted is not None:
                    raise untrusted from exc
                error = exc
            delay = http_retry_delay(status, attempt, self._backoff)
            if status == 401:  # §1.1: "401 bad authentication (invalid site)"
                raise ConfigError(f"CSDS does not know account {self.account!r} (HTTP 401 from "
                                  f"{self.csds_domain}): check the account id",
                                  key="account.id") from error
            if delay is None:  # other 4xx: a request to fix; retrying cannot help
                raise ConfigError(f"CSDS lookup failed: {error}", key="account") from error
            if attempt >= self._backoff.request_retries:
                raise ConnectionClosed(f"CSDS lookup failed: {error}") from error
            log.warning("CSDS lookup failed (%s); retry %d in %.3g s", error, attempt + 1, delay)
            if self._waiter(self._stop, delay):
                raise ConnectionClosed("client closed during CSDS lookup")
            attempt += 1


def _parse_csds(payload: Any) -> dict[str, str]:
    # Both shapes of §1.1: {"baseURIs": [...]} and a single {"service", "baseURI"} object.
    entries: Any
    if isinstance(payload, Mapping) and "baseURIs" in payload:
        entries = payload["baseURIs"]
    else:
        entries = [payload]
    found: dict[str, str] = {}
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, Mapping):
                service, base = entry.get("service"), entry.get("baseURI")
                if isinstance(service, str) and isinstance(base, str):
                    found[service] = base
    return found
