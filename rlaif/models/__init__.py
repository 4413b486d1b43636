"""Model specs -> chat models, through the ``register_models`` hook.

A spec string is one of:

- ``embedded``: the built-in SmolLM2-135M-Instruct (see :mod:`rlaif.models.embedded`);
- ``scheme:rest`` where a plugin registered ``scheme`` (``openai:gpt-4o-mini``, ``hf:./my-model``);
- anything else: a local Hugging Face model directory (or a hub id already in the local HF cache).
"""

from __future__ import annotations

from typing import Any

from rlaif.plugins import Registry, get_registry
from rlaif.protocols import ChatModel


def split_spec(spec: str, registry: Registry) -> tuple[str, str]:
    """``"openai:gpt-4o"`` -> ``("openai", "gpt-4o")``; bare names and paths go to ``hf`` (or ``embedded``)."""
    if spec == "embedded":
        return "embedded", ""
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in registry.entries["models"] and scheme != "embedded":
        return scheme, rest
    return "hf", spec


def load_chat_model(
    spec: str, options: dict[str, Any] | None = None, registry: Registry | None = None
) -> ChatModel:
    registry = registry or get_registry()
    scheme, rest = split_spec(spec, registry)
    factory = registry.get("models", scheme).factory
    return factory(rest, dict(options or {}))
