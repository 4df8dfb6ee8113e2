"""Inspect model provider `ckpt/`: any caught checkpoint (or the embedded model) as an Inspect model.

    inspect eval tasks/deployment --model ckpt/smollm2-135m           # the embedded default
    inspect eval tasks/deployment --model ckpt/trigger-hate-organism   # a directory under checkpoints/
    inspect eval tasks/deployment --model ckpt/./path/to/checkpoint -M device=cuda -M batch_size=256

Greedy when temperature is 0 or unset; temperature / top_p / seed sampling otherwise. Requests that
Inspect sends concurrently are gathered into batches (sorted by length to limit padding) and decoded by
`models.engine.Engine` in a worker thread: a batch starts as soon as the event loop has no more
requests to hand over, with no timed waits. Log-probabilities (`--logprobs --top-logprobs N`) come from
the model itself. Model args: `device` (cpu, cuda, cuda:1; default cuda if available), `dtype`
(float32, bfloat16; default bf16 on CUDA, fp32 on CPU), `batch_size` (default `--max-connections`, else
32 on CPU and 256 on CUDA), `exact` (true/false: decode in the fast engine's layout that is bit-identical
to `model.generate` in the same batch; default false, the faster static layout; see models.fastdecode.decoder),
`sdpa` (the attention backends of either decoding loop: "any" for PyTorch's choice, or "+"-joined names from flash,
efficient, math, cudnn; default on CUDA flash+efficient+math, whose greedy outputs are reproducible, which
cuDNN's attention on an H100 is not; see models.fastdecode.attention.REPRODUCIBLE_SDPA), `fused` (true/false: the static
layout's decode step with its elementwise ops fused by models.fastdecode.fusedops, the same logits bit for bit; default: on
where it runs, i.e. CUDA with Triton and a bf16 model), `share` (true/false: checkpoints on one base, the base and
LoRA adapters trained on it, use one resident model and Engine, each adapter merged in place while its batches
run, the same weights as a separate load; default `$CAUGHT_SHARE`, else false, except in a sweep on CUDA; see
models.registry.SharedBase and models.registry.sharing; or `routed`: the checkpoints on one base share it and one
batcher, a batch holding rows of several checkpoints, each row through its own adapter, unmerged: what a sweep's
`eval.pack` uses to evaluate several cells at once), `invariant` (true/false: batch-invariant decoding, a row's tokens
the same whichever requests share its batch, each request decoded alone: models.engine.Engine; default false,
`$CAUGHT_INVARIANT=1` in caught's own pipeline: models.registry.inference_args).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from models.engine import Engine, Request, Result

DEFAULT_MAX_TOKENS = 256


@dataclass
class _Pending:
    request: Request
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Result | None = None
    error: BaseException | None = None


class Batcher:
    """Gathers concurrent requests and runs them through `run_batch` (in a thread), largest groups first.

    The first caller that finds no batch running leads: it keeps taking batches of pending requests
    until none are left, while the others wait on their own event. Leading is shielded from
    cancellation, so a cancelled leader never strands the requests of the callers waiting on it. A batch holds requests with the same
    decoding settings, sorted by prompt length.
    """

    def __init__(self, run_batch, batch_size: int):
        self.run_batch = run_batch
        self.batch_size = batch_size
        self.pending: list[_Pending] = []
        self.leading = False

    async def submit(self, request: Request) -> Result:
        item = _Pending(request)
        self.pending.append(item)
        if not self.leading:
            self.leading = True
            try:
                # the others' requests ride on this leader: finish them even if our own sample is cancelled
                with anyio.CancelScope(shield=True):
                    await self._lead()
            finally:
                self.leading = False
        await item.done.wait()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    async def _lead(self) -> None:
        # Let requests issued in the same burst reach the queue: yield until it stops growing.
        for _ in range(64):
            before = len(self.pending)
            await anyio.sleep(0)
            if len(self.pending) == before:
                break
        while self.pending:
            batch = self._take()
            try:
                results = await anyio.to_thread.run_sync(self.run_batch, [p.request for p in batch])
                for p, r in zip(batch, results):
                    p.result = r
            except BaseException as ex:  # noqa: BLE001 - handed to each waiting caller
                for p in batch:
                    p.error = ex
            for p in batch:
                p.done.set()

    def _take(self) -> list[_Pending]:
        def key(p: _Pending):
            r = p.request
            return (r.temperature > 0, r.logprobs or r.top_logprobs > 0)

        groups: dict[Any, list[_Pending]] = {}
        for p in self.pending:
            groups.setdefault(key(p), []).append(p)
        group = max(groups.values(), key=len)
        group.sort(key=lambda p: len(p.request.prompt_ids))
        batch = group[: self.batch_size]
        taken = {id(p) for p in batch}
        self.pending = [p for p in self.pending if id(p) not in taken]
        return batch


class CheckpointAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | None = None,
        backend: str | None = None,
        exact: bool | str | None = None,
        sdpa: str | None = None,
        fused: bool | str | None = None,
        share: bool | str | None = None,
        invariant: bool | str | None = None,
        **model_args: Any,
    ) -> None:
        config = config if config is not None else GenerateConfig()
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        if model_args:
            raise ValueError(
                f"unknown model args for ckpt/: {', '.join(sorted(model_args))}; accepted: device, dtype, batch_size, backend, exact, sdpa, fused, share, invariant"
            )
        from models.fastdecode.attention import sdpa_backends

        # bad values fail here, before the model loads
        sdpa_backends(sdpa)
        # exact: greedy outputs bit-identical to model.generate (default off: opt-in; see models.fastdecode.decoder)
        fast_options = {} if exact is None else {"exact": _flag("exact", exact)}
        if fused is not None:  # default: fused kernels where they run (CUDA, Triton, bf16, static layout)
            fast_options["fused"] = _flag("fused", fused)
        from models.registry import default_device, load, share_default, shared_base

        # share: checkpoints on one base use one resident model and Engine, adapters merged in place when their
        # batch runs (models.registry.SharedBase); default: $CAUGHT_SHARE, else off (on in a sweep on CUDA)
        share = share if share is not None else share_default()
        routed = str(share).strip().lower() == "routed"
        try:
            share = routed or _flag("share", share)
        except ValueError:
            raise ValueError(f"share={share!r} is not accepted; accepted: true/false (1/0, yes/no, on/off) or routed") \
                from None
        started = time.perf_counter()
        self.device = device or default_device()
        # backend: auto (the fast engine where supported), fast or hf: an explicit model arg, never the environment
        # (decoding settings change results, so they are named where the evaluation is)
        engine_options = dict(backend=backend or "auto", sdpa=sdpa, **fast_options)
        if invariant is not None and _flag("invariant", invariant):  # batch-invariant decoding: each request alone
            engine_options["invariant"] = True
        self.shared, self.adapter, self.route = None, None, None
        if share:
            self.shared, self.adapter, self.path = shared_base(model_name, self.device, dtype, engine_options,
                                                               routed=routed)
            self.model, self.tokenizer, self.engine = self.shared.model, self.shared.tokenizer, self.shared.engine
        else:
            self.model, self.tokenizer, self.path = load(model_name, device=self.device, dtype=dtype)
            self.engine = Engine(self.model, self.tokenizer, **engine_options)
        size = batch_size or config.max_connections or (256 if self.device.startswith("cuda") else 32)
        if routed:  # every model on the base hands its requests to the base's one batcher, each naming its adapter
            self.batcher = self.shared.batcher_for(int(size))
            self.route = self.shared.register(self.adapter) if self.adapter is not None else None
            size = self.batcher.batch_size
        else:
            self.batcher = Batcher(self._run_batch, int(size))
        if config.max_connections is None and config.adaptive_connections is None and not config.batch:
            # Inspect's default adaptive concurrency (20 requests in flight at first, at most 100, grown as requests
            # succeed) suits rate-limited APIs; for a local model it splits an eval into many small batches. The
            # model's config (the object Inspect's Model holds too) asks for one batch's worth instead; a
            # --max-connections given to the eval still wins.
            config.max_connections = int(size)
        _register_model_info(model_name, self.path, self.engine.max_positions)
        # where this model's time went (benchmarks/sweep.py and benchmarks/provider.py read it): loading, decoding in
        # the worker thread, and the provider's own work on Inspect's event loop (encoding the chat, building outputs)
        self.stats = {"load_seconds": time.perf_counter() - started, "new_tokens": 0, "decode_seconds": 0.0,
                      "bookkeeping_seconds": 0.0, "batch_sizes": []}

    def _run_batch(self, requests: list[Request]) -> list[Result]:
        started = time.perf_counter()
        if self.shared is not None:
            with self.shared.lock:  # one checkpoint's weights in the shared model at a time
                self.shared.activate(self.adapter)
                results = self.engine.generate(requests)
        else:
            results = self.engine.generate(requests)
        return count_batch(self.stats, started, results)

    def profile(self) -> dict[str, float | int]:
        """This model's counters so far: load seconds, batches (and their sizes), requests, new tokens, decode
        seconds (the engine, in the worker thread), bookkeeping seconds (this provider's work on the event loop
        around each request: encoding the chat, building the output), and the fast engine's static batches and
        capture seconds."""
        fast = self.engine.fast if self.engine else None
        stats, shared = self.stats, {}
        if self.shared is not None and self.shared.routed:  # decoding is the base's: every model on it counted
            stats = {**self.stats, **{k: self.shared.stats[k] for k in ("new_tokens", "decode_seconds", "batch_sizes")}}
            shared = {"routed_rebuilds": self.shared.stats["rebuilds"],
                      "routed_rebuild_seconds": self.shared.stats["rebuild_seconds"]}
        elif self.shared is not None:
            shared = {"shared_swaps": self.shared.swaps, "shared_swap_seconds": self.shared.swap_seconds}
        sizes = list(stats["batch_sizes"])
        # with a shared base, captures and swaps count for every checkpoint on the base
        return {**stats, "batch_sizes": sizes, "batches": len(sizes), "requests": sum(sizes),
                "captures": fast.captures if fast else 0, "capture_seconds": fast.capture_seconds if fast else 0.0,
                **shared}

    def release(self) -> None:
        """Free the weights, KV caches and CUDA graphs (`models.registry.inspect_model` calls this when the
        checkpoint leaves its pool); a released model refuses further requests. A model on a shared base only lets
        go of it (the base is freed when no model uses it and it has left `models.registry`' registry)."""
        if self.shared is not None:
            if self.route is not None:
                self.shared.unregister(self.route)
            # a dead batcher of its own (a routed base's batcher goes on serving the other models on it)
            self.batcher = Batcher(_released, self.batcher.batch_size)
            self.shared = self.engine = self.model = None
            return
        if self.engine.fast is not None:
            self.engine.fast.clear()
        self.engine.fast = None
        self.engine.model = None
        self.model = None
        self.batcher.run_batch = _released

    def max_connections(self) -> int:
        return self.batcher.batch_size

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def connection_key(self) -> str:
        return f"ckpt/{self.path}"

    def collapse_user_messages(self) -> bool:
        return True

    def should_retry(self, ex: Exception) -> bool:
        return False

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        started = time.perf_counter()
        prompt_ids = self.encode_chat(input)
        temperature = config.temperature or 0.0
        request = Request(
            prompt_ids=prompt_ids,
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=temperature,
            top_p=config.top_p if config.top_p is not None else 1.0,
            seed=_request_seed(config.seed, prompt_ids) if temperature > 0 else None,
            stop=tuple(config.stop_seqs or ()),
            logprobs=bool(config.logprobs),
            top_logprobs=config.top_logprobs or 0,
            adapter=self.route,
        )
        if self.engine is None:  # released from a shared base
            _released([request])
        self.engine.check_request(request)  # an over-long prompt fails its own sample, not the batch
        self.stats["bookkeeping_seconds"] += time.perf_counter() - started
        result = await self.batcher.submit(request)
        started = time.perf_counter()
        output = ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(content=result.text, model=self.model_name, source="generate"),
                    stop_reason="stop" if result.finish == "stop" else "max_tokens",
                    logprobs=self._logprobs(result) if (request.logprobs or request.top_logprobs) else None,
                )
            ],
            usage=ModelUsage(
                input_tokens=len(prompt_ids),
                output_tokens=len(result.token_ids),
                total_tokens=len(prompt_ids) + len(result.token_ids),
            ),
        )
        self.stats["bookkeeping_seconds"] += time.perf_counter() - started
        return output

    def encode_chat(self, messages: list[ChatMessage]) -> list[int]:
        return encode_chat(self.tokenizer, messages)

    def _logprobs(self, result: Result) -> Logprobs:
        def token(token_id: int) -> tuple[str, list[int]]:
            text = self.tokenizer.decode([token_id])
            return text, list(text.encode("utf-8"))

        content = []
        for k, (tok, lp) in enumerate(zip(result.token_ids, result.logprobs)):
            text, raw = token(tok)
            tops = [TopLogprob(token=token(t)[0], logprob=v, bytes=token(t)[1])
                    for t, v in (result.top_logprobs[k] if k < len(result.top_logprobs) else [])]
            content.append(Logprob(token=text, logprob=lp, bytes=raw, top_logprobs=tops or None))
        return Logprobs(content=content)


