"""Local Hugging Face causal LMs as batched chat models.

Batching is the point: conversations are rendered with the model's chat template, sorted by length (less
padding), left-padded and generated together. Sampling is seeded *per request* with a logits processor that
draws each row's token from that row's own ``torch.Generator``, so a prompt gets the same sample whether it runs
alone, in a batch, or after a resume.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rlaif.errors import RlaifError
from rlaif.hardware import model_dtype, prepare_tokenizer
from rlaif.hardware import score_dtype as pick_score_dtype
from rlaif.models.prefix_cache import (
    PrefixBatch,
    PrefixCache,
    harvest,
    supports_prefix_cache,
    weights_fingerprint,
)
from rlaif.protocols import Conversation, GenerationParams


def pick_device(requested: str | None = None) -> torch.device:
    """``cuda`` when available, else ``mps``, else ``cpu``; an explicit request wins."""
    if requested and requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, requested: str | None = None) -> torch.dtype:
    """The generation dtype: by default bf16 on GPUs that support it, float32 on CPU; ``auto`` also bf16 on CPUs
    with native bf16 (see :mod:`rlaif.hardware`)."""
    return model_dtype(device, requested)


def load_causal_lm(path: str | Path, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """Load model + tokenizer from a local directory (offline: a missing file fails at once, clearly)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(path).expanduser()
    offline = local.exists() or os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(local) if local.exists() else str(path), local_files_only=offline
        )
        model = AutoModelForCausalLM.from_pretrained(
            str(local) if local.exists() else str(path), dtype=dtype, local_files_only=offline
        )
    except OSError as exc:
        raise RlaifError(
            f"cannot load model '{path}': {exc}".split("\n")[0],
            hint="Give a local directory with a saved model (config.json, *.safetensors, tokenizer files), "
            "'embedded' for the built-in SmolLM2-135M-Instruct, or 'openai:<model>' for a served model.",
        ) from exc
    prepare_tokenizer(tokenizer, "left")
    model.to(device)
    model.eval()
    return model, tokenizer


