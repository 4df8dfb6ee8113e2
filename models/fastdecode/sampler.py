"""Seeded per-row sampling for a decoding batch: temperature and top-p by inverse-CDF in batched kernels."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


class Sampler:
    """Draws the next token of a batch's sampled rows, each at its own temperature and top-p, by inverse-CDF
    sampling in batched kernels (softmax, the top-p cut, cumsum, searchsorted). Each row's uniforms come from
    its own seeded generator, all `steps` of them drawn once when the batch starts, so a row's tokens
    depend only on its own generator and logits, never on the other rows of the batch, and a step costs
    no per-row work. `Sampler.for_requests` makes one for a batch's rows with temperature > 0."""

    def __init__(self, rows: torch.Tensor, temps: torch.Tensor, top_ps: torch.Tensor, cut: list[bool],
                 uniform: torch.Tensor, step: int = 0):
        self.rows, self.temps, self.top_ps, self.uniform, self.step = rows, temps, top_ps, uniform, step
        self.cut = cut  # per row: has a top-p cut (decided on the host: no sync per step)
        self.nucleus, self.all_nucleus = any(cut), all(cut)

    @classmethod
    def for_requests(cls, requests: Sequence, generator: Callable, device: torch.device, steps: int) -> Sampler | None:
        """The sampler of the rows of `requests` (models.engine.Request) with temperature > 0, drawing from
        `generator(request)`; None when every row is greedy."""
        rows = [i for i, r in enumerate(requests) if r.temperature > 0]
        if not rows:
            return None
        picked = [requests[i] for i in rows]
        return cls(
            torch.tensor(rows, dtype=torch.long, device=device),
            torch.tensor([float(r.temperature) for r in picked], dtype=torch.float32, device=device),
            torch.tensor([float(r.top_p) for r in picked], dtype=torch.float32, device=device),
            [float(r.top_p) < 1.0 for r in picked],
            torch.stack([torch.rand(steps, generator=generator(r), device=device) for r in picked]),
        )

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """This step's tokens [len(self.rows)] for rows `self.rows` of `logits` [batch, vocab]."""
        probs = torch.softmax(logits.index_select(0, self.rows).float() / self.temps[:, None], dim=-1)
        uniform = self.uniform[:, self.step, None]
        self.step += 1
        # a row's token must not depend on the batch: rows without a top-p cut are drawn in vocabulary order,
        # rows with one in sorted order (which changes which token a uniform lands on), whatever the others use
        tokens = _inverse_cdf(probs, uniform) if not self.all_nucleus else None
        if self.nucleus:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            sorted_p.masked_fill_(sorted_p.cumsum(-1) - sorted_p > self.top_ps[:, None], 0.0)  # kept mass reached top_p
            cut = order.gather(1, _inverse_cdf(sorted_p, uniform)[:, None])[:, 0]
            tokens = cut if tokens is None else torch.where(self.top_ps < 1.0, cut, tokens)
        return tokens

    def select(self, where: dict[int, int]) -> Sampler | None:
        """The sampler of the rows that remain, renumbered by `where` (old row -> new row); None if none do."""
        kept = [(where[r], j) for j, r in enumerate(self.rows.tolist()) if r in where]
        if not kept:
            return None
        js = torch.tensor([j for _, j in kept], dtype=torch.long, device=self.rows.device)
        return Sampler(torch.tensor([r for r, _ in kept], dtype=torch.long, device=self.rows.device),
                       self.temps[js], self.top_ps[js], [self.cut[j] for _, j in kept], self.uniform[js], self.step)


def _inverse_cdf(probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Per row, the index i with cdf[i-1] <= u * total < cdf[i] (an index of probability 0 is never drawn)."""
    cdf = probs.cumsum(-1)
    total = cdf[:, -1:]
    value = torch.minimum(uniform * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, value, right=True)[:, 0]
