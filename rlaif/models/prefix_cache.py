"""Reuse the attention keys/values of a prompt prefix the model has already processed.

The CAI loop feeds each stage's output into the next stage's prompt: the critique prompt is the answer prompt
plus the answer, the revision prompt is the critique prompt plus the critique. Recomputing those prefixes is
most of the prompt work of the later stages (on CPU, prompt processing is compute-bound and costs the same
whether batched or not). :class:`PrefixCache` keeps, per finished row, its token ids and the keys/values the
model computed for them; the next call looks up the longest cached prefix of each new prompt and only feeds the
rest.

How a batch with different reused lengths is laid out (``P`` = the longest reuse, ``S`` = the longest rest)::

    row:  [pad * (P - r)] [cached prefix, r tokens] [pad * (S - s)] [new tokens, s tokens]

The cached part is handed to ``generate`` as a ``DynamicCache`` of length ``P``; the padding in the middle is
masked, and because Hugging Face derives position ids from the cumulative attention mask, every real token keeps
the position it had when its keys were computed. Keys/values depend only on the tokens before them, so the result
is the same as recomputing (up to the float noise that batching itself causes).

Two things would make cached keys wrong, and both are guarded: new weights (the cache remembers a fingerprint of
the parameters and empties itself when it changes, e.g. after an optimizer step) and attention that does not see
the whole prefix (sliding-window or non-attention layers: :func:`supports_prefix_cache` says no and the backend
does not cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

# Below this many reusable tokens a row is not worth the bookkeeping.
MIN_REUSE = 8


@dataclass
class CachedRow:
    """One processed sequence: its token ids and, per layer, keys and values ``[kv_heads, len, head_dim]``."""

    tokens: torch.Tensor  # [len] long, on the CPU
    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


@dataclass
class PrefixBatch:
    """Model inputs for one batch that reuses cached prefixes."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    cache: Any  # transformers.DynamicCache, or None when nothing is reused


def weights_fingerprint(model: Any) -> tuple[tuple[int, int], ...]:
    """Identity and in-place version counter of every parameter: changes when any weight is updated or swapped."""
    return tuple((id(p), p._version) for p in model.parameters())


def supports_prefix_cache(model: Any) -> bool:
    """Only plain full-attention decoders: a sliding window (or a recurrent layer) does not see a whole prefix."""
    config = (
        model.config.get_text_config(decoder=True)
        if hasattr(model.config, "get_text_config")
        else model.config
    )
    if getattr(config, "is_encoder_decoder", False):
        return False
    layer_types = getattr(config, "layer_types", None) or ["full_attention"]
    if set(layer_types) != {"full_attention"}:
        return False
    window = getattr(config, "sliding_window", None)
    return not window or getattr(config, "use_sliding_window", True) is False


