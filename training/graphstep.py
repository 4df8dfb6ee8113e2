"""CUDA-graphed training steps: a packed batch's forward and backward replayed from a CUDA graph.

A small model's training step is launch-bound: SmolLM2-135M's forward and backward launch thousands of small
kernels, and the host takes longer to launch them than the GPU takes to run them. `GraphedStep` runs the loss's
forward and backward (`packed_nll`) for a batch of a given shape eagerly the first time the shape is seen (that
step also warms up cuBLAS and the Triton kernels), captures it into a CUDA graph the second time, and from then on
copies each batch of that shape into the graph's static inputs and replays it. After every replay the parameters'
`.grad` point at the gradients the graph wrote, so the trainer's own gradient clipping and optimizer step (fused
AdamW: a few kernels) run unchanged. One step is one batch: no gradient accumulation.

`packed_nll` is the loss both the eager and the captured steps compute, so a shape's first (eager) step and its
replays do the same arithmetic. It is TRL's fused-head loss without its data-dependent parts (which would
synchronise the GPU, and cannot be captured): the block-diagonal causal mask is built from the position ids on the
GPU, and TRL's chunked log-probability kernel scores every position (the logits are never materialised), masked
afterwards, instead of only the labelled ones.

All shapes' graphs share one memory pool. That is safe here because each step's outputs (the loss and the
gradients) are used before the next step runs, whatever its shape: a later replay may overwrite them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

INPUTS = ("input_ids", "labels", "position_ids")
_HEAD_CHUNK = 32768  # vocabulary columns per tile of the chunked log-probability kernel (TRL's own default)


def block_causal_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """[rows, 1, width, width] boolean mask of packed rows: a token attends to the earlier tokens of its own example.
    Examples are the runs of consecutive position ids (a new example starts wherever the position does not grow by
    one), as transformers reads packed position ids; the same mask it builds, without its host-side checks."""
    first = position_ids[:, :1] - 1
    example = (torch.diff(position_ids, prepend=first, dim=-1) != 1).cumsum(-1)
    width = position_ids.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=position_ids.device).tril()
    return ((example[:, :, None] == example[:, None, :]) & causal)[:, None]


def unsupported_reason(model) -> str | None:
    """Why `packed_nll` cannot compute `model`'s loss (None when it can): it handles causal LMs with a plain LM head
    (no logit scaling or soft-capping) and SDPA or eager attention."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = causal.config.get_text_config()
    for name in ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                 "logits_scaling"):
        if getattr(config, name, None) not in (None, 1.0):
            return f"the model scales its logits ({name}={getattr(config, name)})"
    attn = getattr(causal.config, "_attn_implementation", None)
    if attn not in ("sdpa", "eager"):
        return f"attention implementation {attn!r} (supported: sdpa, eager)"
    if causal.get_output_embeddings() is None:
        return "the model has no output embeddings"
    return None


def packed_nll(model, input_ids: torch.Tensor, labels: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the labelled tokens (labels != -100) of a packed batch, with no GPU sync and
    no data-dependent shapes. `model` is a causal LM or a PEFT model wrapping one."""
    from trl.kernels import ChunkedLogProbFunction

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal.base_model(input_ids=input_ids, position_ids=position_ids,
                               attention_mask=block_causal_mask(position_ids), use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    mask = targets != -100
    head = causal.get_output_embeddings()
    log_probs = ChunkedLogProbFunction.apply(
        hidden[:, :-1].reshape(-1, hidden.shape[-1]), head.weight, head.bias, targets.clamp(min=0).reshape(-1),
        1.0, _HEAD_CHUNK, None, 1.0, ("log_probs",))[0]
    return -log_probs.view(mask.shape).masked_fill(~mask, 0).sum() / mask.sum().clamp(min=1)


@dataclass
class _Captured:
    graph: object
    inputs: dict[str, torch.Tensor]
    loss: torch.Tensor
    grads: list


@dataclass
class GraphedStep:
    """Forward + backward of `loss_fn(model, **batch)` per packed batch, replayed from one CUDA graph per shape.

    `autocast` is the dtype of mixed-precision autocast (None: none). `new_graph` makes the graph object and
    `capture(graph, pool)` the capture context (CUDA's by default; tests substitute eager stand-ins).
    `stats` counts eager steps, captures and replays."""

    model: torch.nn.Module
    autocast: torch.dtype | None = torch.bfloat16
    loss_fn: Callable = packed_nll
    new_graph: Callable = None
    capture: Callable = None
    graphs: dict = field(default_factory=dict)
    seen: set = field(default_factory=set)  # shapes run eagerly once (the next one of each is captured)
    stats: Counter = field(default_factory=Counter)
    pool: object = None

    def __post_init__(self):
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if self.new_graph is None:
            self.new_graph = torch.cuda.CUDAGraph
        if self.capture is None:
            self.capture = lambda graph, pool: torch.cuda.graph(graph, pool=pool)

    def _loss(self, batch: dict) -> torch.Tensor:
        device = batch["input_ids"].device.type
        # no autocast weight cache: a graph must cast the weights on every replay, after the optimizer changed them
        with torch.autocast(device, dtype=self.autocast or torch.float32, enabled=self.autocast is not None,
                            cache_enabled=False):
            return self.loss_fn(self.model, **{k: batch[k] for k in INPUTS})

    def __call__(self, batch: dict) -> torch.Tensor:
        """Run one step's forward and backward (gradients land in the parameters' `.grad`); returns the loss,
        detached."""
        key = tuple((k, tuple(batch[k].shape), batch[k].dtype) for k in INPUTS)
        captured = self.graphs.get(key)
        if captured is None:
            if key not in self.seen:
                self.seen.add(key)
                self.stats["eager"] += 1
                loss = self._loss(batch)
                loss.backward()
                return loss.detach()
            captured = self._capture(key, batch)
        for name, buffer in captured.inputs.items():
            buffer.copy_(batch[name], non_blocking=True)
        captured.graph.replay()
        self.stats["replays"] += 1
        for p, g in zip(self.params, captured.grads):
            p.grad = g
        return captured.loss.clone()

    def _capture(self, key, batch: dict) -> _Captured:
        inputs = {k: batch[k].clone() for k in INPUTS}
        for p in self.params:
            p.grad = None  # the graph allocates its own gradients, in its pool
        graph = self.new_graph()  # (torch.cuda.graph syncs and empties the cache: the pool gets the eager blocks)
        with self.capture(graph, self.pool):
            loss = self._loss(inputs)
            loss.backward()
        if self.pool is None and hasattr(graph, "pool"):
            self.pool = graph.pool()
        captured = _Captured(graph, inputs, loss.detach(), [p.grad for p in self.params])
        self.graphs[key] = captured
        self.stats["captures"] += 1
        return captured
