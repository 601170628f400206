"""Decode speed of lpbot's codec against a bare json.loads, and of orjson (which it parses with).

Run: python benchmarks/codec.py   (prints ratios; no assertion, no network)

The client's receive benchmark compares a full receive loop against websocket-client +
json.loads; this one isolates what the protocol model adds per frame, so a regression
shows up here first.
"""

from __future__ import annotations

import json
import timeit

import orjson

from lpbot.protocol import ContentEvent, PublishEvent
from lpbot.protocol.codec import Decoder, encode

AGENT_TEXT = json.dumps(
    {
        "kind": "notification",
        "body": {
            "changes": [
                {
                    "sequence": 2,
                    "originatorId": "29c3019d-fe0b-5200-afe8-737abfeae4b4",
                    "originatorMetadata": {
                        "id": "29c3019d-fe0b-5200-afe8-737abfeae4b4",
                        "role": "ASSIGNED_AGENT",
                    },
                    "serverTimestamp": 1538492183879,
                    "event": {
                        "type": "ContentEvent",
                        "message": "Hello again",
                        "contentType": "text/plain",
                    },
                    "conversationId": "7507be78-60ef-4468-b3b1-baa47fbeea21",
                    "dialogId": "7507be78-60ef-4468-b3b1-baa47fbeea21",
                }
            ]
        },
        "type": "ms.MessagingEventNotification",
    },
    separators=(",", ":"),
)
RESPONSE = json.dumps(
    {
        "kind": "resp",
        "reqId": "4",
        "code": 200,
        "body": {"sequence": 4},
        "type": "ms.PublishEventResponse",
    },
    separators=(",", ":"),
)
# websocket-client with wsaccel receives about 70k frames/s here (the client issue's figure).
RECV_US = 1e6 / 70_000


def best(stmt, number: int = 20_000, repeat: int = 7) -> float:
    """Best time per call in microseconds."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e6


def row(label: str, micros: float, note: str = "") -> None:
    print(f"  {label:<22}{micros:6.2f} us   {note}")


def main() -> None:
    decoder = Decoder()
    loads_us = best(lambda: json.loads(AGENT_TEXT))
    orjson_us = best(lambda: orjson.loads(AGENT_TEXT))
    decode_us = best(lambda: decoder.decode(AGENT_TEXT))
    print(f"messaging notification ({len(AGENT_TEXT)} bytes)")
    row("json.loads", loads_us)
    row("orjson.loads", orjson_us, f"ratio orjson/json.loads {orjson_us / loads_us:.2f} "
        "(lpbot parses with orjson)")
    row("Decoder.decode", decode_us, f"ratio decode/json.loads {decode_us / loads_us:.2f}")
    row("typed objects add", decode_us - orjson_us, "per frame")
    estimate = (RECV_US + loads_us) / (RECV_US + decode_us)
    print(f"  receive loop at 70k frames/s raw receive: {estimate:.2f}x of raw (goal >= 0.8)")

    resp_loads_us = best(lambda: json.loads(RESPONSE))
    resp_decode_us = best(lambda: decoder.decode(RESPONSE))
    print(f"response ({len(RESPONSE)} bytes)")
    row("json.loads", resp_loads_us)
    row("Decoder.decode", resp_decode_us, f"ratio {resp_decode_us / resp_loads_us:.2f}")

    request = PublishEvent(dialog_id="7507be78", event=ContentEvent.text_plain("hello"))
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": "hello"}
    frame = {
        "kind": "req",
        "id": "1",
        "type": "ms.PublishEvent",
        "body": {"dialogId": "7507be78", "event": event},
    }
    dumps_us = best(lambda: json.dumps(frame))
    encode_us = best(lambda: encode(request, "1"))
    print("publish request")
    row("json.dumps(dict)", dumps_us)
    row("encode(PublishEvent)", encode_us, f"ratio {encode_us / dumps_us:.2f}")


if __name__ == "__main__":
    main()
