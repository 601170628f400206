"""Domain discovery through LivePerson's CSDS (protocol notes §1), cached and retried.

The all-services form is fetched once and cached for ``ttl`` seconds (node-agent-sdk caches the
map 60 s, §1.1); a network error, 429 or 5xx is retried with the injected :class:`Backoff`
(§3.5), waiting through the client's stop event so shutdown interrupts it.

The clients of one process that trust the same CA file share their answers through
:func:`shared_domains` (a :class:`DomainCache` per CA file, keyed by the CSDS URL, so by
domain and account; the answer is public, the same for every consumer): a thousand consumers
of one account look the domains up once a ``ttl``, not once each, and when many start
together one of them asks while the others wait for its answer (at most their own request
timeout, after which each asks for itself). A client that finds a host unreachable forgets the
answer it used, once, for everybody. An answer is kept while a client of its URL is open: when
the last one closes it is dropped (a server started later at the same address is asked anew).
"""

from __future__ import annotations

import itertools
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from lpbot.client.backoff import Backoff, Waiter, wait_on_event
from lpbot.errors import CertificateError, ConfigError, ConnectionClosed

__all__ = ["DEFAULT_CSDS_DOMAIN", "Discovery", "DomainCache", "http_retry_delay", "shared_domains",
           "untrusted_certificate"]

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


@dataclass(frozen=True, slots=True)
class _Answer:
    """One CSDS answer: the hosts by service, when it was fetched, and which fetch it was."""

    hosts: dict[str, str]
    fetched_at: float
    generation: int


class DomainCache:
    """CSDS answers shared by clients, per CSDS URL, with one fetch in flight per URL.

    Thread-safe. :class:`Discovery` reads it; see the module docstring.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, _Answer] = {}
        self._flights: dict[str, threading.Event] = {}
        self._users: dict[str, int] = {}
        self._generations = itertools.count(1)

    def hold(self, url: str) -> None:
        """A client of ``url`` opened: keep its answers until :meth:`release`."""
        with self._lock:
            self._users[url] = self._users.get(url, 0) + 1

    def release(self, url: str) -> None:
        """A client of ``url`` closed; the last one drops the answer."""
        with self._lock:
            users = self._users.get(url, 0) - 1
            if users > 0:
                self._users[url] = users
            else:
                self._users.pop(url, None)
                self._answers.pop(url, None)

    def answer(self, url: str, fetch: Callable[[], dict[str, str]], *, ttl: float,
               clock: Callable[[], float], wait: float) -> _Answer:
        """A fresh answer for ``url``: the cached one, another client's, or ``fetch()``'s.

        ``wait`` bounds the time spent waiting for another client's fetch of the same URL.
        ``fetch``'s errors propagate (nothing is cached then).
        """
        while True:
            with self._lock:
                found = self._answers.get(url)
                if found is not None and clock() - found.fetched_at < ttl:
                    return found
                flight = self._flights.get(url)
                leading = flight is None
                if flight is None:
                    flight = self._flights[url] = threading.Event()
            if not leading and flight.wait(wait):
                continue  # the other client is done: its answer, or our turn to ask
            try:
                hosts = fetch()
                with self._lock:
                    found = _Answer(hosts, clock(), next(self._generations))
                    if self._users.get(url):  # not after its last client closed
                        self._answers[url] = found
                return found
            finally:
                if leading:
                    with self._lock:
                        del self._flights[url]
                    flight.set()

    def forget(self, url: str, generation: int) -> None:
        """Drop the answer ``generation`` of ``url`` (a newer one, already refetched, stays)."""
        with self._lock:
            found = self._answers.get(url)
            if found is not None and found.generation == generation:
                del self._answers[url]


_shared_lock = threading.Lock()
_shared: dict[str | None, DomainCache] = {}


def shared_domains(ca_file: str | None) -> DomainCache:
    """The process's CSDS answers for clients trusting ``ca_file`` (None: the system store)."""
    key = None if ca_file is None else os.path.abspath(ca_file)
    with _shared_lock:
        return _shared.setdefault(key, DomainCache())


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
        cache: DomainCache | None = None,
    ) -> None:
        """``cache``: where answers are kept (default: this object's own, not shared)."""
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
        self._cache = cache if cache is not None else DomainCache()
        self._cache.hold(self.csds_url())
        self._closed = False
        self._used: _Answer | None = None  # the answer this client last used
        #: number of CSDS fetches this object made (tests check the cache with it)
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
        answer = self._cache.answer(self.csds_url(), self._fetch, ttl=self.ttl,
                                    clock=self._clock, wait=self.timeout)
        self._used = answer
        found = answer.hosts.get(service)
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

    def close(self) -> None:
        """Stop using the cache (idempotent): the last user of an answer drops it."""
        if not self._closed:
            self._closed = True
            self._cache.release(self.csds_url())

    def invalidate(self) -> None:
        """Forget the answer used (after a connection failure the hosts may have moved, §1.1)."""
        used, self._used = self._used, None
        if used is not None:
            self._cache.forget(self.csds_url(), used.generation)

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
