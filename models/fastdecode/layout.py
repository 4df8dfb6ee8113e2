"""The fast decoder's static layout: batch buckets, one layer's weights, and the static buffers of a (rows, max_len) shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def bucket(n: int) -> int:
    for b in BUCKETS:
        if n <= b:
            return b
    return -(-n // 256) * 256


@dataclass
class Layer:
    in_norm: torch.Tensor
    q: tuple[torch.Tensor, torch.Tensor | None]
    k: tuple[torch.Tensor, torch.Tensor | None]
    v: tuple[torch.Tensor, torch.Tensor | None]
    o: tuple[torch.Tensor, torch.Tensor | None]
    post_norm: torch.Tensor
    gate: tuple[torch.Tensor, torch.Tensor | None]
    up: tuple[torch.Tensor, torch.Tensor | None]
    down: tuple[torch.Tensor, torch.Tensor | None]
    act: Callable
    eps: float
    post_eps: float
    # routed LoRA (FastDecoder.route): projection name (q, k, v, o, gate, up, down) -> the adapters' concatenated
    # (A [width, in], B [out, width]) of models.multilora.MultiLoRA, for the projections the adapters adapt
    lora: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None


@dataclass
class State:
    """Static buffers of one (rows, max_len) shape, and the decode step captured over them."""

    k: torch.Tensor  # [layers, rows, kv_heads, max_len, head_dim]
    v: torch.Tensor
    mask: torch.Tensor  # [rows, max_len], additive: 0 where a column may be attended, -inf elsewhere
    tok: torch.Tensor  # [rows] next input token
    pos: torch.Tensor  # [rows] its position id
    idx: torch.Tensor  # [1] the cache column it is written to (same for all rows)
    graphs: dict[int, object] | None = None  # attended columns (a multiple of `span`, or max_len) -> its graph
    next_col: int = 0  # the column the next captured step writes (known on the host: picks the graph)
    logits: torch.Tensor | None = None  # the graphs' output, [rows, vocab] fp32
    capture_s: float = 0.0
    col: int | None = None  # eager steps: idx, known on the host (attention then spans columns [0, col])
    # the exact layout (FastDecoder(exact=True)): the residual stream, the current layer's query, the
    # attention output and RoPE cos/sin between the pieces of a step; which columns are real tokens
    exact: bool = False
    x: torch.Tensor | None = None  # [rows, 1, hidden]
    q: torch.Tensor | None = None  # [rows, heads, 1, head_dim]
    attn: torch.Tensor | None = None  # [rows, 1, heads * head_dim]
    cos: torch.Tensor | None = None  # [rows, 1, 1, head_dim]
    sin: torch.Tensor | None = None
    valid: torch.Tensor | None = None  # [rows, max_len] bool
    pieces: list[Callable[[], object]] | None = None  # layers + 1 callables (graph replays, or eager pieces)
    graph_refs: list | None = None  # the captured piece graphs (kept alive)
    padded: bool = True  # this call's prompts differ in length: attention gets transformers' bool mask
    # a routed batch (several LoRA adapters, FastDecoder.route): [rows, width] in the model's dtype, row i's
    # adapter's scaling on its block of the adapters' concatenated rank, 0 elsewhere (a row of zeros: the base)
    route: torch.Tensor | None = None

    def rows(self, n: int, col: int) -> State:
        """The first n rows as views, for eager steps on a partly used static batch."""
        return State(self.k[:, :n], self.v[:, :n], self.mask[:n], self.tok[:n], self.pos[:n], self.idx, col=col,
                     route=None if self.route is None else self.route[:n])


@dataclass
class Decoded:
    token_ids: list[int]
    finish: str
    logprobs: list[float]
    top_logprobs: list[list[tuple[int, float]]]
