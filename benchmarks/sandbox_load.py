"""Load benchmark of the sandbox: N consumers, each with a conversation and 10 echoed messages.

The sandbox runs in its own process (``python -m lpbot sandbox``), so its memory is measured
alone (VmRSS from /proc/PID/status, minus the idle baseline). The consumers live in this process
on one asyncio loop (the ``websockets`` client). Loopback only; every loop is bounded.

    python benchmarks/sandbox_load.py                  # 500 consumers
    python benchmarks/sandbox_load.py --consumers 1000
    python benchmarks/sandbox_load.py --tls            # https/wss, as LivePerson
    python benchmarks/sandbox_load.py --compare        # plain, then TLS: ratios of one run

Printed: connections held, conversations/s, messages/s routed (consumer messages plus agent
echoes, each delivered back over the socket), and server RSS per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import selectors
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

MESSAGES = 10


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def start_server(account: str, ca_file: str | None) -> tuple[subprocess.Popen[str], str]:
    args = [
        sys.executable,
        "-m",
        "lpbot",
        "sandbox",
        "--port",
        "0",
        "--account",
        account,
        "--agents",
        "10",
        "--agent-mode",
        "echo",
        "--accept-delay",
        "0",
        "--reply-delay",
        "0",
        "--greeting",
        "",
        "--no-receipts",
        "--no-typing",
        "--idle-timeout",
        "600",
        "--log-level",
        "WARNING",
        *(["--tls", "--ca-file", ca_file] if ca_file else []),
    ]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert server.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        if not selector.select(30):
            server.kill()
            raise RuntimeError("the sandbox did not start within 30 s")
    return server, server.stdout.readline().strip()


def discover(csds_url: str, context: ssl.SSLContext | None) -> dict[str, str]:
    with urllib.request.urlopen(csds_url, timeout=10, context=context) as reply:  # noqa: S310
        return {s["service"]: s["baseURI"] for s in json.load(reply)["baseURIs"]}


def signup(idp: str, account: str, context: ssl.SSLContext | None) -> str:
    scheme = "https" if context else "http"
    url = f"{scheme}://{idp}/api/account/{account}/signup"
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback URL
    with urllib.request.urlopen(request, timeout=30, context=context) as reply:  # noqa: S310
        token: str = json.load(reply)["jwt"]
        return token


class Consumer:
    """One benchmark consumer on the shared loop."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

    async def request(self, type_name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        req_id = str(self.next_id)
        frame: dict[str, Any] = {"kind": "req", "id": req_id, "type": type_name}
        if body is not None:
            frame["body"] = body
        await self.ws.send(json.dumps(frame))
        for _ in range(1000):  # bounded: skip notifications until our response
            message = json.loads(await self.ws.recv())
            if message.get("reqId") == req_id:
                if message["code"] != 200:
                    raise RuntimeError(f"{type_name} failed: {message}")
                return dict(message)
        raise RuntimeError(f"no response to {type_name}")

    async def open_conversation(self) -> str:
        cid = (await self.request("cm.ConsumerRequestConversation"))["body"]["conversationId"]
        await self.request("ms.SubscribeMessagingEvents", {"dialogId": cid})
        return str(cid)

    async def exchange(self, cid: str, count: int) -> int:
        """Publish ``count`` texts, then read until every one came back from the agent."""
        for index in range(count):
            event = {"type": "ContentEvent", "contentType": "text/plain", "message": f"m{index}"}
            frame = {
                "kind": "req",
                "id": f"p{index}",
                "type": "ms.PublishEvent",
                "body": {"dialogId": cid, "event": event},
            }
            await self.ws.send(json.dumps(frame))
        agent_replies = own_echoes = 0
        for _ in range(count * 10):  # bounded read loop
            if agent_replies == count and own_echoes == count:
                break
            message = json.loads(await self.ws.recv())
            if message.get("kind") != "notification":
                continue
            for change in message["body"]["changes"]:
                if change["originatorMetadata"]["role"] == "CONSUMER":
                    own_echoes += 1
                else:
                    agent_replies += 1
        if agent_replies != count:
            raise RuntimeError(f"only {agent_replies} of {count} echoes")
        return agent_replies + own_echoes


async def run(args: argparse.Namespace, tls: bool) -> dict[str, float]:
    raise_nofile(args.consumers * 2 + 256)
    ca_dir = tempfile.TemporaryDirectory(prefix="bench-ca-")
    ca_file = f"{ca_dir.name}/ca.pem" if tls else None
    server, csds_url = start_server(args.account, ca_file)
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    try:
        services = discover(csds_url, context)
        scheme = "wss" if tls else "ws"
        ws_url = (f"{scheme}://{services['asyncMessagingEnt']}/ws_api/account/{args.account}"
                  "/messaging/consumer?v=3")
        baseline = rss_kib(server.pid)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="bench-signup") as pool:
            tokens = list(pool.map(lambda _: signup(services["idp"], args.account, context),
                                   range(args.consumers)))
        signup_s = time.perf_counter() - started

        gate = asyncio.Semaphore(100)

        async def open_one(token: str) -> Consumer:
            async with gate:
                ws = await connect(
                    ws_url,
                    additional_headers={"Authorization": f"jwt {token}"},
                    ping_interval=None,
                    compression=None,
                    open_timeout=60,
                    max_queue=64,
                    ssl=context,
                )
                return Consumer(ws)

        started = time.perf_counter()
        consumers = await asyncio.gather(*(open_one(t) for t in tokens))
        connect_s = time.perf_counter() - started
        held_rss = rss_kib(server.pid)

        started = time.perf_counter()
        cids = await asyncio.gather(*(c.open_conversation() for c in consumers))
        conversations_s = time.perf_counter() - started

        started = time.perf_counter()
        delivered = await asyncio.gather(
            *(c.exchange(cid, MESSAGES) for c, cid in zip(consumers, cids, strict=True))
        )
        messages_s = time.perf_counter() - started
        peak_rss = rss_kib(server.pid)

        open_now = sum(1 for c in consumers if c.ws.state.name == "OPEN")
        await asyncio.gather(*(c.ws.close() for c in consumers))

        n = args.consumers
        routed = n * MESSAGES * 2  # consumer messages + agent echoes
        rows = [
            ("consumers connected and held", f"{open_now} / {n}"),
            ("signups/s (HTTP)", f"{n / signup_s:,.0f}"),
            ("connections/s", f"{n / connect_s:,.0f}"),
            ("conversations/s (request + subscribe)", f"{n / conversations_s:,.0f}"),
            ("messages/s routed (consumer + agent)", f"{routed / messages_s:,.0f}"),
            ("notifications delivered/s", f"{sum(delivered) / messages_s:,.0f}"),
            ("server RSS idle (KiB)", f"{baseline:,}"),
            ("server RSS per held connection (KiB)", f"{(held_rss - baseline) / n:.1f}"),
            ("server RSS per connection after traffic (KiB)", f"{(peak_rss - baseline) / n:.1f}"),
        ]
        transport = "https/wss (TLS)" if tls else "plain http/ws"
        print(f"sandbox load: {n} consumers x {MESSAGES} messages, echo agents, no delays, "
              f"{transport}")
        print("| measure | value |")
        print("|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        ok_memory = (peak_rss - baseline) / n <= 150
        ok_rate = routed / messages_s >= 5000
        held = "met" if open_now >= 1000 else "not tried" if n < 1000 else "MISSED"
        memory = "met" if ok_memory else "MISSED"
        rate = "met" if ok_rate else "MISSED"
        print(f"targets: 1,000 held {held}; <=150 KiB/conn {memory}; >=5,000 msg/s {rate}")
        return {"signups/s": n / signup_s, "connections/s": n / connect_s,
                "conversations/s": n / conversations_s, "messages/s": routed / messages_s,
                "server RSS KiB/connection": (peak_rss - baseline) / n}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            code = server.wait()
        if server.stdout is not None:
            server.stdout.close()
        ca_dir.cleanup()
        print(f"server exit code: {code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, default=500)
    parser.add_argument("--account", default="bench")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tls", action="store_true", help="https/wss with the sandbox's CA")
    mode.add_argument("--compare", action="store_true", help="plain, then TLS; print ratios")
    args = parser.parse_args()
    if not os.path.exists("/proc/self/status"):
        raise SystemExit("this benchmark reads /proc/PID/status (Linux)")
    if not args.compare:
        asyncio.run(run(args, args.tls))
        return
    plain = asyncio.run(run(args, False))
    tls = asyncio.run(run(args, True))
    print("TLS / plain, measured in this run:")
    print("| measure | plain | TLS | TLS / plain |")
    print("|---|---|---|---|")
    for name, value in plain.items():
        print(f"| {name} | {value:,.1f} | {tls[name]:,.1f} | {tls[name] / value:.2f} |")


if __name__ == "__main__":
    main()
