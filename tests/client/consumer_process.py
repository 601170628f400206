"""A bot process for the restart tests: records agent texts to a file, then commits them.

Usage: python consumer_process.py CSDS_DOMAIN ACCOUNT STATE_DIR OUT_FILE PAUSE_AFTER [CA_FILE]

With CA_FILE the client speaks TLS and trusts that CA (a sandbox run with ``tls=True``).

Writes ``READY <consumer> <conversation>`` to OUT_FILE.ready once connected. Each agent text is
appended to OUT_FILE as ``<sequence> <text>`` in one ``write`` call (so a kill never leaves half
a line), and the client commits its sequence when the callback returns.

* PAUSE_AFTER >= 0: when that many texts were recorded, the next callback writes ``PAUSED``
  to OUT_FILE.ready and blocks, so the test can SIGKILL the process at a known point.
* a line ``KILL <n>`` on standard input arms a separate thread that SIGKILLs the process as
  soon as ``n`` more texts were recorded, while the reader thread goes on: the kill lands
  wherever the reader happens to be (decoding, in the callback, committing to SQLite, reading
  the socket).

Exits cleanly when its standard input closes.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from lpbot.client import Client, ClientOptions
from lpbot.client.backoff import Backoff
from lpbot.protocol.events import ContentEvent
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import MessagingEvent


def main() -> int:
    csds_domain, account, state_dir, out_file, pause_after = sys.argv[1:6]
    ca_file = sys.argv[6] if len(sys.argv) > 6 else None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,  # shown when a test fails
                        format="%(relativeCreated)6d %(threadName)s %(name)s %(message)s")
    limit = int(pause_after)
    kill_at = -1
    ready = Path(out_file + ".ready")
    blocked = threading.Event()
    reached = threading.Event()
    recorded = 0

    def killer() -> None:
        reached.wait()
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=killer, name="test-killer", daemon=True).start()

    out = os.open(out_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def on_message(event: MessagingEvent) -> None:
        nonlocal recorded
        if event.role != Role.ASSIGNED_AGENT or not isinstance(event.event, ContentEvent):
            return
        if recorded == limit:
            ready.write_text(ready.read_text() + "PAUSED\n")
            blocked.wait()  # the test kills us here
        os.write(out, f"{event.sequence} {event.event.text}\n".encode())
        recorded += 1  # the client commits the sequence when this returns
        if 0 <= kill_at <= recorded:
            reached.set()

    try:
        options = ClientOptions(account=account, csds_domain=csds_domain,
                                tls=ca_file is not None, ca_file=ca_file,
                                backoff=Backoff(jitter=0.0).scaled(0.001))
        with Client(options, state_dir=state_dir, on_message=on_message) as client:
            client.connect(timeout=10)
            conversation = client.open_conversation()
            ready.write_text(f"READY {client.consumer_id} {conversation.id}\n")
            for line in sys.stdin:
                command, _, count = line.partition(" ")
                if command == "KILL":
                    kill_at = recorded + int(count)
    finally:
        os.close(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
