"""``lpbot sandbox-ctl``: fault injection and agent control of a running ``lpbot sandbox``.

A thin client of the sandbox's ``/_sandbox/`` HTTP routes, so a shell script or a person can
break things on purpose without curl::

    lpbot sandbox-ctl drop_all code=4401
    lpbot sandbox-ctl revoke_connector
    lpbot sandbox-ctl say CONVERSATION_ID text=hello
    lpbot sandbox-ctl invite CONVERSATION_ID kind=video
    lpbot sandbox-ctl conversations

Prints the sandbox's JSON answer; exit 0 when it accepted the action, 1 when it refused it
(unknown conversation, bad parameter), 3 when the sandbox cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Final

import requests

__all__ = ["CONVERSATION_ACTIONS", "FAULT_ACTIONS", "configure_parser", "run"]

#: actions on the whole sandbox: ``POST /_sandbox/faults/<action>``
FAULT_ACTIONS: Final = ("drop_all", "expire_tokens", "reject_next", "reject_handshakes",
                        "delay_responses", "send_malformed", "send_unknown_notification",
                        "fail_identity", "revoke_connector", "refuse_codes", "reset")
#: actions on one conversation: ``POST /_sandbox/conversations/<id>/<action>``
CONVERSATION_ACTIONS: Final = ("accept", "say", "typing", "transfer", "close", "invite",
                                "session_state")
#: the HTTP port ``lpbot sandbox`` serves by default
DEFAULT_URL: Final = "http://127.0.0.1:8383"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``lpbot sandbox-ctl``'s arguments."""
    parser.add_argument("--url", default=DEFAULT_URL,
                        help=f"the sandbox's HTTP base URL (default {DEFAULT_URL})")
    parser.add_argument("--ca-file", default=None, metavar="PATH",
                        help="for an https URL: the CA file `lpbot sandbox --tls` printed")
    parser.add_argument("action", choices=(*FAULT_ACTIONS, *CONVERSATION_ACTIONS, "conversations"),
                        help="what to do")
    parser.add_argument("arguments", nargs="*", metavar="ARG",
                        help="the conversation id first for conversation actions, then "
                             "key=value parameters (code=4401, text=hello, reason=SYSTEM...); "
                             "send_malformed takes the frame's text as body=...")


def run(args: argparse.Namespace) -> int:
    """Send the action to the sandbox and print its JSON answer."""
    arguments = list(args.arguments)
    base = args.url.rstrip("/") + "/_sandbox"
    method, path = "POST", f"{base}/faults/{args.action}"
    if args.action in CONVERSATION_ACTIONS:
        if not arguments or "=" in arguments[0]:
            print(f"lpbot sandbox-ctl: {args.action} needs a conversation id",  # noqa: T201
                  file=sys.stderr)
            return 2
        path = f"{base}/conversations/{arguments.pop(0)}/{args.action}"
    elif args.action == "conversations":
        method, path = "GET", f"{base}/conversations"
    params: dict[str, str] = {}
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep or not key:
            print(f"lpbot sandbox-ctl: expected key=value, got {argument!r}",  # noqa: T201
                  file=sys.stderr)
            return 2
        params[key] = value
    body = params.pop("body", None)
    try:
        reply = requests.request(method, path, params=params,
                                 data=body.encode() if body is not None else None, timeout=10,
                                 verify=args.ca_file or True)
    except requests.RequestException as exc:
        print(f"lpbot sandbox-ctl: cannot reach {args.url}: {exc}", file=sys.stderr)  # noqa: T201
        return 3
    try:
        answer: object = reply.json()
    except ValueError:
        answer = reply.text
    print(json.dumps(answer, indent=2) if not isinstance(answer, str) else answer)  # noqa: T201
    return 0 if reply.ok else 1
