"""What ``lpbot run`` checks before it starts anything, and all that ``lpbot check-config`` runs.

:meth:`Config.load` checks the file on its own (types, ranges, patterns, time zone). The checks
here need more than the file: they import what the config names. A ``call`` job's function and
the ``token_function`` must import and be callable (the job's ``args`` fitting the function's
signature, as the scheduler requires), the job store URL must name a SQLAlchemy
dialect whose driver is installed, every job's trigger must build in the scheduler's time zone,
and every enabled plugin must import and register. Both commands call :func:`preflight`, so a
config that ``check-config`` accepts is one that ``lpbot run`` starts.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping

from lpbot.errors import ConfigError
from lpbot.runtime.config import Config
from lpbot.runtime.plugins import PluginManager, load_plugins

__all__ = ["preflight", "resolve_reference"]


def preflight(config: Config) -> None:
    """Check what the config names beyond the file itself; connects nothing.

    Raises:
        ConfigError: naming the file and the key path (a job's ref, ``scheduler.url``...).
        PluginError: naming the plugin that is unknown or cannot be imported or registered.
    """
    for job in config.jobs:
        if job.kind == "call":
            function = resolve_reference(job.func, file=config.file, key=f"{job.path}.ref")
            _check_arguments(function, job.func, job.kwargs, file=config.file,
                             key=f"{job.path}.args")
        try:
            job.make_trigger(config.scheduler.timezone)
        except (ValueError, OverflowError) as exc:
            raise ConfigError(f"cannot schedule this job: {exc}", path=config.file,
                              key=job.path) from exc
    if config.account.token_function is not None and not config.sandbox.enabled:
        resolve_reference(config.account.token_function, file=config.file,
                          key="account.token_function")
    if config.scheduler.url is not None:
        _check_store_url(config.scheduler.url, file=config.file)
    load_plugins(PluginManager(), config.plugins.enabled, config.plugins.modules)


def resolve_reference(reference: str, *, file: str, key: str) -> Callable[..., object]:
    """Import ``"package.module:function"`` and return the function; raises ``ConfigError``."""
    module_name, _, attribute = reference.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as exc:  # isolation boundary: user code runs on import
        raise ConfigError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}",
                          path=file, key=key) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ConfigError(f"{reference!r}: {module_name} has no {attribute!r}",
                              path=file, key=key) from exc
    if not callable(target):
        raise ConfigError(f"{reference!r} is not callable", path=file, key=key)
    return target


def _check_arguments(function: Callable[..., object], reference: str,
                     kwargs: Mapping[str, object], *, file: str, key: str) -> None:
    """The scheduler calls ``function(**kwargs)``: the arguments must fit its signature."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some built-ins have none: nothing to check
        return
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{reference} cannot be called with these arguments: {exc}",
                          path=file, key=key) from exc


def _check_store_url(url: str, *, file: str) -> None:
    """The job store URL parses and its database driver imports (nothing is connected)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        # the URL is not echoed: it may carry a password
        raise ConfigError(f"not a SQLAlchemy database URL the scheduler can use: {exc}",
                          path=file, key="scheduler.url") from exc
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ConfigError(f"the database driver for {parsed.drivername!r} is not installed: "
                          f"{exc}", path=file, key="scheduler.url") from exc
