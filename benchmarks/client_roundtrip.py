"""Request round trips on one connection: lpbot's client against raw websocket-client.

Run: python benchmarks/client_roundtrip.py [COUNT]

The push server (push_server.py, another process) answers every request at once.

* "raw" sends a ``GetClock`` frame with websocket-client, then ``recv()`` + ``json.loads`` and a
  reqId check, COUNT times, all in the calling thread: nobody else reads the socket, so it
  cannot receive notifications while the application is busy.
* "raw app" is websocket-client's ``WebSocketApp``: ``run_forever`` on a thread, ``json.loads``
  in ``on_message``, the response handed to the caller through a released lock. This is the
  shape of any client that keeps receiving notifications while the application is busy.
* "raw threaded" is the least such a client can pay: a bare reader thread doing ``recv()`` +
  ``json.loads`` and the same lock hand-off (one thread switch per round trip).
* "client" is ``Client.request(GetClock())``: typed request, encoded, correlated by reqId
  through a reply slot resolved by the reader thread, parsed into its typed result.

Best of interleaved rounds; ratios are client / raw (the issue's target: at least 0.8),
client / raw app and client / raw threaded. ``Conversation.send_text`` (ms.PublishEvent) is
measured the same way.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import websocket
from _common import WS_PATH, interleaved, push_server, raw_connection, wsaccel_status

from lpbot.client import Client, ClientOptions
from lpbot.client.backoff import Backoff
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


def raw_app_rate(port: int, count: int, frame: dict) -> float:
    slots: dict[str, list] = {}
    opened = threading.Event()

    def on_message(app: websocket.WebSocketApp, text: str) -> None:
        answer = json.loads(text)
        slot = slots.pop(answer["reqId"])
        slot[1] = answer
        slot[0].release()

    app = websocket.WebSocketApp(f"ws://127.0.0.1:{port}{WS_PATH}", on_message=on_message,
                                 on_open=lambda app: opened.set())
    thread = threading.Thread(target=app.run_forever, name="bench-raw-app")
    thread.start()
    try:
        opened.wait(10)
        start = time.perf_counter()
        for n in range(count):
            req_id = str(n)
            gate = threading.Lock()
            gate.acquire()
            slots[req_id] = [gate, None]
            app.send(json.dumps({**frame, "id": req_id}))
            gate.acquire()
        return count / (time.perf_counter() - start)
    finally:
        app.close()
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
            app_clock=lambda: raw_app_rate(port, count, clock_frame),
            app_publish=lambda: raw_app_rate(port, count, publish_frame),
            threaded_clock=lambda: raw_threaded_rate(port, count, clock_frame),
            threaded_publish=lambda: raw_threaded_rate(port, count, publish_frame),
            client_clock=client,
            client_publish=lambda: client_runs[-1][1],
        )
    print(f"round trips per run: {count}")
    for label, key in (("GetClock", "clock"), ("ms.PublishEvent", "publish")):
        raw, app, threaded, mine = (rates[f"raw_{key}"], rates[f"app_{key}"],
                                    rates[f"threaded_{key}"], rates[f"client_{key}"])
        print(f"{label}: raw {raw:,.0f}/s, raw app {app:,.0f}/s, raw threaded {threaded:,.0f}/s, "
              f"client {mine:,.0f}/s")
        print(f"  client/raw {mine / raw:.2f}x (target >= 0.80)   client/raw app "
              f"{mine / app:.2f}x   client/raw threaded {mine / threaded:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
