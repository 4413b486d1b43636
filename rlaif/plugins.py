"""The plugin registry: built-ins, then installed entry points, then modules named by the user.

One :class:`Registry` answers "what judges exist?" for the CLI, config validation and the engine alike. It is
built by :func:`load_registry` from three sources, in this order (a later one may replace an earlier name):

1. the built-in plugins (:mod:`rlaif.builtin`), under the name ``rlaif``;
2. installed distributions' entry points in the group ``rlaif`` -- all of them, unless
   ``RLAIF_LOAD_PLUGINS=a,b`` names the only ones to load (empty: none), as ``llm``'s ``LLM_LOAD_PLUGINS`` does;
   ``RLAIF_DISABLE_PLUGINS=a,b`` skips some, as pytest's ``-p no:name`` does;
3. plugin modules by import path: ``RLAIF_PLUGINS=mod1,mod2`` and a run config's ``plugins:`` list.

The registry travels explicitly: the CLI builds it once, a run config carries its own
(:attr:`rlaif.config.RunConfig.registry`), and library functions take it as an argument. Building one is cheap
(registering stores factories; nothing is loaded), and identical requests share one instance.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy

from rlaif import hookspecs
from rlaif.errors import Problem, RlaifError, unknown_name_error

KINDS = ("models", "judges", "rewards", "optimizers")

KIND_NOUNS = {
    "models": "model backend",
    "judges": "judge",
    "rewards": "reward",
    "optimizers": "optimizer",
}


@dataclass
class Registration:
    """One registered factory and what ``rlaif plugins`` shows about it."""

    kind: str
    name: str
    factory: Any
    plugin: str
    description: str = ""
    options_class: type | None = None
    """A dataclass of the factory's options (:mod:`rlaif.options`): the one source of schema, defaults, docs."""
    options_schema: dict[str, Any] | None = None
    """JSON Schema of the options mapping (generated from ``options_class`` when one is given)."""
    check: Any = None
    """Optional ``check(options) -> list[Problem]``: settings a schema cannot rule out (``rlaif config check``)."""
    replaces: str | None = None
    """The plugin whose registration of the same name this one replaced (``rlaif plugins`` shows it)."""
    registry: Any = field(default=None, repr=False, compare=False)
    """The registry holding this registration (handed to a two-argument ``check(options, registry)``)."""

    def resolved_options(self, options: dict[str, Any] | None) -> dict[str, Any]:
        """``options`` with every default filled in (what a run's ``config.yaml`` records)."""
        from rlaif.options import fill_schema_defaults

        options = dict(options or {})
        if self.options_schema is None:
            return options
        return fill_schema_defaults(options, self.options_schema)

    def option_problems(self, options: Any, file: str | None, where: str) -> list[Problem]:
        """Options against the schema, then (if those pass) against the plugin's own ``check``."""
        from rlaif.files import schema_problems

        if self.options_schema:
            problems = schema_problems(options, self.options_schema, file, prefix=tuple(where.split(".")))
            if problems:
                return problems
        if self.check is None:
            return []
        try:
            found = list(self.check(dict(options), *([self.registry] if _takes_two(self.check) else [])))
        except Exception as exc:  # a plugin's broken check must not hide the rest of the report
            return [Problem(f"the {self.name} plugin's option check failed: {exc!r}", file, where)]
        return [
            Problem(problem.message, file, f"{where}.{problem.where}" if problem.where else where)
            for problem in found
        ]

    def require_valid_options(self, options: dict[str, Any] | None, where: str = "options") -> dict[str, Any]:
        """The resolved options, or an :class:`RlaifError` listing every problem (for library callers)."""
        options = dict(options or {})
        problems = self.option_problems(options, None, where)
        if problems:
            raise RlaifError(f"invalid options for {KIND_NOUNS[self.kind]} '{self.name}'", problems)
        return self.resolved_options(options)


def _takes_two(function: Any) -> bool:
    """Whether a ``check`` hook takes ``(options, registry)`` rather than just ``(options)``."""
    import inspect

    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


