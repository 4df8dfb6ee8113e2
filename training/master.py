"""fp32 master weights for bf16 training: the model computes in bf16, the optimizer updates fp32 copies.

Pure bf16 training is fast (no casts between an fp32 residual stream and bf16 matmuls) but learns less: at small
learning rates most updates are below bf16's resolution and are rounded away. Autocast over fp32 weights keeps the
updates but pays for the casts on every activation. `MasterAdamW` is the usual large-model recipe between the two:
the model's parameters are bf16, and AdamW runs on fp32 master copies of them; each step copies the gradients up to
fp32, updates the masters, and rounds them back into the model. `restore_masters()` puts the fp32 masters into the
model at the end (the checkpoint is saved in fp32, as with autocast).

The masters are made from the parameters as the optimizer receives them, and only then are the parameters cast to
bf16, so give it the full-precision weights: masters made from weights already rounded to bf16 sit exactly on
bf16's grid, and no update smaller than half a bf16 step reaches the model until enough of them add up (measured on
SmolLM2 at lr 2e-5: six steps of full fine-tuning learned less than half as much as under autocast). From fp32
weights, the model holds exactly what autocast would cast them to.
"""

from __future__ import annotations

import torch


class MasterAdamW(torch.optim.AdamW):
    """AdamW over fp32 master copies of (bf16) parameters. Takes what `torch.optim.AdamW` takes; the scheduler and
    the trainer see the masters' param groups."""

    def __init__(self, params, compute_dtype: torch.dtype = torch.bfloat16, **kwargs):
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
        master_groups = []
        for group in groups:
            masters = []
            for p in group["params"]:
                master = p.detach().to(torch.float32).clone().requires_grad_(True)
                p.data = p.data.to(compute_dtype)
                self.pairs.append((p, master))
                masters.append(master)
            master_groups.append({**group, "params": masters})
        super().__init__(master_groups, **kwargs)

    @torch.no_grad()
    def step(self, closure=None):
        live = [(p, m) for p, m in self.pairs if p.grad is not None]
        for _, m in self.pairs:
            m.grad = None
        for p, m in live:
            m.grad = p.grad.to(torch.float32)
        loss = super().step(closure)
        if live:
            torch._foreach_copy_([p for p, _ in live], [m for _, m in live])
        return loss

    def zero_grad(self, set_to_none: bool = True):
        super().zero_grad(set_to_none)
        for p, _ in self.pairs:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def restore_masters(self) -> None:
        """Make the model's trained parameters the fp32 masters themselves (after training, before saving)."""
        for p, m in self.pairs:
            p.data = m.detach()
