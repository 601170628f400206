"""Plugin discovery and registration: clear errors that name the plugin."""

from __future__ import annotations

import pytest

import lpbot
from lpbot.errors import PluginError
from lpbot.runtime.plugins import PluginManager, available_plugins, hooks_of, load_plugins

MODULES = {
    "wrapper": "lpbot_fixture_wrapper",
    "broken": "lpbot_fixture_broken_import",
    "typo": "lpbot_fixture_typo",
    "jobs": "lpbot_fixture_jobs",
}


def test_sources_are_entry_points_and_config_modules() -> None:
    found = available_plugins(MODULES)
    assert (found["activity"].origin, found["activity"].reference) == ("entry point",
                                                                       "lpbot_plugins.activity")
    assert found["wrapper"].origin == "config"
    assert found["wrapper"].reference == "lpbot_fixture_wrapper"


def test_a_config_module_may_not_shadow_an_installed_plugin() -> None:
    with pytest.raises(PluginError, match=r"plugin 'activity': plugins\.modules\.activity"):
        available_plugins({"activity": "somewhere.else"})


@pytest.mark.parametrize(("name", "message"), [
    ("wrapper", "lpbot_message_received is a hook wrapper"),
    ("broken", "cannot import lpbot_fixture_broken_import: ModuleNotFoundError"),
    ("typo", "lpbot_mesage_received is not an lpbot hook"),
    ("nonesuch", "no such plugin (available: activity,"),
])
def test_a_bad_plugin_is_refused_with_its_name(name: str, message: str) -> None:
    manager = PluginManager()
    with pytest.raises(PluginError) as caught:
        load_plugins(manager, [name], MODULES)
    assert caught.value.plugin == name
    assert str(caught.value).startswith(f"plugin {name!r}: ")
    assert message in str(caught.value)
    assert manager.get_plugin(name) is None


def test_an_implementation_with_an_unknown_argument_is_refused() -> None:
    class Confused:
        @lpbot.hookimpl
        def lpbot_message_received(self, mesage: object) -> None:
            raise AssertionError("never called")

    with pytest.raises(PluginError, match="plugin 'confused'"):
        PluginManager().register(Confused(), name="confused")


def test_registered_plugins_list_their_hooks() -> None:
    class Both:
        @lpbot.hookimpl
        def lpbot_startup(self) -> None: ...

        @lpbot.hookimpl
        def lpbot_conversation_closed(self) -> None: ...

    manager = PluginManager()
    assert load_plugins(manager, [], MODULES, extra=[("both", Both())]) == ["both"]
    assert hooks_of(manager, "both") == ["lpbot_conversation_closed", "lpbot_startup"]
    assert hooks_of(manager, "missing") == []
    with pytest.raises(PluginError, match="plugin 'both'"):
        manager.register(Both(), name="both")
