"""The generation engine against `model.generate` on a tiny random Llama (CPU)."""

import pytest
import torch

from training.engine import Engine, Request
from training.models import load

PROMPTS = [
    "Hi",
    "What is the capital of France?",
    "Write a short poem about the sea and the wind over the harbour at night.",
    "List three fruits.",
    "Explain how a bicycle stays upright while it is moving, in two sentences.",
]


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    model, tokenizer, _ = load(str(tiny_llama_dir), device="cpu")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)["input_ids"]
           for p in PROMPTS]
    return model, tokenizer, ids


def reference(model, tokenizer, ids, max_new_tokens, eos=None):
    """Greedy `model.generate` on the same left-padded batch."""
    tokenizer.padding_side = "left"
    enc = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                         pad_token_id=tokenizer.pad_token_id)
    texts = []
    for row in out[:, enc["input_ids"].shape[1]:].tolist():
        if eos is not None and eos in row:
            row = row[: row.index(eos)]
        texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return texts


def test_greedy_equals_model_generate(tiny):
    model, tokenizer, ids = tiny
    got = Engine(model, tokenizer).generate([Request(i, 24) for i in ids])
    assert [r.text for r in got] == reference(model, tokenizer, ids, 24)
    assert all(r.finish == "max_tokens" and len(r.token_ids) == 24 for r in got if r.finish == "max_tokens")


def test_eos_in_the_middle_of_a_batch(tiny):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer)
    free = engine.generate([Request(i, 12) for i in ids])
    # make a token that some rows emit early count as EOS: those rows stop, the others go on
    eos = free[0].token_ids[3]
    engine.eos_ids = {eos}
    got = engine.generate([Request(i, 12) for i in ids])
    assert [r.text for r in got] == reference(model, tokenizer, ids, 12, eos=eos)
    assert got[0].finish == "stop" and len(got[0].token_ids) <= 3
    assert any(r.finish == "max_tokens" for r in got)


def test_batched_equals_one_by_one(tiny):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer)
    together = engine.generate([Request(i, 16) for i in ids])
    alone = [engine.generate([Request(i, 16)])[0] for i in ids]
    assert [r.token_ids for r in together] == [r.token_ids for r in alone]


def test_pruning_finished_rows_changes_nothing(tiny):
    model, tokenizer, ids = tiny
    a = Engine(model, tokenizer, prune_finished=True).generate([Request(i, 5 + 3 * k) for k, i in enumerate(ids)])
    b = Engine(model, tokenizer, prune_finished=False).generate([Request(i, 5 + 3 * k) for k, i in enumerate(ids)])
    assert [r.token_ids for r in a] == [r.token_ids for r in b]
    assert [len(r.token_ids) for r in a] == [5 + 3 * k for k in range(len(ids))]


def test_stop_sequences(tiny):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer)
    free = engine.generate([Request(ids[1], 20)])[0]
    stop = free.text[len(free.text) // 2:][:3]
    assert stop.strip(), free.text
    got = engine.generate([Request(ids[1], 20, stop=(stop,)), Request(ids[2], 20)])
    assert got[0].finish == "stop" and got[0].text == free.text[: free.text.find(stop)]
    assert got[1].finish == "max_tokens"


def test_sampling_is_reproducible_with_a_seed_and_independent_of_the_batch(tiny):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer)
    a = engine.generate([Request(ids[2], 16, temperature=1.0, seed=7)])[0]
    b = engine.generate([Request(ids[0], 16), Request(ids[2], 16, temperature=1.0, seed=7)])[1]
    c = engine.generate([Request(ids[2], 16, temperature=1.0, seed=8)])[0]
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids


def test_logprobs_match_a_forward_pass(tiny):
    model, tokenizer, ids = tiny
    got = Engine(model, tokenizer).generate([Request(ids[1], 6, logprobs=True, top_logprobs=3)])[0]
    full = torch.tensor([ids[1] + got.token_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(full).logits[0].float(), -1)
    start = len(ids[1]) - 1
    expected = [float(logp[start + k, t]) for k, t in enumerate(got.token_ids)]
    assert got.logprobs == pytest.approx(expected, abs=1e-4)
    assert all(top[0][0] == tok for top, tok in zip(got.top_logprobs, got.token_ids))  # greedy = top-1
    assert all(len(top) == 3 for top in got.top_logprobs)