@dataclass
class PluginInfo:
    name: str
    version: str | None
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    def __init__(self, manager: pluggy.PluginManager, broken: dict[str, str] | None = None):
        self.manager = manager
        self.broken: dict[str, str] = dict(broken or {})
        """Entry-point plugins that failed to import, with the error (``rlaif plugins`` shows them)."""
        self.entries: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            hook = getattr(manager.hook, f"register_{kind}")
            # get_hookimpls() lists in registration order: built-ins first, so a later plugin may replace one.
            for impl in hook.get_hookimpls():
                impl.function(register=self._register_fn(kind, impl.plugin_name))

    def _register_fn(self, kind: str, plugin_name: str) -> Any:
        plugin_name = "rlaif" if plugin_name.startswith("rlaif.") else plugin_name

        def register(
            name: str,
            factory: Any,
            *,
            description: str | None = None,
            options: type | None = None,
            options_schema: dict[str, Any] | None = None,
            check: Any = None,
        ) -> None:
            from rlaif.options import options_schema as schema_of

            doc = (getattr(factory, "__doc__", None) or "").strip().split("\n")[0]
            previous = self.entries[kind].get(name)
            replaces = previous.plugin if previous is not None and previous.plugin != plugin_name else None
            if replaces:
                warnings.warn(
                    f"rlaif plugin '{plugin_name}' replaces the {KIND_NOUNS[kind]} '{name}' registered by "
                    f"'{replaces}'",
                    stacklevel=2,
                )
            self.entries[kind][name] = Registration(
                kind=kind,
                name=name,
                factory=factory,
                plugin=plugin_name,
                description=description or doc,
                options_class=options,
                options_schema=schema_of(options) if options is not None else options_schema,
                check=check,
                replaces=replaces,
                registry=self,
            )

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: str, name: str, source: str | None = None) -> Registration:
        """The registration, or "unknown judge 'x' (did you mean 'y'?); available: ..." naming ``source``."""
        try:
            return self.entries[kind][name]
        except KeyError:
            raise unknown_name_error(KIND_NOUNS[kind], name, self.names(kind), source) from None

    def build(self, kind: str, name: str, options: dict[str, Any] | None = None, *args: Any) -> Any:
        """Validate ``options`` against the plugin's schema and call its factory (the library's one way in)."""
        registration = self.get(kind, name)
        resolved = registration.require_valid_options(options, f"{kind[:-1]}.options")
        return registration.factory(resolved, *args)

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
        for name, error in self.broken.items():
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


def _env_list(name: str) -> list[str] | None:
    """A comma-separated environment variable as a list; None when unset (set but empty: an empty list)."""
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def env_plugin_modules() -> list[str]:
    """Plugin modules named in ``$RLAIF_PLUGINS`` (comma-separated import paths)."""
    return _env_list("RLAIF_PLUGINS") or []


def _entry_point_selected(name: str, only: list[str] | None, disabled: list[str]) -> bool:
    return name not in disabled and (only is None or name in only)


def make_manager(
    extra_modules: Iterable[str] = (),
    only: list[str] | None = None,
    disabled: Iterable[str] = (),
) -> tuple[pluggy.PluginManager, dict[str, str]]:
    """Built-ins first (under the name ``rlaif``), then entry points, then ``extra_modules`` by import path.

    Returns the manager and the entry-point plugins that failed to import (name -> error): one broken plugin
    must not take every command down, so it is skipped with a warning and listed by ``rlaif plugins``.
    """
    from rlaif.builtin import BUILTIN_MODULES

    disabled = list(disabled)
    broken: dict[str, str] = {}
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for module_name in BUILTIN_MODULES:
        manager.register(importlib.import_module(module_name), name=module_name)
    for entry_point in _entry_points():
        if manager.has_plugin(entry_point.name) or not _entry_point_selected(
            entry_point.name, only, disabled
        ):
            continue
        try:
            module = entry_point.load()
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            broken[entry_point.name] = message
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
    return manager, broken


@lru_cache(maxsize=8)
def _registry(
    extra_modules: tuple[str, ...], only: tuple[str, ...] | None, disabled: tuple[str, ...]
) -> Registry:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager, broken = make_manager(extra_modules, list(only) if only is not None else None, disabled)
        registry = Registry(manager, broken)
    for warning in caught:  # shown once per registry, not once per lookup
        warnings.warn_explicit(warning.message, warning.category, "rlaif-plugins", 0)
    return registry


def load_registry(extra_modules: Iterable[str] = ()) -> Registry:
    """The registry for the installed plugins, ``$RLAIF_PLUGINS`` and ``extra_modules`` (a config's ``plugins:``).

    Honours ``RLAIF_LOAD_PLUGINS`` and ``RLAIF_DISABLE_PLUGINS`` (see the module docstring). Identical requests
    return the same instance.
    """
    modules = tuple(dict.fromkeys([*env_plugin_modules(), *extra_modules]))
    only = _env_list("RLAIF_LOAD_PLUGINS")
    disabled = tuple(_env_list("RLAIF_DISABLE_PLUGINS") or ())
    return _registry(modules, tuple(only) if only is not None else None, disabled)