def encode_chat(tokenizer, messages: str | list[ChatMessage]) -> list[int]:
    """`messages` (or a sample's input as Inspect holds it: a string is one user message) as the prompt token ids
    `ckpt/` decodes from (the tokenizer's chat template)."""
    if isinstance(messages, str):
        from inspect_ai.model import ChatMessageUser

        messages = [ChatMessageUser(content=messages)]
    chat = [{"role": "user" if m.role == "tool" else m.role, "content": m.text} for m in messages]
    if tokenizer.chat_template:
        # a trailing assistant message is a prefill: the reply continues it (solvers.scratchpad.prefilled)
        prefill = bool(chat) and chat[-1]["role"] == "assistant"
        ids = tokenizer.apply_chat_template(chat, add_generation_prompt=not prefill, continue_final_message=prefill,
                                            tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    # a base model without a chat template: a plain transcript
    text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in chat) + "Assistant:"
    return tokenizer(text)["input_ids"]


def count_batch(stats: dict, started: float, results: list[Result]) -> list[Result]:
    """Add a decoded batch to a provider's (or a routed base's) counters: decode seconds since `started`, the batch's
    size and its new tokens. Returns `results`."""
    stats["decode_seconds"] += time.perf_counter() - started
    stats["batch_sizes"].append(len(results))
    stats["new_tokens"] += sum(len(r.token_ids) for r in results)
    return results


