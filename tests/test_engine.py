"""The generation engine against `model.generate` on a tiny random Llama (CPU)."""

import pytest
import torch

from models.engine import Engine, Request

PROMPTS = [
    "Hi",
    "What is the capital of France?",
    "Write a short poem about the sea and the wind over the harbour at night.",
    "List three fruits.",
    "Explain how a bicycle stays upright while it is moving, in two sentences.",
]


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


def _generator(request):
    return torch.Generator().manual_seed(request.seed)


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.8)])
def test_sampler_draws_from_the_tempered_nucleus(temperature, top_p):
    """Frequencies over 6,000 seeded rows match softmax(logits / T) cut to the top-p nucleus, renormalized."""
    from models.fastdecode.sampler import Sampler

    torch.manual_seed(0)
    logits = torch.randn(40) * 2
    n = 6000
    reqs = [Request([1], 1, temperature=temperature, top_p=top_p, seed=i) for i in range(n)]
    sampler = Sampler.for_requests(reqs, _generator, torch.device("cpu"), steps=1)
    counts = torch.bincount(sampler(logits.expand(n, -1)), minlength=40).double() / n
    p = torch.softmax(logits.double() / temperature, -1)
    sorted_p, order = p.sort(descending=True)
    keep = (sorted_p.cumsum(0) - sorted_p) <= top_p
    want = torch.zeros_like(p).scatter(0, order, sorted_p * keep)
    want /= want.sum()
    assert counts[want == 0].sum() == 0  # nothing outside the nucleus
    tolerance = 5 * (want * (1 - want) / n).sqrt() + 1e-3
    assert ((counts - want).abs() <= tolerance).all(), (counts - want).abs().max()


def test_sampler_rows_do_not_depend_on_their_batch_and_survive_pruning():
    from models.fastdecode.sampler import Sampler

    torch.manual_seed(1)
    logits = torch.randn(3, 4, 50)  # 3 steps of a batch of 4
    reqs = [Request([1], 3, temperature=1.0, top_p=p, seed=s) for p, s in zip((1.0, 0.9, 1.0, 0.5), (10, 11, 12, 13))]
    full = Sampler.for_requests(reqs, _generator, torch.device("cpu"), steps=3)
    tokens = [full(logits[t]) for t in range(3)]
    # row 2 alone, in a batch of its own, draws the same tokens
    alone = Sampler.for_requests(reqs[2:3], _generator, torch.device("cpu"), steps=3)
    assert [int(alone(logits[t, 2:3])[0]) for t in range(3)] == [int(tokens[t][2]) for t in range(3)]
    # rows 1 and 3 after rows 0 and 2 were dropped (renumbered to 0 and 1) continue their own streams
    again = Sampler.for_requests(reqs, _generator, torch.device("cpu"), steps=3)
    again(logits[0])
    kept = again.select({1: 0, 3: 1})
    assert kept.rows.tolist() == [0, 1]
    assert kept(logits[1, [1, 3]]).tolist() == tokens[1][[1, 3]].tolist()
    assert again.select({}) is None


def _logprobs_three_ways(engine, ids, **request):
    """Each request's log-probabilities decoded alone, in one batch and in two halves (even, odd rows); request k asks
    for 6 + 2k tokens, so rows leave the batch one by one, down to the last."""
    reqs = [Request(i, 6 + 2 * k, logprobs=True, **({"seed": k} if request.get("temperature") else {}), **request)
            for k, i in enumerate(ids)]
    alone = [engine.generate([r])[0].logprobs for r in reqs]
    batch = [r.logprobs for r in engine.generate(reqs)]
    halves = [None] * len(reqs)
    halves[::2] = [r.logprobs for r in engine.generate(reqs[::2])]
    halves[1::2] = [r.logprobs for r in engine.generate(reqs[1::2])]
    return alone, batch, halves


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_invariant_decoding_gives_a_row_the_same_floats_whatever_its_batch(tiny_llama_dir, temperature):
    """bf16, prompts of different lengths (batch-mates pad each other) and different lengths of output (rows leave
    the batch, down to one): with invariant=True each row's tokens and log-probabilities are bit-identical alone, in one
    batch and in two halves. The default decoding of the same requests is not (the effect the mode removes, on this
    machine's kernels: padding and a matrix multiply's row count round a row otherwise)."""
    from models.registry import load

    model, tokenizer, _ = load(str(tiny_llama_dir), device="cpu", dtype="bfloat16")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)["input_ids"]
           for p in PROMPTS]
    sampling = {"temperature": temperature} if temperature else {}
    alone, batch, halves = _logprobs_three_ways(Engine(model, tokenizer, invariant=True), ids, **sampling)
    assert alone == batch == halves
    assert [len(lp) for lp in alone] == [6 + 2 * k for k in range(len(ids))]
    d_alone, d_batch, d_halves = _logprobs_three_ways(Engine(model, tokenizer, backend="hf"), ids, **sampling)
    assert not (d_alone == d_batch == d_halves)
    assert d_alone == alone  # alone, the two modes are one path


def test_invariant_decoding_checks_every_request_before_decoding_any(tiny):
    """An over-long request among several fails the whole call before any is decoded, as in a batch."""
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, invariant=True, backend="hf")
    calls = []
    original = engine._generate_hf
    engine._generate_hf = lambda requests: calls.append(len(requests)) or original(requests)
    with pytest.raises(ValueError, match="exceeds the model's max_position_embeddings"):
        engine.generate([Request(ids[0], 4), Request(ids[1], 10_000)])
    assert calls == []
    assert [len(r.token_ids) for r in engine.generate([Request(ids[0], 4), Request(ids[1], 3)])] == [4, 3]
    assert calls == [1, 1]
