"""Precision and tokenizer padding: the two hardware/model details every backend, trainer and judge must agree on.

One home for the precision rules and for "a tokenizer without a pad token pads with EOS":

- by default a model is loaded in bf16 on GPUs that support it and in float32 on CPU (and on GPUs without bf16);
- ``dtype: auto`` also picks bf16 on a CPU that computes in it natively (AVX-512 BF16 or AMX): decoding reads
  every weight per step, so half the bytes is about twice the speed (measured in docs/benchmarks.md). On other
  CPUs bf16 is emulated and slower than float32, so auto keeps float32 there;
- scoring (judges' label log-probs, likelihood judges, the KL estimate) stays float32 on CPU whatever the
  generation dtype, because bf16's coarser rounding moves judge verdicts (measured; see :func:`score_dtype`).

Training precision (TRL, accelerate) is separate and unchanged: bf16 on capable GPUs, float32 on CPU.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""/proc/cpuinfo flags of native bf16 arithmetic (used when torch has no probe of its own)."""


def gpu_bf16() -> bool:
    """True on a CUDA GPU with bf16 support."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _cpuinfo_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def cpu_native_bf16() -> bool:
    """True when this CPU has bf16 arithmetic in hardware (AVX-512 BF16 or AMX tiles).

    Asks torch first (``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported``: what its oneDNN
    kernels will actually use, OS support for AMX included), then the kernel's CPU flags. Cached: it cannot
    change while the process runs.
    """
    import torch

    probes = [
        getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    asked = False
    for probe in probes:
        if callable(probe):
            asked = True
            try:
                if probe():
                    return True
            except Exception:  # a private probe: treat a failure as "not known to be supported"
                continue
    if asked:
        return False
    return bool(_cpuinfo_flags() & CPU_BF16_FLAGS)


def model_dtype(device: Any, requested: str | None = None) -> Any:
    """The dtype to load a model in on ``device``.

    ``requested`` names a dtype (``bfloat16``, ``float32``, ...) and wins. ``None`` (the default): bf16 on a
    capable GPU, float32 elsewhere. ``"auto"``: bf16 wherever the hardware computes in it natively -- a capable
    GPU, or a CPU with AVX-512 BF16 / AMX (:func:`cpu_native_bf16`) -- float32 elsewhere (MPS included).
    """
    import torch

    kind = getattr(device, "type", str(device))
    if requested and requested != "auto":
        return getattr(torch, requested)
    if kind == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if requested == "auto" and kind == "cpu" and cpu_native_bf16():
        return torch.bfloat16
    return torch.float32


def score_dtype(device: Any, model_dtype_: Any, requested: str | None = None) -> Any:
    """The dtype to compute log-probs for scoring in (judges, likelihoods, KL), given the generation dtype.

    ``requested`` names a dtype and wins. Otherwise float32 on CPU: bf16 moved pairwise and likelihood verdicts
    on HH-RLHF pairs (docs/benchmarks.md), and on a CPU an extra float32 copy of a small model is cheap. On
    accelerators the model's own dtype, as before: a second float32 copy of a large model is what GPU memory
    cannot spare.
    """
    import torch

    if requested and requested != "auto":
        return getattr(torch, requested)
    if getattr(device, "type", str(device)) == "cpu":
        return torch.float32
    return model_dtype_


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
