"""Batched generation for causal LMs: the decoding loop behind the `ckpt/` provider.

One call decodes a batch of tokenized prompts (left-padded, KV-cached) and returns per-request text,
finish reason and log-probabilities. Each request keeps its own settings: greedy when temperature is 0,
otherwise temperature / top-p sampling from its own seeded generator (so a sample does not depend on
which other requests shared its batch); its own stop sequences and token budget. Rows that finish are
dropped from the batch and the KV cache, so one long answer does not make the whole batch pay for it.

Two backends decode with these semantics: `fast` (`models.fastdecode.decoder`: its own forward pass over the
model's weights with a static KV cache, each decode step a replayed CUDA graph on GPU) for Llama-family
models, and `hf` (the model's own forward with a DynamicCache, any causal LM). `backend="auto"` picks `fast`
where the architecture is supported (on CUDA with graphs; on CPU eagerly, where it gives the hf loop's
outputs a little faster), else `hf`, and warns why it fell back.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from models.fastdecode.attention import default_sdpa, sdpa_backends, sdpa_context
from models.fastdecode.decoder import FastDecoder
from models.fastdecode.sampler import Sampler
from models.fastdecode.support import unsupported_reason

BACKENDS = ("auto", "fast", "hf")
# auto uses the fast engine on CPU too: there it runs eagerly (no graphs), attending over exactly the written
# columns and pruning finished rows like the hf loop, with the same outputs and a few percent less time
# (SmolLM2-135M, fp32 and bf16, batch 1-32; benchmarks/generation.py --device cpu).
FAST_ON_CPU = True


@dataclass
class Request:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    adapter: str | None = None  # a LoRA adapter of the Engine's `adapters` (models.multilora), None: the base


@dataclass
class Result:
    token_ids: list[int]
    text: str
    finish: str  # "stop" (EOS or a stop sequence) or "max_tokens"
    logprobs: list[float] = field(default_factory=list)  # of each emitted token, under the unscaled model
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)


class Engine:
    """Decodes batches of `Request`s with one resident model.

    `backend`: "auto", "fast" (raises if the model is not supported) or "hf". `fast_options` go to
    `models.fastdecode.decoder.FastDecoder` (exact, exact_kv, fused, span, parallel, graphs, len_multiple, max_states,
    decode_gqa, static, sync_lag). `exact` (default off; opt-in) decodes in the layout whose greedy outputs are
    bit-identical to `model.generate` (attention over exactly generate's columns, piecewise CUDA graphs);
    `exact=False` in the static layout (one graph per step: faster). `sdpa`: the attention backends both loops
    (fast and hf) decode under (models.fastdecode.attention.sdpa_backends; default: REPRODUCIBLE_SDPA on CUDA, whose
    greedy outputs repeat from run to run, PyTorch's choice on CPU).
    With "auto", a fast engine that fails at run time (other than out of memory) hands over to the hf loop.
    `prune_finished`: drop finished rows from the batch (the hf loop, and the fast engine without CUDA graphs,
    whose static batch keeps them).
    `adapters`: a `models.multilora.MultiLoRA` on `model`: each request's `adapter` names the LoRA adapter its row
    decodes with (several adapters in one batch, one resident base). Such a batch decodes in the fast engine, each
    adapted projection adding its row's adapter delta with the hooks' own operations (FastDecoder's routed step),
    where it can route them (`FastDecoder.route_unavailable`: not in the exact layout), else in the hf loop under
    the adapters' hooks.
    `invariant`: batch-invariant decoding, a row's tokens and log-probabilities never depend on which requests share
    its batch, because each request is decoded alone (one after another, by the same path as a batch of one). Kernels
    round a row differently with other rows beside it: padding in its attention, and a matrix multiply's tiling by its
    row count (on the 2-core CPU's bf16 oneDNN kernels an unpadded row's value projection already differed between a
    batch of 2 and one of 12 rows), so attention per row over its own keys was not enough; only decoding alone removes
    every such path. It costs the batching (benchmarks/batch_invariance.py measures how much).
    """

    def __init__(self, model, tokenizer, prune_finished: bool = True, backend: str = "auto", sdpa: str | None = None,
                 adapters=None, invariant: bool = False, **fast_options):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; accepted: {', '.join(BACKENDS)}")
        self.invariant = invariant
        self.model = model
        self.tokenizer = tokenizer
        self.adapters = adapters
        if adapters is not None and adapters.model is not model:
            raise ValueError("the adapters (models.multilora.MultiLoRA) are hooked onto another model than the Engine's")
        self.backend_requested = backend
        self.device = next(model.parameters()).device
        self.prune_finished = prune_finished
        self.sdpa = sdpa if sdpa is not None else default_sdpa(self.device)  # both loops decode under it
        sdpa_backends(self.sdpa)  # a bad name fails here
        eos = model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {int(e) for e in eos if e is not None}
        if tokenizer.eos_token_id is not None:
            self.eos_ids.add(int(tokenizer.eos_token_id))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.max_positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.fast: FastDecoder | None = None
        self.fallback_reason: str | None = None
        if backend != "hf":
            reason = unsupported_reason(model)
            if reason is None and backend == "auto" and self.device.type != "cuda" and not FAST_ON_CPU:
                reason = f"the model is on {self.device.type}, where the fast engine is not faster"
            if reason is None:
                self.fast = FastDecoder(model, prune=prune_finished, sdpa=self.sdpa, **fast_options)
            elif backend == "fast":
                raise ValueError(f"backend='fast' cannot run this model: {reason}")
            else:
                self.fallback_reason = reason
                warnings.warn(f"generation uses the hf loop, not the fast engine: {reason}", stacklevel=2)
        self.backend = "fast" if self.fast is not None else "hf"

    def generate(self, requests: list[Request]) -> list[Result]:
        if not requests:
            return []
        self._check_length(requests)
        if self.invariant:  # each alone: nothing beside a row changes its numerics
            return [result for r in requests for result in self._decode([r])]
        return self._decode(requests)

    def _decode(self, requests: list[Request]) -> list[Result]:
        """`generate` for requests already checked, decoded as one batch."""
        if any(r.adapter is not None for r in requests):
            if self.adapters is None:
                raise ValueError(f"request for adapter {next(r.adapter for r in requests if r.adapter)!r}, but this "
                                 "Engine has no adapters; accepted: adapter=None")
            if self.fast is not None and self.fast.route_unavailable(self.adapters) is None:
                return self._generate_fast(requests, self.adapters)
            return self._generate_routed_hf(requests)
        if self.fast is not None:
            return self._generate_fast(requests)
        return self._generate_hf(requests)

    def _generate_routed_hf(self, requests: list[Request]) -> list[Result]:
        with self.adapters.routed([r.adapter for r in requests]):
            return self._generate_hf(requests)

    def _generate_fast(self, requests: list[Request], adapters=None) -> list[Result]:
        """The fast engine's batch (each row through its adapter, with `adapters`); on a failure other than out of
        memory, the hf loop from now on (unless backend="fast" was asked for)."""
        try:
            decoded = self.fast.generate(requests, self.eos_ids, self.pad_id, self._generator, self._hits_stop,
                                         adapters=adapters)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, NotImplementedError) as ex:  # e.g. a kernel that cannot be captured
            if self.backend_requested == "fast":
                raise
            self.fast = None
            self.backend = "hf"
            self.fallback_reason = f"the fast engine failed ({type(ex).__name__}: {ex})"
            warnings.warn(f"generation uses the hf loop from now on: {self.fallback_reason}", stacklevel=2)
            return self._generate_routed_hf(requests) if adapters is not None else self._generate_hf(requests)
        return [self._result(r, d.token_ids, d.logprobs, d.top_logprobs, d.finish) for r, d in zip(requests, decoded)]

    def check_request(self, r: Request) -> None:
        """Raise ValueError if `r` would run past the model's position embeddings (prompt + new tokens)."""
        if self.max_positions is not None and len(r.prompt_ids) + max(1, r.max_new_tokens) > self.max_positions:
            raise ValueError(
                f"prompt of {len(r.prompt_ids)} tokens + {r.max_new_tokens} new tokens exceeds the model's "
                f"max_position_embeddings ({self.max_positions}); shorten the prompt or max_tokens"
            )

    def _check_length(self, requests: list[Request]) -> None:
        for r in requests:
            self.check_request(r)

    def _generate_hf(self, requests: list[Request]) -> list[Result]:
        with sdpa_context(self.sdpa):
            return self._hf_loop(requests)

    @torch.inference_mode()
    def _hf_loop(self, requests: list[Request]) -> list[Result]:
        dev = self.device
        n = len(requests)
        width = max(len(r.prompt_ids) for r in requests)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for i, r in enumerate(requests):
            input_ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, width - len(r.prompt_ids):] = 1
        input_ids, mask = input_ids.to(dev), mask.to(dev)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        sampler = Sampler.for_requests(requests, self._generator, dev, max(r.max_new_tokens for r in requests))
        want_logprobs = any(r.logprobs or r.top_logprobs for r in requests)

        out_ids: list[list[int]] = [[] for _ in requests]
        out_lp: list[list[float]] = [[] for _ in requests]
        out_top: list[list[list[tuple[int, float]]]] = [[] for _ in requests]
        finish: list[str | None] = [None] * n
        active = list(range(n))  # original indices of the rows still in the batch

        cache = DynamicCache()
        logits = self.model(
            input_ids=input_ids, attention_mask=mask, position_ids=positions,
            past_key_values=cache, use_cache=True, logits_to_keep=1,
        ).logits[:, -1, :]
        next_pos = positions[:, -1] + 1
        while True:
            logits = logits.float()
            tokens = logits.argmax(dim=-1)
            if sampler is not None:
                tokens.index_copy_(0, sampler.rows, sampler(logits))
            logp = torch.log_softmax(logits, dim=-1) if want_logprobs else None
            tokens_list = tokens.tolist()
            keep: list[int] = []
            for row, i in enumerate(active):
                if finish[i] is not None:  # finished earlier, kept in the batch because pruning is off
                    continue
                r, tok = requests[i], tokens_list[row]
                if tok in self.eos_ids:
                    finish[i] = "stop"
                    continue
                out_ids[i].append(tok)
                if logp is not None and (r.logprobs or r.top_logprobs):
                    out_lp[i].append(float(logp[row, tok]))
                    if r.top_logprobs:
                        vals, idx = logp[row].topk(r.top_logprobs)
                        out_top[i].append(list(zip(idx.tolist(), vals.tolist())))
                if r.stop and self._hits_stop(out_ids[i], r.stop):
                    finish[i] = "stop"
                elif len(out_ids[i]) >= r.max_new_tokens:
                    finish[i] = "max_tokens"
                else:
                    keep.append(row)
            if not keep:
                break
            if self.prune_finished and len(keep) < len(active):
                idx = torch.tensor(keep, device=dev)
                cache.batch_select_indices(idx)
                if self.adapters is not None and self.adapters.active:
                    self.adapters.select(idx)
                mask, tokens, next_pos = mask[idx], tokens[idx], next_pos[idx]
                if sampler is not None:
                    sampler = sampler.select({old: new for new, old in enumerate(keep)})
                active = [active[row] for row in keep]
            # rows that finished but were not pruned keep decoding; their tokens are ignored
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
            logits = self.model(
                input_ids=tokens[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                past_key_values=cache, use_cache=True,
            ).logits[:, -1, :]
            next_pos = next_pos + 1
        return [self._result(requests[i], out_ids[i], out_lp[i], out_top[i], finish[i] or "max_tokens") for i in range(n)]

    def _generator(self, r: Request) -> torch.Generator | None:
        if r.temperature <= 0:
            return None
        g = torch.Generator(device=self.device)
        if r.seed is None:
            g.seed()
        else:
            g.manual_seed(int(r.seed) % (2**63))
        return g

    def _hits_stop(self, ids: list[int], stops: tuple[str, ...]) -> bool:
        tail = self.tokenizer.decode(ids[-(max(len(s) for s in stops) + 4):], skip_special_tokens=True)
        return any(s in tail for s in stops)

    def _result(self, r: Request, ids, lps, tops, finish: str) -> Result:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if r.stop:
            cuts = [text.find(s) for s in r.stop if s in text]
            if cuts:
                text = text[: min(cuts)]
        return Result(token_ids=ids, text=text, finish=finish, logprobs=lps, top_logprobs=tops)
