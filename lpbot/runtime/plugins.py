"""Plugin discovery and the per-bot plugin manager (pluggy).

Plugins come from two places, found the same way and enabled by name in ``[plugins]``: the
``lpbot.plugins`` entry-point group of installed packages (lpbot's own bundled plugins,
``lpbot_plugins``, among them), and module paths in the config's ``[plugins.modules]``. A
plugin that cannot be imported, names an unknown hook, or declares a hook wrapper is refused
with a ``PluginError`` that names it. One manager belongs to one bot.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pluggy

from lpbot import hookspecs
from lpbot.errors import PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginManager",
    "PluginSource",
    "available_plugins",
    "declared_hooks",
    "hooks_of",
    "load_plugins",
]

#: the entry-point group through which installed packages offer plugins
ENTRY_POINT_GROUP: Final = "lpbot.plugins"


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginSource:
    """Where a plugin comes from: ``reference`` is ``module`` or ``module:attribute``."""

    name: str
    reference: str
    origin: str  # "entry point" | "config"
    distribution: str | None = None

    def load(self) -> object:
        """Import the plugin object (a module, or a module's attribute); raises PluginError."""
        module_name, _, attribute = self.reference.partition(":")
        try:
            target: object = importlib.import_module(module_name)
            for part in filter(None, attribute.split(".")):
                target = getattr(target, part)
        except Exception as exc:  # isolation boundary: name the plugin
            raise PluginError(self.name, f"cannot import {self.reference}: "
                                         f"{type(exc).__name__}: {exc}") from exc
        return target


class PluginManager(pluggy.PluginManager):
    """lpbot's pluggy manager: knows lpbot's hookspecs and refuses wrappers and unknown hooks."""

    def __init__(self) -> None:
        super().__init__("lpbot")
        self.add_hookspecs(hookspecs)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` (a module or an object with ``@lpbot.hookimpl`` methods).

        Raises:
            PluginError: the name is taken, an implementation does not match its hook's
                arguments, names a hook lpbot does not have, or is a hook wrapper (lpbot calls
                implementations one at a time so that one failing plugin never stops the
                others, which wrappers cannot honour).
        """
        label = name or self.get_canonical_name(plugin)
        try:
            registered = super().register(plugin, name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(label, str(exc).splitlines()[0]) from exc
        problems = []
        for caller in self.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if impl.wrapper or impl.hookwrapper:
                    problems.append(f"{caller.name} is a hook wrapper; lpbot does not support "
                                    "wrappers (implement the hook plainly)")
                elif caller.spec is None and not impl.optionalhook:
                    problems.append(f"{caller.name} is not an lpbot hook")
        if problems:
            self.unregister(plugin)
            raise PluginError(label, "; ".join(problems))
        return registered


def available_plugins(modules: Mapping[str, str] | None = None) -> dict[str, PluginSource]:
    """Every plugin lpbot can find by name: entry points, then config modules.

    A config module does not replace an installed plugin's name: it may not shadow one.
    """
    found: dict[str, PluginSource] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry.dist.name if entry.dist is not None else None
        found.setdefault(entry.name, PluginSource(name=entry.name, reference=entry.value,
                                                  origin="entry point",
                                                  distribution=distribution))
    for name, module in (modules or {}).items():
        if name in found and found[name].reference != module:
            raise PluginError(name, f"plugins.modules.{name} = {module!r} clashes with the "
                                    f"{found[name].origin} plugin of that name")
        found.setdefault(name, PluginSource(name=name, reference=module, origin="config"))
    return found


def load_plugins(
    manager: PluginManager,
    enabled: Sequence[str],
    modules: Mapping[str, str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> list[str]:
    """Import and register the ``enabled`` plugins (and ``extra`` objects), in order.

    Returns:
        The names registered.

    Raises:
        PluginError: naming the first plugin that is unknown or cannot be imported/registered.
    """
    sources = available_plugins(modules)
    names: list[str] = []
    for name in enabled:
        source = sources.get(name)
        if source is None:
            raise PluginError(name, "no such plugin (available: "
                                    f"{', '.join(sorted(sources)) or 'none'})")
        manager.register(source.load(), name=name)
        names.append(name)
    for name, plugin in extra:
        manager.register(plugin, name=name)
        names.append(name)
    return names


def hooks_of(manager: pluggy.PluginManager, name: str) -> list[str]:
    """The names of the hooks that plugin ``name`` implements, sorted."""
    plugin = manager.get_plugin(name)
    if plugin is None:
        return []
    return sorted(caller.name for caller in manager.get_hookcallers(plugin) or ())


def declared_hooks(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hooks that ``plugin`` implements, counting the classes its module defines.

    Stateful plugins register an instance of their own class from ``lpbot_configure``;
    ``lpbot plugins`` lists those hooks too, without configuring the plugin. Implementations
    are recognised by ``manager`` exactly as registering them would.
    """
    owners: list[object] = [plugin]
    if isinstance(plugin, types.ModuleType):
        owners += [value for value in vars(plugin).values()
                   if isinstance(value, type) and value.__module__ == plugin.__name__]
    names = set()
    for owner in owners:
        for name in dir(owner):
            options = manager.parse_hookimpl_opts(owner, name)
            if options is not None:
                names.add(options.get("specname") or name)
    return sorted(names)
