"""A bot process for the restart test: records agent texts to a file, then commits them.

Usage: python consumer_process.py CSDS_DOMAIN ACCOUNT STATE_DIR OUT_FILE PAUSE_AFTER

Writes ``READY <consumer> <conversation>`` to OUT_FILE.ready once connected. When PAUSE_AFTER
(>= 0) agent texts were recorded, the next callback writes ``PAUSED`` there and blocks, so the
test can SIGKILL the process at a known point while frames are still arriving. Exits cleanly
when its standard input closes.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from lpbot.backoff import Backoff
from lpbot.client import Client, ClientOptions
from lpbot.protocol.events import ContentEvent
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import MessagingEvent


def main() -> int:
    csds_domain, account, state_dir, out_file, pause_after = sys.argv[1:6]
    limit = int(pause_after)
    ready = Path(out_file + ".ready")
    blocked = threading.Event()
    recorded = 0

    with open(out_file, "a", encoding="utf-8") as out:

        def on_message(event: MessagingEvent) -> None:
            nonlocal recorded
            if event.role != Role.ASSIGNED_AGENT or not isinstance(event.event, ContentEvent):
                return
            if recorded == limit:
                ready.write_text(ready.read_text() + "PAUSED\n")
                blocked.wait()  # the test kills us here
            out.write(f"{event.sequence} {event.event.text}\n")
            out.flush()
            recorded += 1  # the client commits the sequence when this returns

        options = ClientOptions(account=account, csds_domain=csds_domain, tls=False,
                                backoff=Backoff(jitter=0.0).scaled(0.001))
        with Client(options, state_dir=state_dir, on_message=on_message) as client:
            client.connect(timeout=10)
            conversation = client.open_conversation()
            ready.write_text(f"READY {client.consumer_id} {conversation.id}\n")
            sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
