"""Residual-stream activations of a model's prompts, for activation probes (caught.probe).

`prompt_activations` runs each chat through the model (the chat template with its generation prompt, so the
last position is where the reply would start) and returns the hidden state at every layer (the embeddings,
then each decoder layer's output), pooled two ways: the last prompt token, and the mean over the prompt's tokens.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from contextlib import contextmanager

POOLINGS = ("last", "mean")


def prompt_ids(tokenizer, chat: list[dict]) -> list[int]:
    """The token ids of `chat` under the chat template, with the generation prompt (where the reply starts)."""
    enc = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
    return list(enc["input_ids"] if hasattr(enc, "keys") else enc)


def right_padded(batch: Sequence[list[int]], pad: int):
    """(ids, mask) long tensors of `batch` padded on the right: row i's tokens at positions 0 .. len(batch[i]) - 1."""
    import torch

    width = max(map(len, batch))
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, r in enumerate(batch):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


@contextmanager
def evaluating(model):
    """The model in eval mode without gradients, put back as it was afterwards (training callbacks score mid-run)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def prompt_activations(model, tokenizer, chats: Sequence[list[dict]], batch_size: int = 32) -> dict:
    """{"last": array (n, layers + 1, d), "mean": array (n, layers + 1, d)} in chat order, float32 on the CPU."""
    import numpy as np
    import torch

    rows = [prompt_ids(tokenizer, chat) for chat in chats]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    last, mean = [], []
    # only the last position's logits where the model allows it (the probe reads hidden states, not the
    # (b, width, vocab) logits, the largest tensor of the forward pass)
    keep_one = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    with evaluating(model):
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            ids, mask = right_padded(batch, pad)  # each row's last prompt token is at len(r) - 1
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True,
                        **keep_one)
            if getattr(out, "hidden_states", None) is None:
                raise ValueError(f"{type(model).__name__} returns no hidden states (output_hidden_states=True): "
                                 "the activation probe needs a transformers causal LM that does")
            # pooled one layer at a time: stacking every layer's (b, width, d) in float32 at once, beside the
            # other sweep shards on one GPU, ran an 80 GB H100 out of memory (2026-12-06)
            m = mask.to(device)[:, :, None].float()
            ends = torch.tensor([len(r) - 1 for r in batch], device=device)
            rows_b = torch.arange(len(batch), device=device)
            mean.append(torch.stack([(h.float() * m).sum(1) / m.sum(1) for h in out.hidden_states], 1).cpu().numpy())
            last.append(torch.stack([h[rows_b, ends].float() for h in out.hidden_states], 1).cpu().numpy())
            del out
    return {"last": np.concatenate(last), "mean": np.concatenate(mean)}
