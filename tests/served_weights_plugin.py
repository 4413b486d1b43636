"""A backend that serves local weights, like ``vllm:`` does, without vLLM (loaded with ``plugins:``).

``served:DIR`` (``served:embedded``) is the transformers backend on DIR, but registered by a plugin whose factory
says ``serves_local_weights = True``: rlaif must then train the policy it names and serve each round's
checkpoint as ``served:<checkpoint>``. ``BUILT`` records every spec the factory was asked for, in order.
"""

from __future__ import annotations

from typing import Any

from rlaif import hookimpl

BUILT: list[str] = []


def served_factory(spec: str, options: dict[str, Any]):
    """The transformers backend on a local directory, registered as a weights-serving plugin backend."""
    from rlaif.models.embedded import embedded_model_dir
    from rlaif.models.transformers import TransformersChatModel

    BUILT.append(spec)
    path = embedded_model_dir() if spec in ("", "embedded") else spec
    return TransformersChatModel(path, name=f"served:{spec}", **options)


served_factory.serves_local_weights = True  # type: ignore[attr-defined]


@hookimpl
def register_models(register):
    register("served", served_factory, options_schema={"type": "object", "additionalProperties": False})
