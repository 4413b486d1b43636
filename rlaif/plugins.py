"""The plugin manager: built-ins, then installed entry points, then modules named by the user.

Registries are built once per process (cheap: registering stores factories, nothing is loaded) and answer
"what judges exist?" for the CLI, config validation and the engine alike.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy

from rlaif import hookspecs
from rlaif.errors import RlaifError, unknown_name_error

KINDS = ("models", "judges", "rewards", "optimizers")

BROKEN_PLUGINS: dict[str, str] = {}
"""Entry-point plugins that failed to import, with the error (``rlaif plugins`` shows them)."""


@dataclass
class Registration:
    """One registered factory and what ``rlaif plugins`` shows about it."""

    kind: str
    name: str
    factory: Any
    plugin: str
    description: str = ""
    options_schema: dict[str, Any] | None = None
    check: Any = None
    """Optional ``check(options) -> list[Problem]``: settings a schema cannot rule out (``rlaif config check``)."""


@dataclass
class PluginInfo:
    name: str
    version: str | None
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    def __init__(self, manager: pluggy.PluginManager):
        self.manager = manager
        self.entries: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            hook = getattr(manager.hook, f"register_{kind}")
            # get_hookimpls() lists in registration order: built-ins first, so a later plugin may replace one.
            for impl in hook.get_hookimpls():
                impl.function(register=self._register_fn(kind, impl.plugin_name))

    def _register_fn(self, kind: str, plugin_name: str) -> Any:
        plugin_name = "rlaif" if plugin_name.startswith("rlaif.") else plugin_name

        def register(name: str, factory: Any, **meta: Any) -> None:
            doc = (getattr(factory, "__doc__", None) or "").strip().split("\n")[0]
            self.entries[kind][name] = Registration(
                kind=kind,
                name=name,
                factory=factory,
                plugin=plugin_name,
                description=meta.get("description") or doc,
                options_schema=meta.get("options_schema"),
                check=meta.get("check"),
            )

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: str, name: str, source: str | None = None) -> Registration:
        try:
            return self.entries[kind][name]
        except KeyError:
            raise unknown_name_error(kind.rstrip("s"), name, self.names(kind), source) from None

    def plugins(self) -> list[PluginInfo]:
        infos: dict[str, PluginInfo] = {}
        for plugin in self.manager.get_plugins():
            name = self.manager.get_name(plugin)
            name = "rlaif" if name.startswith("rlaif.") else name
            infos[name] = PluginInfo(name=name, version=self._version_of(name, plugin))
        for kind in KINDS:
            for registration in self.entries[kind].values():
                info = infos.setdefault(registration.plugin, PluginInfo(registration.plugin, None))
                info.registers.setdefault(kind, []).append(registration.name)
        for name, error in BROKEN_PLUGINS.items():
            infos.setdefault(name, PluginInfo(name, None, error=error))
        return sorted(infos.values(), key=lambda info: (info.name != "rlaif", info.name))

    def _version_of(self, name: str, plugin: Any) -> str | None:
        if name == "rlaif":
            from rlaif import __version__

            return __version__
        dist = getattr(plugin, "__rlaif_distribution__", None)
        return dist.version if dist is not None else None


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=hookspecs.PROJECT_NAME)


def make_manager(extra_modules: Iterable[str] = ()) -> pluggy.PluginManager:
    """Built-ins first (under the name ``rlaif``), then entry points, then ``extra_modules`` by import path."""
    from rlaif.builtin import BUILTIN_MODULES

    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for module_name in BUILTIN_MODULES:
        manager.register(importlib.import_module(module_name), name=module_name)
    for entry_point in _entry_points():
        if manager.has_plugin(entry_point.name):
            continue
        try:
            module = entry_point.load()
        except Exception as exc:  # one broken plugin must not take every command down: warn and skip it
            message = f"{type(exc).__name__}: {exc}"
            BROKEN_PLUGINS[entry_point.name] = message
            warnings.warn(
                f"rlaif plugin '{entry_point.name}' ({entry_point.value}) failed to load and is skipped: {message}",
                stacklevel=2,
            )
            continue
        try:
            module.__rlaif_distribution__ = entry_point.dist
        except (AttributeError, TypeError):
            pass
        manager.register(module, name=entry_point.name)
    for module_name in extra_modules:
        if manager.has_plugin(module_name):
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # ImportError, but also a plugin module that is itself broken
            installed = sorted(ep.name for ep in _entry_points())
            raise RlaifError(
                f"cannot import plugin module '{module_name}': {type(exc).__name__}: {exc}",
                hint="Plugin modules are Python import paths (e.g. my_package.rlaif_plugin); installed plugins: "
                + (", ".join(installed) or "none besides the built-ins"),
            ) from None
        manager.register(module, name=module_name)
    return manager


@lru_cache(maxsize=8)
def _registry(extra_modules: tuple[str, ...]) -> Registry:
    return Registry(make_manager(extra_modules))


def get_registry(extra_modules: Iterable[str] = ()) -> Registry:
    """The process-wide registry for this set of extra plugin modules."""
    return _registry(tuple(sorted(set(extra_modules))))
