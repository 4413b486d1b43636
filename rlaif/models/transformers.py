"""Local Hugging Face causal LMs as batched chat models.

Batching is the point: conversations are rendered with the model's chat template, sorted by length (less
padding), left-padded and generated together. Sampling is seeded *per request* with a logits processor that
draws each row's token from that row's own ``torch.Generator``, so a prompt gets the same sample whether it runs
alone, in a batch, or after a resume.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rlaif.errors import RlaifError
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
    """bf16 on GPUs that support it, float32 on CPU (bf16 matmuls are slow on most CPUs)."""
    if requested and requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


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
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device)
    model.eval()
    return model, tokenizer


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
        batch_size: int = 16,
    ):
        self.path = str(path)
        self.name = name or f"hf:{path}"
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self.batch_size = max(1, int(batch_size))
        self.model, self.tokenizer = load_causal_lm(path, self.device, self.dtype)

    # -- rendering -------------------------------------------------------------------------------------------
    def render(self, conversation: Conversation) -> str:
        return self.tokenizer.apply_chat_template(
            list(conversation), tokenize=False, add_generation_prompt=True
        )

    def _encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False)
        return {key: value.to(self.device) for key, value in batch.items()}

    def _length_sorted_batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Indices grouped into batches of similar length: less padding, same results (rows are independent)."""
        lengths = [len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts]
        order = sorted(range(len(texts)), key=lambda index: lengths[index])
        return [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]

    # -- ChatModel ---------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        seeds: Sequence[int] | None = None,
    ) -> list[str]:
        from transformers import GenerationConfig, LogitsProcessorList

        texts = [self.render(conversation) for conversation in conversations]
        replies: list[str] = [""] * len(texts)
        for batch in self._length_sorted_batches(texts):
            encoded = self._encode([texts[index] for index in batch])
            config = GenerationConfig(
                max_new_tokens=params.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
            )
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
            output = self.model.generate(**encoded, generation_config=config, logits_processor=processors)
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            for row, index in enumerate(batch):
                replies[index] = _truncate_at_stop(
                    self.tokenizer.decode(new_tokens[row], skip_special_tokens=True).strip(), params.stop
                )
        return replies

    @torch.inference_mode()
    def label_logprobs(
        self, conversations: Sequence[Conversation], labels: Sequence[str]
    ) -> list[dict[str, float] | None]:
        """Exact log p(label | rendered prompt), summed over the label's tokens.

        Single-token labels (the common "A"/"B" or "1".."10") cost one forward pass per batch of prompts.
        """
        label_ids = [self.tokenizer(label, add_special_tokens=False)["input_ids"] for label in labels]
        texts = [self.render(conversation) for conversation in conversations]
        results: list[dict[str, float] | None] = [None] * len(texts)
        single = all(len(ids) == 1 for ids in label_ids)
        for batch in self._length_sorted_batches(texts):
            if single:
                encoded = self._encode([texts[index] for index in batch])
                logits = self.model(**encoded).logits[:, -1, :].float()
                logprobs = torch.log_softmax(logits, dim=-1)
                for row, index in enumerate(batch):
                    results[index] = {
                        label: float(logprobs[row, ids[0]])
                        for label, ids in zip(labels, label_ids, strict=True)
                    }
            else:
                for index in batch:
                    results[index] = {
                        label: self._continuation_logprob(texts[index], ids)
                        for label, ids in zip(labels, label_ids, strict=True)
                    }
        return results

    @torch.inference_mode()
    def response_logprobs(
        self, conversations: Sequence[Conversation], responses: Sequence[str]
    ) -> list[float | None]:
        """Sum of log p(response tokens | conversation rendered with the generation prompt), per pair.

        The response is tokenized on its own and appended to the rendered prompt (how the model would have
        produced it), and the model's end-of-turn token is not counted. One forward pass per batch; rows are
        right-padded so every response position lines up with its own logits.
        """
        texts = [self.render(conversation) for conversation in conversations]
        prompt_ids = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
        response_ids = [self.tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
        results: list[float | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(prompt_ids[i]) + len(response_ids[i]))
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            rows = [prompt_ids[i] + response_ids[i] for i in batch]
            width = max(len(row) for row in rows)
            ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=self.device)
            mask = torch.tensor(
                [[1] * len(row) + [0] * (width - len(row)) for row in rows], device=self.device
            )
            logprobs = torch.log_softmax(
                self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1
            )
            for row, index in enumerate(batch):
                n_prompt, tokens = len(prompt_ids[index]), response_ids[index]
                if not tokens:
                    results[index] = 0.0
                    continue
                positions = torch.arange(n_prompt - 1, n_prompt - 1 + len(tokens), device=self.device)
                targets = torch.tensor(tokens, device=self.device)
                results[index] = float(logprobs[row, positions, targets].sum())
        return results

    def _continuation_logprob(self, prompt_text: str, continuation_ids: list[int]) -> float:
        prompt_ids = self.tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + continuation_ids], device=self.device)
        logprobs = torch.log_softmax(self.model(input_ids=ids).logits[0, :-1].float(), dim=-1)
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
