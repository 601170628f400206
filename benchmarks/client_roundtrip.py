"""Request round trips on one connection: lpbot's client against raw websocket-client.

Run: python benchmarks/client_roundtrip.py [COUNT]

The push server (push_server.py, another process) answers every request at once.

* "raw" sends a ``GetClock`` frame with websocket-client, then ``recv()`` + ``json.loads`` and a
  reqId check, COUNT times, all in the calling thread: nobody else reads the socket, so it
  cannot receive notifications while the application is busy.
* "raw threaded" is the same with a reader thread doing ``recv()`` + ``json.loads`` and handing
  each response to the caller through a released lock: the least a client that keeps
  receiving notifications must pay (one thread hand-off per round trip).
* "client" is ``Client.request(GetClock())``: typed request, encoded, correlated by reqId
  through a reply slot resolved by the reader thread, parsed into its typed result.

Best of interleaved rounds; ratios are client / raw (target: at least 0.8) and client /
raw threaded. A second line runs ``Conversation.send_text`` (ms.PublishEvent) the same way.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from _common import interleaved, push_server, raw_connection, wsaccel_status

from lpbot.backoff import Backoff
from lpbot.client import Client, ClientOptions
from lpbot.protocol.requests import GetClock

CONVERSATION = "bench-conversation-0000-0000-000000000000"


def raw_rate(port: int, count: int, frame: dict) -> float:
    ws = raw_connection(port)
    try:
        start = time.perf_counter()
        for n in range(count):
            req_id = str(n)
            ws.send(json.dumps({**frame, "id": req_id}))
            answer = json.loads(ws.recv())
            if answer["reqId"] != req_id:
                raise SystemExit("out of order")
        return count / (time.perf_counter() - start)
    finally:
        ws.close()


def raw_threaded_rate(port: int, count: int, frame: dict) -> float:
    ws = raw_connection(port)
    slots: dict[str, list] = {}

    def reader() -> None:
        while True:
            try:
                answer = json.loads(ws.recv())
            except Exception:  # noqa: BLE001 - the socket closed: the benchmark is over
                return
            slot = slots.pop(answer["reqId"])
            slot[1] = answer
            slot[0].release()

    thread = threading.Thread(target=reader, name="bench-raw-reader")
    thread.start()
    try:
        start = time.perf_counter()
        for n in range(count):
            req_id = str(n)
            gate = threading.Lock()
            gate.acquire()
            slots[req_id] = [gate, None]
            ws.send(json.dumps({**frame, "id": req_id}))
            gate.acquire()
        return count / (time.perf_counter() - start)
    finally:
        ws.close()
        thread.join()


def client_rates(port: int, count: int) -> tuple[float, float]:
    options = ClientOptions(account="bench", csds_domain=f"127.0.0.1:{port}", tls=False,
                            backoff=Backoff.immediate(), auto_follow=False)
    with Client(options) as client:
        client.connect(timeout=10)
        request = GetClock()
        start = time.perf_counter()
        for _ in range(count):
            client.request(request)
        clock = count / (time.perf_counter() - start)
        conversation = client.conversation(CONVERSATION)
        start = time.perf_counter()
        for _ in range(count):
            conversation.send_text("hello")
        publish = count / (time.perf_counter() - start)
    return clock, publish


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    print(wsaccel_status())
    clock_frame = {"kind": "req", "type": "GetClock"}
    publish_frame = {"kind": "req", "type": "ms.PublishEvent", "body": {
        "dialogId": CONVERSATION, "event": {"type": "ContentEvent",
                                            "contentType": "text/plain", "message": "hello"}}}
    with push_server(1) as port:
        client_runs: list[tuple[float, float]] = []

        def client() -> float:
            client_runs.append(client_rates(port, count))
            return client_runs[-1][0]

        rates = interleaved(
            7,
            raw_clock=lambda: raw_rate(port, count, clock_frame),
            raw_publish=lambda: raw_rate(port, count, publish_frame),
            threaded_clock=lambda: raw_threaded_rate(port, count, clock_frame),
            threaded_publish=lambda: raw_threaded_rate(port, count, publish_frame),
            client_clock=client,
            client_publish=lambda: client_runs[-1][1],
        )
    print(f"round trips per run: {count}")
    for label, key in (("GetClock", "clock"), ("ms.PublishEvent", "publish")):
        raw, threaded, mine = (rates[f"raw_{key}"], rates[f"threaded_{key}"],
                               rates[f"client_{key}"])
        print(f"{label:16} raw {raw:8,.0f}/s  raw threaded {threaded:8,.0f}/s  "
              f"client {mine:8,.0f}/s  client/raw {mine / raw:.2f}x  "
              f"client/raw threaded {mine / threaded:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