def _register_model_info(model_name: str, path, context_length: int | None) -> None:
    """Tell Inspect what this model is, so that its model-info lookup (made for each model event) finds it by
    name. Without it, Inspect's lookup falls back to instantiating the provider from the name: a second load of
    the checkpoint, kept in Inspect's model cache for the rest of the process (GPU memory, one per checkpoint).
    """
    from inspect_ai.model import ModelInfo, set_model_info

    info = ModelInfo(organization="caught", model=Path(path).name, context_length=context_length)
    for name in {f"ckpt/{model_name}", f"ckpt/{path}"}:
        set_model_info(name, info)


def _released(requests):
    raise RuntimeError("this ckpt/ model was released (models.registry.inspect_model); get it again")


def _flag(name: str, value: bool | str) -> bool:
    """A boolean model arg given as a bool or as text (`-M exact=true`)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r} is not a boolean; accepted: true/false, 1/0, yes/no, on/off")


def _request_seed(seed: int | None, prompt_ids: list[int]) -> int | None:
    """A per-request sampling seed: reproducible for a given --seed, distinct across samples and epochs."""
    if seed is None:
        return None
    from inspect_ai.log._samples import sample_active  # the running sample's id and epoch

    active = sample_active()
    where = f"{active.sample.id}:{active.epoch}" if active is not None else ""
    digest = hashlib.sha256(f"{seed}:{where}:{prompt_ids}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
