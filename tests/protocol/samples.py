"""Documented payloads (tests/fixtures/documented) and helpers shared by the protocol tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "documented"


def fixture_names() -> list[str]:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert names, f"no documented fixtures under {FIXTURES}"
    return names


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def normalise_request(frame: dict[str, Any]) -> dict[str, Any]:
    """A documented request as lpbot writes it: id dropped, kind "req", one canonical form."""
    frame = json.loads(json.dumps(frame))
    frame.pop("id", None)
    frame["kind"] = "req"
    body = frame.get("body")
    if isinstance(body, dict) and isinstance(body.get("conversationField"), dict):
        body["conversationField"] = [body["conversationField"]]  # arrays are canonical (§4.2)
    return frame
