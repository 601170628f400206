"""House rules for the protocol model: frozen slotted keyword-only values, raw kept out of eq."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json

import pytest

import lpbot.protocol
from lpbot.protocol import Decoder, parse_event

from .samples import fixture_names, load, text

MODULES = ["codec", "envelope", "events", "fields", "names", "notifications", "requests"]


def protocol_classes():
    for module_name in MODULES:
        module = importlib.import_module(f"lpbot.protocol.{module_name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and dataclasses.is_dataclass(cls):
                yield cls


@pytest.mark.parametrize("module_name", [*MODULES, None])
def test_every_module_declares_all_and_a_docstring(module_name):
    module = (
        lpbot.protocol
        if module_name is None
        else importlib.import_module(f"lpbot.protocol.{module_name}")
    )
    assert module.__doc__
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize("cls", list(protocol_classes()), ids=lambda c: c.__name__)
def test_values_are_frozen_slotted_keyword_only_dataclasses(cls):
    params = cls.__dataclass_params__
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert all(f.kw_only for f in dataclasses.fields(cls))
    assert cls.__doc__
    raw = {f.name: f for f in dataclasses.fields(cls)}.get("raw")
    if raw is not None:
        assert (raw.compare, raw.hash, raw.repr) == (False, False, False)


def test_raw_does_not_affect_equality_or_hash():
    a = parse_event({"type": "ChatStateEvent", "chatState": "ACTIVE", "x": 1})
    b = parse_event({"type": "ChatStateEvent", "chatState": "ACTIVE"})
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.chat_state = "GONE"


def every_value(obj, seen=None):
    """Walk a parsed object and yield every dataclass instance in it."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        yield obj
        for f in dataclasses.fields(obj):
            yield from every_value(getattr(obj, f.name))
    elif isinstance(obj, tuple):
        for item in obj:
            yield from every_value(item)


@pytest.mark.parametrize("name", [n for n in fixture_names() if "notification" in n])
def test_parsed_values_have_every_field_set_and_a_repr(name):
    # The hot-path builders set slots directly; an unset slot would raise AttributeError here.
    note = Decoder().decode(text(name))
    for value in every_value(note):
        for f in dataclasses.fields(value):
            getattr(value, f.name)
        repr(value)
        assert value == dataclasses.replace(value)


def test_fast_built_values_equal_keyword_built_ones():
    note = Decoder().decode(text("32-notification-ms_MessagingEventNotification.json"))
    event = note.changes[0]
    rebuilt = type(event)(**{f.name: getattr(event, f.name) for f in dataclasses.fields(event)})
    assert rebuilt == event
    assert type(note)(changes=note.changes, notification_type=note.notification_type) == note


def test_raw_keeps_the_wire_mapping():
    frame = load("34-notification-ms_MessagingEventNotification.json")
    note = Decoder().decode(json.dumps(frame))
    assert note.raw == frame
    assert note.changes[0].raw == frame["body"]["changes"][0]
    assert note.changes[0].event.raw == frame["body"]["changes"][0]["event"]
