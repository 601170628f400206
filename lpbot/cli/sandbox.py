"""``lpbot sandbox``: serve the local LivePerson-compatible sandbox until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from types import FrameType

from lpbot.redaction import mask_jwts
from lpbot.sandbox import AgentOptions, IdentityOptions, Sandbox
from lpbot.sandbox.agents import DEFAULT_GREETING
from lpbot.sandbox.flow import FlowError, load_flow
from lpbot.sandbox.identity import ANONYMOUS_LIFETIME, REFRESH_WINDOW
from lpbot.sandbox.tokens import SIGNUP_LIFETIME
from lpbot.sandbox.variants import MODES, SEED_VARIABLE
from lpbot.wakeup import Wakeup


class MaskTokens(logging.Filter):
    """Replace every JWT (a consumer's Authorization header) in a record's message by ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drop it."""
        message = record.getMessage()
        masked = mask_jwts(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


__all__ = ["MaskTokens", "configure_parser", "run"]

log = logging.getLogger(__name__)


def _rule(text: str) -> tuple[str, str]:
    pattern, sep, reply = text.partition("=>")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError("a rule looks like 'PATTERN=>REPLY'")
    return pattern, reply


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options to its subcommand parser."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8383, help="HTTP port: domain lookup, identity")
    parser.add_argument("--ws-port", type=int, default=0, help="WebSocket port (default: any free)")
    parser.add_argument("--account", default="sandbox", help="account id shown in the URL")
    agents = parser.add_argument_group("simulated agents")
    agents.add_argument("--agents", type=int, default=3, help="number of agents (default 3)")
    agents.add_argument(
        "--agent-mode", choices=("echo", "rules", "silent", "flow"), default=None,
        help="how agents reply (default echo; flow with --flow)",
    )
    agents.add_argument(
        "--flow", metavar="FILE", default=None,
        help="agents follow this flow file of states (a bot: quick replies, cards, files)",
    )
    agents.add_argument(
        "--rule",
        type=_rule,
        action="append",
        default=[],
        metavar="PATTERN=>REPLY",
        help="for --agent-mode rules: reply REPLY (may use \\1) to texts matching PATTERN",
    )
    agents.add_argument("--accept-delay", type=float, default=0.2, help="seconds before accepting")
    agents.add_argument("--reply-delay", type=float, default=0.1, help="seconds before replying")
    agents.add_argument("--greeting", default=DEFAULT_GREETING, help="'' for none")
    agents.add_argument("--no-receipts", action="store_true", help="agents send no ACCEPT/READ")
    agents.add_argument("--no-typing", action="store_true", help="agents send no chat states")
    agents.add_argument(
        "--idle-close", type=float, default=None, help="agents close conversations idle this long"
    )
    server = parser.add_argument_group("server")
    server.add_argument("--tls", action="store_true",
                        help="serve https/wss with a certificate of a CA made at start")
    server.add_argument("--ca-file", default=None, metavar="PATH",
                        help="with --tls: write the CA certificate here (default: a temp file)")
    server.add_argument("--extra-account", action="append", default=[], metavar="ACCOUNT",
                        help="serve this account too (domain lookups of others answer 401)")
    server.add_argument("--idle-timeout", type=float, default=60.0, help="close idle sockets (60)")
    server.add_argument("--init-timeout", type=float, default=5.0, help="InitConnection deadline")
    server.add_argument(
        "--rate-limit", type=float, default=None, help="requests/s per socket before 429 (off)"
    )
    server.add_argument(
        "--lenient", action="store_true",
        help="accept what the documented rules refuse (docs/sandbox-rules.md); strict by default",
    )
    server.add_argument(
        "--wire-variants", choices=MODES, default="random",
        help="documented spellings and shapes sent per connection (default random, seeded)",
    )
    server.add_argument(
        "--seed", type=int, default=None,
        help=f"seed of --wire-variants random (default ${SEED_VARIABLE} or a fresh one)",
    )
    identity = parser.add_argument_group("identity (docs/sandbox-production.md)")
    identity.add_argument("--token-lifetime", type=float, default=SIGNUP_LIFETIME,
                          help="seconds a signup token lives (about 13 years, as documented)")
    identity.add_argument("--brand-public-key", default=None, metavar="PEM",
                          help="the brand's RS256 public key (implicit and code flow)")
    identity.add_argument("--brand-jwks", default=None, metavar="FILE",
                          help="the brand's public keys as a JWKS file")
    identity.add_argument("--brand-key", dest="brand_hs256_key", metavar="SECRET",
                          default=os.environ.get("LPBOT_SANDBOX_BRAND_KEY"),
                          help="accept HS256 brand tokens signed with this shared key (off; "
                               "or $LPBOT_SANDBOX_BRAND_KEY, unseen by ps)")
    identity.add_argument("--jwe-key", dest="jwe_private_key", default=None, metavar="PEM",
                          help="RSA private key brand JWEs are encrypted to (default: made)")
    identity.add_argument("--authenticated-lifetime", type=float, default=None,
                          help="cap authenticated tokens (default: the brand token's exp)")
    identity.add_argument("--connector-id", dest="anonymous_connector", default="acr0",
                          help="the ACR0 connector id")
    identity.add_argument("--anonymous-lifetime", type=float, default=ANONYMOUS_LIFETIME,
                          help="seconds an ACR0 token lives (600)")
    identity.add_argument("--refresh-window", type=float, default=REFRESH_WINDOW,
                          help="seconds after expiry an ACR0 token may be refreshed (730 h)")
    identity.add_argument("--oidc-token-url", default=None,
                          help="the brand's OIDC token endpoint (default: the sandbox's own)")
    identity.add_argument("--oidc-client-id", default="liveperson", help="code flow client id")
    identity.add_argument("--oidc-client-secret", metavar="SECRET",
                          default=os.environ.get("LPBOT_SANDBOX_OIDC_CLIENT_SECRET"),
                          help="code flow client secret (or $LPBOT_SANDBOX_OIDC_CLIENT_SECRET)")
    server.add_argument("--log-level", default="INFO", help="logging level (INFO)")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns 0 after a clean stop."""
    output = logging.StreamHandler()
    output.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    output.addFilter(MaskTokens())  # websockets logs each handshake's headers at DEBUG
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        handlers=[output])
    try:
        flow = load_flow(args.flow) if args.flow is not None else None
        mode = args.agent_mode or ("flow" if flow is not None else "echo")
        if mode == "flow" and flow is None:
            raise ValueError("--agent-mode flow needs --flow FILE")
        options = AgentOptions(
            count=args.agents,
            mode=mode,
            flow=flow,
            rules=tuple(args.rule),
            accept_delay=args.accept_delay,
            reply_delay=args.reply_delay,
            greeting=args.greeting or None,
            receipts=not args.no_receipts,
            typing=not args.no_typing,
            idle_close=args.idle_close,
        )
        # every identity option's dest is the IdentityOptions field it sets
        identity = IdentityOptions(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(IdentityOptions)})
    except (ValueError, FlowError) as exc:
        print(f"lpbot sandbox: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    with Wakeup() as stop:  # not a threading.Event: see lpbot.wakeup

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received signal %d, stopping", signum)
            stop.set()

        stop.handle(on_signal)
        try:
            sandbox = Sandbox(
                host=args.host,
                port=args.port,
                ws_port=args.ws_port,
                account=args.account,
                accounts=args.extra_account,
                agents=options,
                token_lifetime=args.token_lifetime,
                identity=identity,
                idle_timeout=args.idle_timeout,
                init_timeout=args.init_timeout,
                rate_limit=args.rate_limit,
                tls=args.tls,
                ca_path=args.ca_file,
                lenient=args.lenient,
                wire_variants=args.wire_variants,
                seed=args.seed,
            )
        except (OSError, ValueError) as exc:  # an unreadable or wrong key file
            print(f"lpbot sandbox: {exc}", file=sys.stderr)  # noqa: T201
            return 2
        try:
            try:
                sandbox.start()
            except OSError as exc:
                print(f"lpbot sandbox: cannot listen: {exc}", file=sys.stderr)  # noqa: T201
                return 1
            print(sandbox.csds_url, flush=True)  # noqa: T201
            if sandbox.ca_file is not None:
                print(  # noqa: T201
                    f"# TLS: trust the CA in {sandbox.ca_file} (ca_file, REQUESTS_CA_BUNDLE, "
                    f"curl --cacert, wscat --ca)",
                    file=sys.stderr,
                    flush=True,
                )
            print(  # noqa: T201
                f"# account {sandbox.account}; consumer WebSocket {sandbox.ws_url}; "
                f"agent console {sandbox.http_url}/console; "
                f"{'lenient' if sandbox.lenient else 'strict'} rules; "
                f"wire variants {sandbox.variants_description}; Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
            stop.wait()
        finally:
            sandbox.stop()
    return 0
