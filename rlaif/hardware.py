"""Precision and tokenizer padding: the two hardware/model details every backend, trainer and judge must agree on.

One home for "bf16 on GPUs that support it, fp32 on CPU" (bf16 matmuls are slow on most CPUs, and TRL's bf16
default would fail or crawl there) and for "a tokenizer without a pad token pads with EOS".
"""

from __future__ import annotations

from typing import Any, Literal


def gpu_bf16() -> bool:
    """True on a CUDA GPU with bf16 support."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def model_dtype(device: Any, requested: str | None = None) -> Any:
    """The dtype to load a model in on ``device``: ``requested`` if given (e.g. ``bfloat16``), else bf16 on a
    capable GPU and float32 elsewhere."""
    import torch

    if requested and requested != "auto":
        return getattr(torch, requested)
    if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def trainer_precision() -> dict[str, bool]:
    """``TrainingArguments`` precision fields: bf16 (or fp16 on older GPUs) on CUDA, plain fp32 on CPU."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16, "use_cpu": False}
    return {"bf16": False, "fp16": False, "use_cpu": True}


def accelerate_precision() -> Literal["bf16", "no"]:
    """``Accelerator(mixed_precision=...)`` for our own training loops (PPO)."""
    return "bf16" if gpu_bf16() else "no"


def prepare_tokenizer(tokenizer: Any, padding_side: Literal["left", "right"] | None = None) -> Any:
    """Pad with EOS when the tokenizer has no pad token; set the padding side (left for generation)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    return tokenizer