@functools.cache
def _cache_argument() -> str:
    """The name ``generate`` takes and returns the KV cache under: ``cache`` in newer transformers (which warn
    about the old ``past_key_values``), ``past_key_values`` before."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return (
        "cache"
        if "cache" in getattr(CausalLMOutputWithPast, "__dataclass_fields__", {})
        else "past_key_values"
    )


class _SeededSampler:
    """A logits processor that samples each row with its own generator and forces that token.

    Runs after HF's processors with ``do_sample=False``: it returns logits that are ``-inf`` except at the
    sampled token, so HF's greedy step picks exactly our seeded draw. Sampling is by inverse CDF with one
    uniform draw per row; nucleus (top-p) filtering looks at the top ``_TOP_K`` tokens first (a partial sort,
    ~6x cheaper than sorting the whole vocabulary) and sorts fully only when they hold less than ``top_p``.
    """

    _TOP_K = 256

    def __init__(self, generators: list[torch.Generator], temperature: float, top_p: float):
        self.generators = generators
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        uniforms = torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(probs.device)
        if self.top_p < 1.0:
            k = min(self._TOP_K, probs.shape[-1])
            candidates, indices = probs.topk(k, dim=-1)
            if bool((candidates.sum(dim=-1) < self.top_p).any()):
                candidates, indices = probs.sort(dim=-1, descending=True)
            keep = (candidates.cumsum(dim=-1) - candidates) < self.top_p  # the first token is always kept
            candidates = candidates * keep
        else:
            candidates, indices = probs, None
        cumulative = candidates.cumsum(dim=-1)
        targets = (uniforms.unsqueeze(1) * cumulative[:, -1:]).contiguous()
        positions = torch.searchsorted(cumulative, targets).clamp(max=cumulative.shape[-1] - 1)
        chosen = positions if indices is None else indices.gather(1, positions)
        forced = torch.full_like(scores, float("-inf"))
        forced.scatter_(1, chosen, 0.0)
        return forced


class TransformersChatModel:
    """A local causal LM behind the :class:`~rlaif.protocols.ChatModel` interface."""

    def __init__(
        self,
        path: str | Path,
        name: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        prefix_cache_mb: int = 1024,
        score_dtype: str | None = None,
    ):
        if threads:
            torch.set_num_threads(int(threads))  # process-wide: torch has no per-model thread pool
        self.path = str(path)
        self.name = name or f"hf:{path}"
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self.score_dtype = pick_score_dtype(self.device, self.dtype, score_dtype)
        self.batch_size = max(1, int(batch_size))
        self.model, self.tokenizer = load_causal_lm(path, self.device, self.dtype)
        self._scorer: Any = None
        # Keys/values of the last generate call's rows, reused by the next call's shared prefixes (0 MB: off).
        self.prefix_cache: PrefixCache | None = (
            PrefixCache(int(prefix_cache_mb) << 20)
            if prefix_cache_mb and supports_prefix_cache(self.model)
            else None
        )

    @property
    def scoring_model(self) -> Any:
        """The weights log-probs are computed with: ``self.model`` unless scoring needs another dtype.

        With ``dtype: auto`` on a CPU with native bf16, generation runs in bf16 but judges' log-probs stay float32
        (bf16 moves verdicts: docs/benchmarks.md). The float32 copy is loaded from the same directory on first
        use, so a model that only generates (a policy) or only judges never holds two copies.
        """
        if self.score_dtype == self.dtype:
            return self.model
        if self._scorer is None:
            self._scorer, _ = load_causal_lm(self.path, self.device, self.score_dtype)
        return self._scorer

    # -- rendering -------------------------------------------------------------------------------------------
    def render(self, conversation: Conversation) -> str:
        return self.tokenizer.apply_chat_template(
            list(conversation), tokenize=False, add_generation_prompt=True
        )

    def _batches_by_length(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices grouped into batches of similar length: less padding, same results (rows are independent)."""
        order = sorted(range(len(lengths)), key=lambda index: lengths[index])
        return [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]

    @property
    def _stop_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None:
            ids.append(self.tokenizer.eos_token_id)
        return sorted(set(ids))

    # -- ChatModel ---------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        seeds: Sequence[int] | None = None,
    ) -> list[str]:
        from transformers import GenerationConfig, LogitsProcessorList

        prompts = [self._token_ids(self.render(c)) for c in conversations]
        replies: list[str] = [""] * len(prompts)
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            return_dict_in_generate=True,
        )
        fingerprint = self._begin_caching()
        for batch in self._batches_by_length([len(ids) for ids in prompts]):
            laid = self._layout([prompts[index] for index in batch], fingerprint)
            processors = LogitsProcessorList()
            if params.temperature > 0:
                generators = []
                for index in batch:
                    generator = torch.Generator()
                    generator.manual_seed(
                        int(seeds[index]) if seeds is not None else int(torch.seed() % 2**31)
                    )
                    generators.append(generator)
                processors.append(_SeededSampler(generators, params.temperature, params.top_p))
            output = self.model.generate(
                input_ids=laid.input_ids.to(self.device),
                attention_mask=laid.attention_mask.to(self.device),
                generation_config=config,
                logits_processor=processors,
                **({_cache_argument(): laid.cache} if laid.cache is not None else {}),
            )
            self._keep(output.sequences, laid.attention_mask, getattr(output, _cache_argument(), None))
            new_tokens = output.sequences[:, laid.input_ids.shape[1] :]
            for row, index in enumerate(batch):
                replies[index] = _truncate_at_stop(
                    self.tokenizer.decode(new_tokens[row], skip_special_tokens=True).strip(), params.stop
                )
        if self.prefix_cache is not None:
            self.prefix_cache.commit()
        return replies

    def _begin_caching(self, model: Any = None) -> Any:
        """Start collecting this call's rows; returns the weights fingerprint (None when not caching).

        ``model`` is the one this call runs (the scoring copy for log-probs): keys computed by one set of weights
        are never fed to the other, because the fingerprint differs and the cache empties itself.
        """
        if self.prefix_cache is None:
            return None
        fingerprint = weights_fingerprint(model if model is not None else self.model)
        self.prefix_cache.begin(fingerprint)
        return fingerprint

    def _keep(self, sequences: torch.Tensor, prompt_mask: torch.Tensor, cache: Any) -> None:
        """Stage a finished batch's rows for the next call, while the cache has room."""
        if self.prefix_cache is not None and cache is not None and self.prefix_cache.has_room():
            self.prefix_cache.stage(harvest(sequences, prompt_mask.to(self.device), cache, self._stop_ids))

    def _layout(self, prompts: list[torch.Tensor], fingerprint: Any) -> PrefixBatch:
        """Left-padded inputs, reusing cached prefixes when the prefix cache is on."""
        pad = self.tokenizer.pad_token_id
        if self.prefix_cache is not None:
            return self.prefix_cache.layout(prompts, pad, self.model.config, fingerprint)
        return PrefixCache().layout(prompts, pad, self.model.config)  # an empty cache: plain left padding

    @torch.inference_mode()
    def label_logprobs(
        self, conversations: Sequence[Conversation], labels: Sequence[str]
    ) -> list[dict[str, float] | None]:
        """Exact log p(label | rendered prompt), summed over the label's tokens.

        Single-token labels (the common "A"/"B" or "1".."9") cost one forward pass per batch of prompts; each
        multi-token label (like "10") adds one forward pass per prompt.
        """
        label_ids = [self.tokenizer(label, add_special_tokens=False)["input_ids"] for label in labels]
        texts = [self.render(conversation) for conversation in conversations]
        prompts = [self._token_ids(text) for text in texts]
        results: list[dict[str, float] | None] = [None] * len(texts)
        fingerprint = self._begin_caching(self.scoring_model)
        for batch in self._batches_by_length([len(ids) for ids in prompts]):
            logits = self._prompt_last_logits([prompts[index] for index in batch], fingerprint).float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for row, index in enumerate(batch):
                results[index] = {
                    label: float(logprobs[row, ids[0]])
                    if len(ids) == 1
                    else self._continuation_logprob(texts[index], ids)
                    for label, ids in zip(labels, label_ids, strict=True)
                }
        if self.prefix_cache is not None:
            self.prefix_cache.commit()
        return results

    def _token_ids(self, text: str) -> torch.Tensor:
        return torch.tensor(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)

    def _prompt_last_logits(self, prompts: list[torch.Tensor], fingerprint: Any) -> torch.Tensor:
        """One forward pass over a batch of prompts: next-token logits at each prompt's end.

        With the prefix cache on, cached prefixes are not fed again and the batch's keys/values are kept for the
        next call (a judge asking about the second order reuses the first order's prompt up to the responses).
        Position ids come from the attention mask, as ``generate`` makes them, so kept keys can be reused there.

        ``logits_to_keep=1`` skips the vocabulary projection for every other position: for a 49k-token vocabulary
        that projection is ~20% of the forward pass and a [batch, length, vocab] float tensor (GBs for a batch of
        long judge prompts). Models whose forward lacks the argument get the full logits, sliced.
        """
        laid = self._layout(prompts, fingerprint)
        ids, mask = laid.input_ids.to(self.device), laid.attention_mask.to(self.device)
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
        if self.prefix_cache is not None:
            start = laid.cache.get_seq_length() if laid.cache is not None else 0
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            inputs.update(input_ids=ids[:, start:], position_ids=positions[:, start:], use_cache=True)
            if laid.cache is not None:
                inputs[_cache_argument()] = laid.cache
        scorer = self.scoring_model
        try:
            output = scorer(**inputs, logits_to_keep=1)
        except TypeError:
            output = scorer(**inputs)
        self._keep(ids, mask, getattr(output, _cache_argument(), None))
        return output.logits[:, -1, :]

    @torch.inference_mode()
    def response_logprobs(
        self,
        conversations: Sequence[Conversation],
        responses: Sequence[str],
        reduction: str = "sum",
    ) -> list[Any]:
        """Log-probability of each ``response`` as the assistant's reply to its conversation.

        The response is scored as the chat template would render it, end-of-turn token included (so a reply
        that should have stopped earlier pays for it). ``reduction="sum"`` (default) gives the total,
        ``"mean"`` the per-token mean (length normalised, what likelihood judges compare), ``"tokens"`` the list
        of per-token log-probs (what the per-token KL estimate needs). Optional in the ChatModel protocol.
        """
        if reduction not in ("mean", "sum", "tokens"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'tokens', not {reduction!r}")
        prompts = [self.render(conversation) for conversation in conversations]
        end = self._end_of_turn()
        rows: list[tuple[list[int], int]] = []
        for prompt, response in zip(prompts, responses, strict=True):
            prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            response_ids = self.tokenizer(response + end, add_special_tokens=False)["input_ids"]
            rows.append((prompt_ids + response_ids, len(prompt_ids)))
        order = sorted(range(len(rows)), key=lambda index: len(rows[index][0]))
        results: list[Any] = [None] * len(rows)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(rows[index][0]) for index in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, index in enumerate(batch):  # right padding: positions stay those of an unpadded row
                tokens = rows[index][0]
                ids[row, : len(tokens)] = torch.tensor(tokens)
                mask[row, : len(tokens)] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            logits = self.scoring_model(input_ids=ids, attention_mask=mask).logits
            logprobs = torch.log_softmax(logits.float(), -1)
            for row, index in enumerate(batch):
                tokens, prompt_length = rows[index]
                targets = torch.tensor(tokens[prompt_length:], device=self.device)
                positions = torch.arange(prompt_length - 1, len(tokens) - 1, device=self.device)
                token_logprobs = logprobs[row, positions, targets]
                if reduction == "tokens":
                    results[index] = [float(value) for value in token_logprobs]
                    continue
                total = float(token_logprobs.sum())
                results[index] = total / len(targets) if reduction == "mean" else total
        return results

    def _end_of_turn(self) -> str:
        """The text the chat template puts after an assistant reply (e.g. ``<|im_end|>``), or EOS."""
        marker = "\x00REPLY\x00"
        rendered = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}], tokenize=False
        )
        tail = rendered.split(marker, 1)[1] if marker in rendered else ""
        return tail.rstrip("\n") or (self.tokenizer.eos_token or "")

    def _continuation_logprob(self, prompt_text: str, continuation_ids: list[int]) -> float:
        prompt_ids = self.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + continuation_ids], device=self.device)
        logprobs = torch.log_softmax(self.scoring_model(input_ids=ids).logits[0, :-1].float(), dim=-1)
        positions = range(len(prompt_ids) - 1, len(prompt_ids) - 1 + len(continuation_ids))
        return float(
            sum(logprobs[pos, token] for pos, token in zip(positions, continuation_ids, strict=True))
        )


def _truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    cut = len(text)
    for stop in stops:
        position = text.find(stop)
        if position != -1:
            cut = min(cut, position)
    return text[:cut].rstrip()
