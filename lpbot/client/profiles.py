"""Agent public profiles over REST (protocol notes §5.13): nickname, picture, employee id.

``GET https://{acCdnDomain}/api/account/{account}/configuration/le-users/users/{agentPid}``,
no authentication; ``agentPid`` is the ASSIGNED_AGENT participant id of the conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from lpbot.client.discovery import Discovery
from lpbot.errors import RequestRejected
from lpbot.protocol.names import Services

__all__ = ["AgentProfile", "fetch_agent_profile"]

log = logging.getLogger(__name__)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentProfile:
    """An agent's public profile; undocumented fields stay in ``raw``."""

    agent_id: str
    nickname: str | None = None
    full_name: str | None = None
    picture_url: str | None = None
    employee_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_wire(cls, agent_id: str, wire: Mapping[str, Any]) -> AgentProfile:
        """Build from the documented JSON (``nickname``, ``fullName``, ``pictureUrl`` ...)."""
        return cls(
            agent_id=agent_id,
            nickname=_text(wire.get("nickname")),
            full_name=_text(wire.get("fullName")),
            picture_url=_text(wire.get("pictureUrl")),
            employee_id=_text(wire.get("employeeId")),
            raw=wire,
        )


def fetch_agent_profile(
    agent_id: str, *, discovery: Discovery, http: requests.Session, timeout: float = 10.0
) -> AgentProfile:
    """Fetch one agent's public profile.

    Raises:
        RequestRejected: the server answered an error status (``code``) or no JSON object.
    """
    path = (f"/api/account/{discovery.account}/configuration/le-users/users/"
            f"{quote(agent_id, safe='')}")
    url = discovery.url(Services.AGENT_PROFILE, path)
    response = http.get(url, timeout=timeout)
    payload: Any = None
    try:
        payload = response.json()
    except ValueError:
        payload = response.text[:200]
    if response.status_code != 200 or not isinstance(payload, Mapping):
        raise RequestRejected(request=agent_id, request_type="GetAgentProfile",
                              code=response.status_code, body=payload)
    return AgentProfile.from_wire(agent_id, payload)
