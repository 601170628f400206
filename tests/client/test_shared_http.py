"""What the clients of one process share over HTTP: domain lookups and the proxy environment.

Real sockets: the tests' scripted CSDS, which records its requests, serves as the domain lookup,
as a proxy and as an origin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from scripted_csds import ScriptedCsds, base_uris

from lpbot.client.discovery import Discovery, DomainCache
from lpbot.client.tls import PooledSession

#: the answer of the scripted CSDS: one service
HOSTS = base_uris({"idp": "idp.example"})


@pytest.fixture
def csds() -> Iterator[ScriptedCsds]:
    with ScriptedCsds(200, HOSTS) as server:
        yield server


def discovery(server: ScriptedCsds, cache: DomainCache, session: requests.Session) -> Discovery:
    return Discovery("a", session=session, csds_domain=server.domain, tls=False, cache=cache)


def test_consumers_starting_together_look_the_domains_up_once(csds: ScriptedCsds) -> None:
    cache = DomainCache()
    csds.release.clear()  # the first lookup is held until every consumer asks
    hosts: list[str] = []
    with requests.Session() as session:
        lookups = [discovery(csds, cache, session) for _ in range(10)]
        threads = [threading.Thread(target=lambda d=d: hosts.append(d.host("idp")))
                   for d in lookups]
        for thread in threads:
            thread.start()
        assert csds.arrived.wait(10)
        csds.release.set()
        for thread in threads:
            thread.join(10)
    assert hosts == ["idp.example"] * 10
    assert len(csds.targets) == 1
    assert sum(d.fetches for d in lookups) == 1


def test_a_consumer_forgets_only_the_answer_it_used(csds: ScriptedCsds) -> None:
    cache = DomainCache()
    with requests.Session() as session:
        a, b, c = (discovery(csds, cache, session) for _ in range(3))
        a.host("idp")
        b.host("idp")
        assert len(csds.targets) == 1
        a.invalidate()  # A could not reach a host: the answer goes, for everybody
        c.host("idp")
        assert len(csds.targets) == 2
        b.invalidate()  # B's failure was with the old answer: the new one stays
        c.host("idp")
        a.host("idp")
        assert len(csds.targets) == 2


def test_a_private_cache_is_the_default(csds: ScriptedCsds) -> None:
    with requests.Session() as session:
        first = Discovery("a", session=session, csds_domain=csds.domain, tls=False)
        second = Discovery("a", session=session, csds_domain=csds.domain, tls=False)
        first.host("idp")
        second.host("idp")
    assert len(csds.targets) == 2


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                   "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def test_the_pooled_session_follows_the_proxy_environment_as_it_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with (ScriptedCsds(200, HOSTS) as origin, ScriptedCsds(200, HOSTS) as proxy,
          PooledSession() as session):
        url = f"http://{origin.domain}/api/x"
        session.get(url, timeout=10)
        assert origin.targets == ["/api/x"]
        monkeypatch.setenv("http_proxy", f"http://{proxy.domain}")
        session.get(url, timeout=10)
        assert proxy.targets == [url]  # a proxy gets the absolute URL
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        session.get(url, timeout=10)
        assert origin.targets == ["/api/x", "/api/x"]
        monkeypatch.delenv("NO_PROXY")
        session.get(url, timeout=10)
        assert proxy.targets == [url, url]
        session.trust_env = False  # as requests: no environment at all
        session.get(url, timeout=10)
        assert origin.targets == ["/api/x"] * 3


def test_the_answer_is_dropped_when_its_last_client_closes(csds: ScriptedCsds) -> None:
    # a server started later at the same address (a test's next sandbox) is asked anew
    cache = DomainCache()
    with requests.Session() as session:
        first, second = discovery(csds, cache, session), discovery(csds, cache, session)
        first.host("idp")
        first.close()
        second.host("idp")  # still held by the second client
        assert len(csds.targets) == 1
        second.close()
        third = discovery(csds, cache, session)
        third.host("idp")
        assert len(csds.targets) == 2
