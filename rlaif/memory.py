"""Giving memory back between phases (generate, train, eval), so each phase's peak is its own."""

from __future__ import annotations

import gc


def release_memory() -> None:
    """Collect reference cycles and return freed heap pages to the OS.

    Trainers and models hold reference cycles that only the cycle collector frees, and glibc keeps freed heap
    pages mapped until asked: ``malloc_trim`` returns them to the OS (skipped where there is no glibc).
    """
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
