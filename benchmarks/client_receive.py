"""Receive throughput: lpbot's client against a raw websocket-client loop, same server.

Run: python benchmarks/client_receive.py [COUNT]

A push server in another process (push_server.py) sends COUNT messaging notifications back to
back. "raw" is websocket-client's ``recv()`` plus ``json.loads`` per frame; "client" is
lpbot's Client receiving them, decoding each into typed objects (MessagingEventNotification,
MessagingEvent, ContentEvent), de-duplicating by (dialog, sequence) and handing it to a no-op
callback. Rates are measured from the first message to the last, best of interleaved
rounds; the printed ratio is client / raw (target: at least 0.8).
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time

from _common import interleaved, push_server, raw_connection, wsaccel_status

from lpbot.client import Client, ClientOptions
from lpbot.client.backoff import Backoff
from lpbot.protocol.notifications import MessagingEvent

CONVERSATION = "bench-conversation-0000-0000-000000000000"


def raw_rate(port: int, count: int) -> float:
    ws = raw_connection(port)
    try:
        ws.send(json.dumps({"kind": "req", "id": "1", "type": "ms.SubscribeMessagingEvents",
                            "body": {"dialogId": CONVERSATION, "fromSeq": 0}}))
        json.loads(ws.recv())  # the subscribe response
        json.loads(ws.recv())
        start = time.perf_counter()
        for _ in range(count - 1):
            json.loads(ws.recv())
        return (count - 1) / (time.perf_counter() - start)
    finally:
        ws.close()


def client_rate(port: int, count: int, *, auto_commit: bool = False) -> float:
    done = threading.Event()
    seen = 0
    start = end = 0.0

    def on_message(event: MessagingEvent) -> None:
        nonlocal seen, start, end
        seen += 1
        if seen == 1:
            start = time.perf_counter()
        elif seen == count:
            end = time.perf_counter()
            done.set()

    with tempfile.TemporaryDirectory() as state:
        options = ClientOptions(account="bench", csds_domain=f"127.0.0.1:{port}", tls=False,
                                backoff=Backoff.immediate(), auto_commit=auto_commit)
        client = Client(options, state_dir=state if auto_commit else None,
                        on_message=on_message)
        try:
            client.connect(timeout=10)
            if not done.wait(120):
                raise SystemExit(f"only {seen} of {count} messages arrived")
        finally:
            client.close()
    return (count - 1) / (end - start)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(wsaccel_status())
    with push_server(count) as port:
        rates = interleaved(
            5,
            raw=lambda: raw_rate(port, count),
            client=lambda: client_rate(port, count),
            committing=lambda: client_rate(port, count, auto_commit=True),
        )
    raw, client, committing = rates["raw"], rates["client"], rates["committing"]
    print(f"messages per run: {count}")
    print(f"raw websocket-client recv + json.loads: {raw:10,.0f} msg/s")
    print(f"lpbot Client, typed + deduped + callback: {client:10,.0f} msg/s  "
          f"ratio {client / raw:.2f}x (target >= 0.80)")
    print(f"  same with auto_commit to SQLite (WAL):  {committing:10,.0f} msg/s  "
          f"ratio {committing / raw:.2f}x (per-event durable commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
