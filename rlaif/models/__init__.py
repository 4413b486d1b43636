"""Model specs -> chat models, through the ``register_models`` hook.

A spec string is one of:

- ``embedded``: the built-in SmolLM2-135M-Instruct (see :mod:`rlaif.models.embedded`);
- ``scheme:rest`` where a plugin registered ``scheme`` (``openai:gpt-4o-mini``, ``hf:./my-model``);
- a local Hugging Face model directory (or a hub id already in the local HF cache).

``word:rest`` with a scheme nobody registered is an error naming the installed backends, not a directory that
"does not exist": a typo'd or uninstalled backend must say so.

This module is the one home of spec parsing and of the "is this a local model?" checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError, unknown_name_error
from rlaif.plugins import Registry
from rlaif.protocols import ChatModel

ROLES = ("policy", "critic", "judge")


def _looks_like_scheme(scheme: str) -> bool:
    """``openai`` in ``openai:gpt-4o`` is a scheme; ``C`` in ``C:\\models`` or ``./a`` in ``./a:b`` is not."""
    return len(scheme) > 1 and scheme.replace("-", "").replace("_", "").isalnum()


def split_spec(spec: str, registry: Registry) -> tuple[str, str]:
    """``"openai:gpt-4o"`` -> ``("openai", "gpt-4o")``; ``embedded`` and local paths / hub ids -> ``hf``.

    Raises :class:`RlaifError` for ``x:...`` when no backend ``x`` is registered.
    """
    if spec == "embedded":
        return "embedded", ""
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in registry.entries["models"] and scheme != "embedded":
        return scheme, rest
    if sep and _looks_like_scheme(scheme) and not Path(spec).expanduser().exists():
        raise unknown_name_error("model backend", scheme, registry.names("models"))
    return "hf", spec


def looks_like_hub_id(name: str) -> bool:
    """``org/model``: a Hugging Face hub id (loadable only if already in the local cache: no downloads here)."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def local_model_path(rest: str, base_dir: Path | None = None) -> Path:
    """A model directory named in a config: relative to the config file's folder when it exists there."""
    path = Path(rest).expanduser()
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        return (base_dir / path).resolve()
    return path


def serves_local_weights(scheme: str, registry: Registry) -> bool:
    """Does backend ``scheme`` load weights from a local directory (so it can serve what rlaif trains)?

    ``embedded`` and ``hf`` do; a backend plugin says so with a ``serves_local_weights = True`` attribute on its
    factory (``vllm``). Such a policy is trainable here, and each round's checkpoint is served by the same backend.
    """
    if scheme in ("embedded", "hf"):
        return True
    registration = registry.entries["models"].get(scheme)
    return bool(registration is not None and getattr(registration.factory, "serves_local_weights", False))


def _weights_spec(spec: str, registry: Registry) -> tuple[str, str]:
    """``(scheme, rest)`` with a local-weights backend's ``scheme:embedded`` / ``scheme:dir`` seen as the model."""
    scheme, rest = split_spec(spec, registry)
    if scheme not in ("embedded", "hf") and serves_local_weights(scheme, registry):
        return ("embedded", "") if rest in ("", "embedded") else ("hf", rest)
    return scheme, rest


def missing_local_model(spec: str, registry: Registry, base_dir: Path | None = None) -> str | None:
    """Why ``spec`` cannot be loaded (an unknown backend, a missing directory), or None when it looks loadable."""
    try:
        scheme, rest = _weights_spec(spec, registry)
    except RlaifError as error:
        return error.message
    if scheme != "hf":
        return None
    if local_model_path(rest, base_dir).exists() or looks_like_hub_id(rest):
        return None
    return (
        f"model directory '{rest}' not found (use 'embedded', a local model directory or "
        f"'<backend>:<model>' with one of: {', '.join(registry.names('models'))})"
    )


def resolve_local_spec(spec: str, registry: Registry, base_dir: Path | None = None) -> str:
    """Relative model directories are relative to the config file (made absolute here)."""
    scheme, rest = split_spec(spec, registry)
    if scheme == "hf":
        return str(local_model_path(rest, base_dir))
    if serves_local_weights(scheme, registry) and rest not in ("", "embedded"):
        return f"{scheme}:{local_model_path(rest, base_dir)}"
    return spec


def policy_weights_path(spec: str, registry: Registry, base_dir: Path | None = None) -> str:
    """Where the policy's weights are on disk (the embedded model is materialised from its GGUF once)."""
    scheme, rest = _weights_spec(resolve_local_spec(spec, registry, base_dir), registry)
    if scheme == "embedded":
        from rlaif.models.embedded import embedded_model_dir

        return str(embedded_model_dir())
    if scheme != "hf":
        raise RlaifError(f"the policy '{spec}' is not a local model, so it cannot be trained here")
    if not Path(rest).expanduser().is_dir() and not looks_like_hub_id(rest):
        raise RlaifError(
            f"the policy '{spec}': no model directory there (use 'embedded' or a local HF directory)"
        )
    return rest


def is_trainable_here(spec: str, registry: Registry) -> bool:
    """Only local weights (the embedded model, an HF directory, served by any backend) can be trained here."""
    return serves_local_weights(split_spec(spec, registry)[0], registry)


def next_policy_spec(spec: str, checkpoint: str, registry: Registry) -> str:
    """The spec that samples from a round's ``checkpoint`` with the backend the policy used (``vllm:<ckpt>``)."""
    scheme, _ = split_spec(spec, registry)
    if scheme in ("embedded", "hf"):
        return checkpoint
    return f"{scheme}:{checkpoint}"


def load_chat_model(spec: str, options: dict[str, Any] | None, registry: Registry) -> ChatModel:
    """Build the chat model a spec names, with backend ``options`` validated and defaults filled in."""
    scheme, rest = split_spec(spec, registry)
    registration = registry.get("models", scheme)
    return registration.factory(rest, registration.require_valid_options(options, "model options"))


__all__ = [
    "ROLES",
    "is_trainable_here",
    "load_chat_model",
    "local_model_path",
    "looks_like_hub_id",
    "missing_local_model",
    "next_policy_spec",
    "policy_weights_path",
    "resolve_local_spec",
    "serves_local_weights",
    "split_spec",
]
