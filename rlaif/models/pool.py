"""The one model pool: loads each distinct model once and hands it to every role and judge that uses it.

A pool is the ``context`` judge factories receive (:class:`rlaif.protocols.BuildContext`): ``pool.model(role)``
for ``policy`` / ``critic`` / ``judge``, or ``pool.model(spec)`` for any model spec, and ``pool.registry``.
Member judges that name their own model get a :meth:`ModelPool.with_roles` view sharing the same loaded models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.memory import release_memory
from rlaif.models import ROLES, load_chat_model, resolve_local_spec
from rlaif.plugins import Registry
from rlaif.protocols import ChatModel


@dataclass(frozen=True)
class ModelRef:
    """A role's model: a spec string plus backend options (``batch_size``, ``base_url``, ...)."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str | dict[str, Any]) -> ModelRef:
        if isinstance(value, str):
            return cls(value)
        options = {key: val for key, val in value.items() if key != "spec"}
        return cls(value["spec"], options)

    def key(self) -> str:
        """Identity for sharing one loaded model between roles."""
        return json.dumps([self.spec, self.options], sort_keys=True, default=str)


class ModelPool:
    """Loads each distinct (spec, options) once; closes them all together.

    ``roles`` maps ``policy``/``critic``/``judge`` to their :class:`ModelRef` (a role not given is the embedded
    model); relative model directories resolve against ``base_dir`` (the config file's folder).
    """

    def __init__(
        self,
        registry: Registry,
        roles: dict[str, ModelRef] | None = None,
        base_dir: Path | None = None,
        _loaded: dict[str, ChatModel] | None = None,
    ):
        self.registry = registry
        self.roles = dict(roles or {})
        self.base_dir = base_dir
        self._loaded: dict[str, ChatModel] = {} if _loaded is None else _loaded

    def ref(self, role_or_spec: str) -> ModelRef:
        if role_or_spec in ROLES:
            return self.roles.get(role_or_spec) or ModelRef("embedded")
        return ModelRef(role_or_spec)

    def model(self, role_or_spec: str) -> ChatModel:
        ref = self.ref(role_or_spec)
        spec = resolve_local_spec(ref.spec, self.registry, self.base_dir)
        key = f"{spec}|{ref.key()}"
        if key not in self._loaded:
            self._loaded[key] = load_chat_model(spec, ref.options, self.registry)
        return self._loaded[key]

    def with_roles(self, keep_options: bool = True, **specs: str | None) -> ModelPool:
        """A view whose roles are re-pointed (``judge="openai:m"``, or another role's name), same loaded models.

        A role re-pointed to a spec keeps its backend options (``base_url``, ``batch_size``) unless
        ``keep_options`` is false (a member judge naming a model of its own).
        """
        roles = dict(self.roles)
        for role, value in specs.items():
            if not value:
                continue
            if value in ROLES:
                roles[role] = self.ref(value)
            else:
                roles[role] = ModelRef(value, self.ref(role).options if keep_options else {})
        return ModelPool(self.registry, roles, self.base_dir, _loaded=self._loaded)

    def close(self) -> None:
        """Release every model now (HTTP clients and loop threads included), not whenever GC gets to it."""
        for model in self._loaded.values():
            closer = getattr(model, "close", None)
            if callable(closer):
                closer()
        self._loaded.clear()
        release_memory()

    def __enter__(self) -> ModelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
