"""Client options from a config's ``[account]`` table: the one mapping of config to client.

Used by the bot for its consumers, and by ``lpbot synth`` and the load test for synthetic
ones, so that a key added to ``[account]`` reaches every client the same way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lpbot.client import ClientOptions, token_provider
from lpbot.runtime.config import AccountSection

__all__ = ["client_options"]


def client_options(account: AccountSection, **overrides: Any) -> ClientOptions:
    """The ``ClientOptions`` of a consumer of ``account``, with ``overrides`` applied last.

    With ``auth = "authenticated"`` (or ``"code"``) the consumer gets its brand token (or OAuth
    code) from the account's one token source (a function, a command or a secret), asked again
    for each new token; ``auth = "anonymous"`` uses the ACR0 connector ``connector_id``.

    Raises:
        ConfigError: the token source cannot be used (an unimportable function ...).
    """
    provider = None
    if account.auth in ("authenticated", "code"):
        secret = account.brand_token
        provider = token_provider(command=account.token_command,
                                  function=account.token_function,
                                  token=secret.reveal() if secret is not None else None)
    options = ClientOptions(
        account=account.id, csds_domain=account.csds_domain, tls=account.tls,
        ca_file=str(account.ca_file) if account.ca_file is not None else None,
        token_provider=provider if account.auth == "authenticated" else None,
        code_provider=provider if account.auth == "code" else None,
        connector_id=account.connector_id if account.auth == "anonymous" else None,
        redirect_uri=account.redirect_uri,
        auth_mode="init" if account.auth_mode == "init" else "header")
    if account.client_properties is not None:
        options = replace(options, client_properties=dict(account.client_properties))
    return replace(options, **overrides) if overrides else options
