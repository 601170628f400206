"""JWTs are found by structure, in every place lpbot masks them, whatever their header's spacing.

The four places that mask tokens (log handlers, ``lpbot sandbox``'s log filter, the transcript
logger, the client's malformed-frame report) all use :mod:`lpbot.redaction`; each is checked
with tokens whose header does not start ``eyJ`` (a JSON header with spaces or a leading
newline), which the old ``eyJ...`` patterns let through.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator

import pytest

from lpbot.cli.sandbox import MaskTokens
from lpbot.client import Client, ClientOptions
from lpbot.redaction import JWT_PATTERN, Redactor, find_jwts, is_jwt, mask_jwts
from lpbot.runtime.logs import configure_logging
from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until
from lpbot_plugins.transcript_logger import Redactor as TranscriptRedactor


def b64(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def token(header: str, claims: str = '{"sub":"consumer","exp":1882358943}',
          *rest: str) -> str:
    return ".".join([b64(header), b64(claims), *(rest or ("c2lnbmF0dXJl",))])


TOKENS = {
    "compact header": token('{"alg":"RS256","typ":"JWT"}'),
    "spaced header": token('{ "alg": "RS256", "typ": "JWT" }'),
    "leading newline": token('\n{"alg":"RS256"}'),
    "pretty header": token('{\n  "alg": "HS256",\n  "kid": "00001"\n}'),
    "no signature": token('{"alg":"none"}', '{"sub":"x"}', ""),
    "encrypted (JWE)": ".".join([b64('{"alg":"RSA-OAEP-256","enc":"A256GCM"}'), "a2V5",
                                 "aXYtaXYtaXY", "Y2lwaGVydGV4dA", "dGFnLXRhZw"]),
}
#: dotted text that is no token and must be left alone
NOT_TOKENS = ["lpbot.client.supervisor", "127.0.0.1", "version 1.2.3", "jobs.sqlite.bak",
              "a.b.c.d.e", "eyJ.eyJ.eyJ", "www.example.com/a.b.c"]


def test_the_old_prefix_pattern_missed_these_tokens() -> None:
    import re

    old = r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    missed = [name for name, jwt in TOKENS.items() if not re.search(old, jwt)]
    assert missed == ["spaced header", "leading newline", "pretty header"]


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_tokens_are_found_whole_wherever_they_sit(name: str) -> None:
    jwt = TOKENS[name]
    assert is_jwt(jwt)
    for text in (jwt, f"token {jwt} end", f'{{"jwt":"{jwt}"}}', f"x.{jwt}.y", f"Bearer:{jwt}",
                 f"tok{jwt}" if jwt.startswith("ey") else f"tok {jwt}"):
        assert find_jwts(text) == [jwt], text
        masked = mask_jwts(text)
        assert jwt.split(".")[1] not in masked, masked  # the claims never survive
        assert "***" in masked


@pytest.mark.parametrize("text", NOT_TOKENS)
def test_dotted_text_is_left_alone(text: str) -> None:
    assert mask_jwts(text) == text
    assert find_jwts(text) == []
    assert not is_jwt(text)


def test_the_pattern_is_only_the_shape() -> None:
    import re

    assert re.fullmatch(JWT_PATTERN, "lpbot.client.supervisor")  # shape, not a token:
    assert not is_jwt("lpbot.client.supervisor")  # the header decides


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(level="DEBUG", log_format="json", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_log_handlers_mask_every_token(output: io.StringIO, name: str) -> None:
    jwt = TOKENS[name]
    log = logging.getLogger("lpbot.test")
    log.info("identity %s for consumer-1", jwt)
    log.info("frame %s", {"jwt": jwt})
    try:
        raise ValueError(f"refused {jwt}")
    except ValueError:
        log.exception("failed")
    text = output.getvalue()
    assert jwt.split(".")[1] not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries[0]["message"] == "identity *** for consumer-1"


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_the_sandbox_log_filter_masks_every_token(name: str) -> None:
    jwt = TOKENS[name]
    record = logging.LogRecord("websockets.server", logging.DEBUG, __file__, 1,
                               "> Authorization: jwt %s", (jwt,), None)
    assert MaskTokens().filter(record)
    assert record.getMessage() == "> Authorization: jwt ***"


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_the_transcript_logger_masks_every_token(name: str) -> None:
    jwt = TOKENS[name]
    redact = TranscriptRedactor((r"card=\d+",))
    record = {"event": {"message": f"my token is {jwt}, card=4111", "files": [jwt]}}
    assert redact(record) == {"event": {"message": "my token is ***, ***", "files": ["***"]}}


def test_one_redactor_for_text_masks_authorization_patterns_and_secrets() -> None:
    redact = Redactor([r"card=\d+"], ["hunter2"])
    spaced = TOKENS["spaced header"]
    assert redact(f"Authorization: Bearer opaque card=1 hunter2 {spaced}") == (
        "Authorization: *** *** *** ***")
    assert Redactor(authorization=False)("authorization: kept") == "authorization: kept"


def test_a_pattern_with_inline_flags_works_beside_others() -> None:
    # Found by the config fuzz: joined into one alternation, "(?i)..." no longer compiled and
    # `lpbot run` died at start on a [logging] redact that check-config had accepted.
    redact = Redactor(["(?i)card=\\d+", "(?s)pin=.."], ["hunter2"])
    assert redact("CARD=4111 pin=12 hunter2") == "*** *** ***"


def test_the_client_masks_tokens_in_malformed_frames(
    lp_sandbox: Sandbox, tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    spaced = TOKENS["spaced header"]
    client = Client(ClientOptions(account=lp_sandbox.account, csds_domain=lp_sandbox.csds_domain,
                                  tls=False))
    try:
        client.connect(timeout=10)
        with caplog.at_level(logging.WARNING, logger="lpbot.client"):
            lp_sandbox.faults.send_malformed(f'{{"jwt": "{spaced}", oops')
            wait_until(lambda: client.stats.malformed_frames == 1, 5, "the frame to be counted")
    finally:
        client.close()
    logged = [record.getMessage() for record in caplog.records
              if record.name.startswith("lpbot.client") and "malformed" in record.getMessage()]
    assert logged
    assert not any(spaced.split(".")[1] in message for message in logged), logged
    assert any("***" in message for message in logged)
