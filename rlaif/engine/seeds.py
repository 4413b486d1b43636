"""Per-prompt seeds: what makes a resumed or re-batched run repeat exactly the same choices."""

from __future__ import annotations

import hashlib


def prompt_seed(seed: int, round_index: int, prompt_id: str, pass_index: int = 1) -> int:
    """A 31-bit seed for one prompt in one round, independent of order and batch composition.

    ``pass_index`` > 1 gives the seed of a later critique -> revision pass (its principle and sampling);
    pass 1 is the prompt's own seed, so single-pass runs keep the seeds they always had.
    """
    key = f"{seed}:{round_index}:{prompt_id}" + (f":pass{pass_index}" if pass_index > 1 else "")
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
