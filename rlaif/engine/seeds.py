"""Per-prompt seeds: what makes a resumed or re-batched run repeat exactly the same choices."""

from __future__ import annotations

import hashlib


def prompt_seed(seed: int, round_index: int, prompt_id: str) -> int:
    """A 31-bit seed for one prompt in one round, independent of order and batch composition."""
    digest = hashlib.sha256(f"{seed}:{round_index}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