class PrefixCache:
    """The rows of the most recent call, looked up by longest common token prefix.

    Only the latest call's rows are kept (``commit`` swaps them in), up to ``max_bytes`` of keys and values, in
    call order: each CAI stage reuses the one before it, so an older call's rows would only cost memory. The
    rows of the current call's finished batches are looked up too: prompts that share a head among themselves
    (a constitution's few-shot examples, which open every critique prompt) feed it once per call, not once
    per batch.
    """

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = max_bytes
        self.rows: list[CachedRow] = []
        self.fingerprint: Any = None
        self.reused_tokens = 0  # counters, for benchmarks and tests
        self.fed_tokens = 0
        self.begin()

    # A call collects its rows while it still looks up the previous call's: begin, stage per batch, commit.
    def begin(self, fingerprint: Any = None) -> None:
        self._staged: list[CachedRow] = []
        self._staged_bytes = 0
        self._staged_fingerprint = fingerprint

    def has_room(self) -> bool:
        """Whether staging more rows can still keep any (callers skip copying keys out once it cannot)."""
        return self._staged_bytes < self.max_bytes

    def stage(self, rows: Sequence[CachedRow]) -> None:
        """Add a batch's rows for the next call, while they fit the byte budget."""
        for row in rows:
            if self._staged_bytes + row.nbytes > self.max_bytes:
                self._staged_bytes = self.max_bytes  # full: keep rows in call order, no later small ones
                return
            self._staged.append(row)
            self._staged_bytes += row.nbytes

    def commit(self) -> None:
        self.rows, self.fingerprint = self._staged, self._staged_fingerprint
        self.begin()

    def clear(self) -> None:
        self.rows, self.fingerprint = [], None

    def longest_prefix(
        self, ids: torch.Tensor, rows: Sequence[CachedRow] | None = None
    ) -> tuple[CachedRow | None, int]:
        """The row (of ``rows``, default the previous call's) sharing the longest prefix with ``ids``, and that
        length (at most ``len(ids) - 1``: the last prompt token must be fed to get the next-token logits)."""
        best, best_length = None, 0
        limit = len(ids) - 1
        for row in self.rows if rows is None else rows:
            n = min(limit, len(row.tokens))
            if n <= best_length:
                continue
            differ = (row.tokens[:n] != ids[:n]).nonzero()
            length = int(differ[0]) if len(differ) else n
            if length > best_length:
                best, best_length = row, length
        return (best, best_length) if best_length >= MIN_REUSE else (None, 0)

    def layout(
        self, prompts: Sequence[torch.Tensor], pad_id: int, config: Any, fingerprint: Any = None
    ) -> PrefixBatch:
        """Inputs and a prefilled ``DynamicCache`` for ``prompts`` (1-D CPU token id tensors).

        Rows cached under another weights ``fingerprint`` are dropped first: their keys belong to old weights.
        """
        from transformers import DynamicCache

        if self.rows and fingerprint != self.fingerprint:
            self.clear()
        candidates = self.rows
        if self._staged and fingerprint == self._staged_fingerprint:
            candidates = [*self.rows, *self._staged]  # this call's earlier batches: same weights
        matches = [self.longest_prefix(ids, candidates) for ids in prompts]
        reused = [length for _, length in matches]
        width_cached = max(reused)
        width_new = max(len(ids) - r for ids, r in zip(prompts, reused, strict=True))
        batch = len(prompts)
        input_ids = torch.full((batch, width_cached + width_new), pad_id, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for row, (ids, r) in enumerate(zip(prompts, reused, strict=True)):
            input_ids[row, width_cached - r : width_cached] = ids[:r]
            mask[row, width_cached - r : width_cached] = 1
            rest = ids[r:]
            input_ids[row, input_ids.shape[1] - len(rest) :] = rest
            mask[row, input_ids.shape[1] - len(rest) :] = 1
        self.reused_tokens += sum(reused)
        self.fed_tokens += sum(len(ids) - r for ids, r in zip(prompts, reused, strict=True))
        if width_cached == 0:
            return PrefixBatch(input_ids, mask, None)
        template = next(match for match, _ in matches if match is not None)
        layers = []
        for layer, like in enumerate(template.keys):
            shape = (batch, like.shape[0], width_cached, like.shape[-1])
            keys = torch.zeros(shape, dtype=like.dtype, device=like.device)
            values = torch.zeros(shape, dtype=like.dtype, device=like.device)
            for row, (match, r) in enumerate(matches):
                if match is not None:
                    keys[row, :, width_cached - r :] = match.keys[layer][:, :r]
                    values[row, :, width_cached - r :] = match.values[layer][:, :r]
            layers.append((keys, values))
        return PrefixBatch(input_ids, mask, DynamicCache(layers, config=config))


def harvest(
    sequences: torch.Tensor, prompt_mask: torch.Tensor, cache: Any, stop_ids: Sequence[int]
) -> list[CachedRow]:
    """The cacheable rows of a finished ``generate`` call.

    ``sequences`` is generate's output (prompt columns then new tokens), ``prompt_mask`` the attention mask of
    the prompt columns, ``cache`` the call's final ``DynamicCache``. A row keeps its real prompt tokens and its
    new tokens up to and including the first stop token -- after that, generate feeds padding that later prompts
    never contain. The cache holds keys for every column but the last (the last sampled token is never fed).
    A cache without per-layer tensors (older transformers, other cache kinds) yields nothing.
    """
    layers = getattr(cache, "layers", None)
    if not layers or getattr(layers[0], "keys", None) is None:
        return []
    prompt_width = prompt_mask.shape[1]
    fed = cache.get_seq_length()
    stops = torch.tensor(list(stop_ids), dtype=sequences.dtype, device=sequences.device) if stop_ids else None
    rows = []
    for row in range(sequences.shape[0]):
        new = sequences[row, prompt_width:fed]
        keep_new = len(new)
        if stops is not None and len(new):
            hits = torch.isin(new, stops).nonzero()
            if len(hits):
                keep_new = int(hits[0]) + 1
        positions = torch.cat(
            [
                prompt_mask[row].nonzero().flatten(),
                torch.arange(prompt_width, prompt_width + keep_new, device=prompt_mask.device),
            ]
        )
        rows.append(
            CachedRow(
                tokens=sequences[row, positions].cpu(),
                keys=[layer.keys[row][:, positions] for layer in layers],
                values=[layer.values[row][:, positions] for layer in layers],
            )
        )
    return rows
