"""The fast decoding engine (models.fastdecode.decoder) against transformers on tiny random models (CPU, fp32),
and its exact layout against `model.generate` bit for bit in bf16 (tiny model and SmolLM2).

`static=True` runs the CUDA-graph layout eagerly (bucket rows, attention over every cache column, one
mask), so the math a graph captures is checked here too; `exact=True` without graphs runs the pieces its
CUDA graphs capture eagerly, with the same attentions between them. The CUDA tests run only where a GPU is.
"""

import warnings

import pytest
import torch

from models.engine import Engine, Request
from models.fastdecode.decoder import FastDecoder
from models.fastdecode.layout import bucket
from models.fastdecode.support import UnsupportedModel, unsupported_reason
from models.registry import load

PROMPTS = [
    "Hi",
    "What is the capital of France?",
    "Write a short poem about the sea and the wind over the harbour at night.",
    "List three fruits.",
    "Explain how a bicycle stays upright while it is moving, in two sentences.",
]
LAYOUTS = [dict(), dict(static=True), dict(static=True, decode_gqa="group"), dict(exact=True)]
LAYOUT_IDS = ["eager", "static-repeat", "static-group", "exact"]
LOOP_LAYOUTS = [LAYOUTS[k] for k in (0, 1, 3)]  # the decoding loop's tests: eager, static, exact
LOOP_IDS = [LAYOUT_IDS[k] for k in (0, 1, 3)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine idle OpenMP threads spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def padded(tokenizer, ids):
    tokenizer.padding_side = "left"
    return tokenizer.pad({"input_ids": ids}, return_tensors="pt")


_REFERENCES: dict = {}


def reference(model, tokenizer, ids, max_new_tokens, eos=None):
    """Greedy `model.generate` token ids on the same left-padded batch, cut at EOS (memoized)."""
    key = (id(model), str(ids), max_new_tokens, eos)
    if key not in _REFERENCES:
        _REFERENCES[key] = _reference(model, tokenizer, ids, max_new_tokens, eos)
    return _REFERENCES[key]


def _reference(model, tokenizer, ids, max_new_tokens, eos=None):
    enc = padded(tokenizer, ids).to(model.device)
    eos = eos if eos is not None else tokenizer.eos_token_id
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                         pad_token_id=tokenizer.pad_token_id)
    rows = []
    for row in out[:, enc["input_ids"].shape[1]:].tolist():
        rows.append(row[: row.index(eos)] if eos in row else row)
    return rows


def hf_logits(model, input_ids, mask):
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.no_grad():
        return model(input_ids=input_ids, attention_mask=mask, position_ids=pos).logits.float()


@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUT_IDS)
def test_logits_equal_the_hf_forward_on_prefill_and_decode_steps(tiny, layout):
    model, tokenizer, ids = tiny
    fast = FastDecoder(model, **layout)
    enc = padded(tokenizer, ids)
    mask = enc["attention_mask"]
    ref = hf_logits(model, enc["input_ids"], mask)
    got = fast.prefill_logits(ids, pad_id=tokenizer.pad_token_id)
    valid = mask.bool()
    torch.testing.assert_close(got[valid], ref[valid], rtol=1e-4, atol=1e-4)

    forced = torch.randint(0, model.config.vocab_size, (len(ids), 6), generator=torch.Generator().manual_seed(0))
    steps = fast.teacher_forced_logits(ids, forced, pad_id=tokenizer.pad_token_id)  # [n, 7, V]
    full = torch.cat([enc["input_ids"], forced], 1)
    ref = hf_logits(model, full, torch.cat([mask, torch.ones_like(forced)], 1))
    width = enc["input_ids"].shape[1]
    torch.testing.assert_close(steps, ref[:, width - 1:], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUT_IDS)
def test_greedy_equals_model_generate_token_for_token(tiny, layout):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast", **layout)
    for max_new in (1, 9, 24):
        got = engine.generate([Request(i, max_new) for i in ids])
        assert [r.token_ids for r in got] == reference(model, tokenizer, ids, max_new)
        assert all(r.finish == "max_tokens" and len(r.token_ids) == max_new for r in got)


def test_sdpa_option_pins_the_engines_attention_backend(tiny, monkeypatch):
    """`sdpa="math"`: every attention call of the engine (prefill and decode) runs with only the math kernel
    allowed, and the tokens still equal generate's when generate runs it too; the restriction ends with the call;
    an unknown backend name is refused clearly."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast", sdpa="math")
    with sdpa_kernel([SDPBackend.MATH]):
        want = reference(model, tokenizer, ids, 9)
    allowed = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        allowed.append((torch.backends.cuda.math_sdp_enabled(), torch.backends.cuda.flash_sdp_enabled()))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    got = engine.generate([Request(i, 9) for i in ids])
    assert [r.token_ids for r in got] == want
    assert allowed and all(pair == (True, False) for pair in allowed)  # inside the engine: math only
    assert torch.backends.cuda.flash_sdp_enabled()  # restored after it
    with pytest.raises(ValueError, match="sdpa must be 'any' or one or more of flash, efficient, math, cudnn"):
        FastDecoder(model, sdpa="fast")
    assert FastDecoder(model).sdpa == "any"  # CPU: PyTorch's choice (its CPU kernels are reproducible)
    # the hf loop decodes under the same restriction (a fallback must not change the kernels)
    allowed.clear()
    hf = Engine(model, tokenizer, backend="hf", sdpa="math")
    assert [r.token_ids for r in hf.generate([Request(i, 9) for i in ids])] == want
    assert allowed and all(pair == (True, False) for pair in allowed)
    with pytest.raises(ValueError, match="sdpa must be 'any'"):
        Engine(model, tokenizer, backend="hf", sdpa="fast")


def test_fast_and_hf_backends_agree(tiny):
    model, tokenizer, ids = tiny
    fast, hf = Engine(model, tokenizer, backend="fast"), Engine(model, tokenizer, backend="hf")
    assert fast.backend == "fast" and hf.backend == "hf"
    reqs = [Request(i, 4 + 5 * k) for k, i in enumerate(ids)]  # per-request budgets
    a, b = fast.generate(reqs), hf.generate(reqs)
    assert [(r.token_ids, r.text, r.finish) for r in a] == [(r.token_ids, r.text, r.finish) for r in b]
    assert [len(r.token_ids) for r in a] == [4 + 5 * k for k in range(len(ids))]


@pytest.mark.parametrize("layout", LOOP_LAYOUTS, ids=LOOP_IDS)
def test_eos_in_the_middle_of_a_batch(tiny, layout):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast", **layout)
    free = engine.generate([Request(i, 12) for i in ids])
    eos = free[0].token_ids[3]  # a token row 0 emits at step 3 now counts as EOS: it stops, others go on
    engine.eos_ids = {eos}
    got = engine.generate([Request(i, 12) for i in ids])
    assert [r.token_ids for r in got] == reference(model, tokenizer, ids, 12, eos=eos)
    assert got[0].finish == "stop" and len(got[0].token_ids) <= 3
    assert any(r.finish == "max_tokens" and len(r.token_ids) == 12 for r in got)


def test_the_loop_ends_when_every_row_is_done(tiny):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast")
    first = engine.generate([Request(i, 1) for i in ids])
    engine.eos_ids = {r.token_ids[0] for r in first}  # every row's first token is EOS
    got = engine.generate([Request(i, 500 - len(i)) for i in ids])  # each row up to the last position
    assert all(r.token_ids == [] and r.finish == "stop" for r in got)


def test_pruning_finished_rows_changes_nothing(tiny):
    model, tokenizer, ids = tiny
    reqs = [Request(i, 3 + 4 * k, temperature=0.8 * (k % 2), seed=k) for k, i in enumerate(ids)]
    results = [Engine(model, tokenizer, backend="fast", prune_finished=p).generate(reqs) for p in (True, False)]
    results.append(Engine(model, tokenizer, backend="fast", static=True).generate(reqs))
    assert [r.token_ids for r in results[0]] == [r.token_ids for r in results[1]] == [r.token_ids for r in results[2]]
    assert [len(r.token_ids) for r in results[0]] == [3 + 4 * k for k in range(len(ids))]


@pytest.mark.parametrize("layout", LOOP_LAYOUTS, ids=LOOP_IDS)
def test_stop_sequences(tiny, layout):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast", **layout)
    free = engine.generate([Request(ids[1], 20)])[0]
    stop = free.text[len(free.text) // 2:][:3]
    assert stop.strip(), free.text
    reqs = [Request(ids[1], 20, stop=(stop,)), Request(ids[2], 20), Request(ids[3], 20, stop=("\x00never",))]
    got = engine.generate(reqs)
    assert got[0].finish == "stop" and got[0].text == free.text[: free.text.find(stop)]
    assert got[1].finish == "max_tokens" and got[2].finish == "max_tokens" and len(got[2].token_ids) == 20
    hf = Engine(model, tokenizer, backend="hf").generate(reqs)
    assert [(r.token_ids, r.text, r.finish) for r in got] == [(r.token_ids, r.text, r.finish) for r in hf]


@pytest.mark.parametrize("layout", LOOP_LAYOUTS, ids=LOOP_IDS)
def test_a_batch_whose_every_row_ends_on_a_stop_sequence(tiny, layout):
    """Every row stops on a stop sequence at the same step, before the budget: the loop ends cleanly (the eager
    layout used to prune down to an empty batch and fail)."""
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast", **layout)
    free = engine.generate([Request(ids[1], 20)])[0]
    stop = free.text[len(free.text) // 2:][:3]
    for reqs in ([Request(ids[1], 20, stop=(stop,))], [Request(ids[1], 20, stop=(stop,))] * 2):
        got = engine.generate(reqs)
        assert all(r.finish == "stop" and r.text == free.text[: free.text.find(stop)] for r in got)


@pytest.mark.parametrize("layout", LOOP_LAYOUTS, ids=LOOP_IDS)
def test_sampling_is_reproducible_with_a_seed_and_independent_of_the_batch(tiny, layout):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast", **layout)
    a = engine.generate([Request(ids[2], 16, temperature=1.0, seed=7)])[0]
    b = engine.generate([Request(ids[0], 16), Request(ids[2], 16, temperature=1.0, seed=7),
                         Request(ids[4], 9, temperature=0.7, top_p=0.9, seed=1)])[1]
    c = engine.generate([Request(ids[2], 16, temperature=1.0, seed=8)])[0]
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids
    greedy = engine.generate([Request(ids[2], 16)])[0]
    mixed = engine.generate([Request(ids[2], 16), Request(ids[1], 16, temperature=1.0, seed=3)])[0]
    assert mixed.token_ids == greedy.token_ids


def test_logprobs_are_log_softmax_of_the_hf_logits(tiny):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast")
    got = engine.generate([Request(ids[1], 6, logprobs=True, top_logprobs=3), Request(ids[3], 5),
                           Request(ids[0], 4, temperature=1.0, seed=2, logprobs=True)])
    for k, r in ((0, got[0]), (2, got[2])):
        prompt = ids[[1, 3, 0][k]]
        logp = torch.log_softmax(hf_logits(model, torch.tensor([prompt + r.token_ids]),
                                           torch.ones(1, len(prompt) + len(r.token_ids), dtype=torch.long))[0], -1)
        start = len(prompt) - 1
        expected = [float(logp[start + j, t]) for j, t in enumerate(r.token_ids)]
        assert r.logprobs == pytest.approx(expected, abs=1e-4)
    assert all(top[0][0] == tok for top, tok in zip(got[0].top_logprobs, got[0].token_ids))  # greedy = top-1
    assert all(len(top) == 3 for top in got[0].top_logprobs) and len(got[0].top_logprobs) == 6
    assert got[1].logprobs == [] and got[1].top_logprobs == [] and got[2].top_logprobs == []
    hf = Engine(model, tokenizer, backend="hf").generate([Request(ids[1], 6, logprobs=True, top_logprobs=3)])[0]
    assert got[0].logprobs == pytest.approx(hf.logprobs, abs=1e-4)
    assert [[t for t, _ in top] for top in got[0].top_logprobs] == [[t for t, _ in top] for top in hf.top_logprobs]


def test_static_buffers_are_reused_and_reset_between_calls(tiny):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer, backend="fast", static=True, max_states=1)
    fresh = [Engine(model, tokenizer, backend="fast", static=True).generate([Request(i, 10) for i in ids[:k]])
             for k in (5, 3, 6)]
    again = [engine.generate([Request(i, 10) for i in ids[:k]]) for k in (5, 3, 6)]  # buckets 8, 4, 8
    assert [[r.token_ids for r in b] for b in fresh] == [[r.token_ids for r in b] for b in again]
    assert len(engine.fast.states) == 1 and bucket(5) == 8 and bucket(600) == 768


def test_prompts_longer_than_the_model_raise_a_clear_error(tiny):
    model, tokenizer, ids = tiny
    limit = model.config.max_position_embeddings
    long = (ids[0] * (limit // len(ids[0]) + 1))[:limit - 8]  # fits alone; with 32 new tokens it does not
    for backend in ("fast", "hf"):
        with pytest.raises(ValueError, match="max_position_embeddings"):
            Engine(model, tokenizer, backend=backend).generate([Request(long, 32), Request(ids[1], 4)])


def test_unsupported_architecture_falls_back_to_the_hf_loop_and_warns_once(tiny):
    from transformers import GPT2Config, GPT2LMHeadModel

    _, tokenizer, ids = tiny
    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=256,
                                      eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)).eval()
    assert "GPT2LMHeadModel" in unsupported_reason(gpt2)
    with pytest.warns(UserWarning, match="hf loop") as caught:
        engine = Engine(gpt2, tokenizer, backend="auto")
    assert len([w for w in caught if "hf loop" in str(w.message)]) == 1
    assert engine.backend == "hf" and engine.fast is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no further warnings while generating
        got = engine.generate([Request(i, 5) for i in ids[:2]])
    assert all(len(r.token_ids) <= 5 for r in got)
    with pytest.raises(ValueError, match="backend='fast'"):
        Engine(gpt2, tokenizer, backend="fast")
    with pytest.raises(UnsupportedModel):
        FastDecoder(gpt2)


def test_unsupported_llama_variants_are_refused(tiny):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2,
                         rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0})
    assert "dynamic" in unsupported_reason(LlamaForCausalLM(config))
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, hidden_act="gelu")
    assert "hidden_act" in unsupported_reason(LlamaForCausalLM(config))


def _tiny(arch: str):
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    common = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=1, max_position_embeddings=256, initializer_range=0.3)
    torch.manual_seed(1)
    if arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=False))
        for layer in model.model.layers:  # make the q/k/v biases matter
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                torch.nn.init.normal_(proj.bias, std=0.5)
    elif arch == "mistral":
        model = MistralForCausalLM(MistralConfig(**common, sliding_window=None, head_dim=32))
    else:  # llama with attention and MLP biases and linear RoPE scaling
        model = LlamaForCausalLM(LlamaConfig(**common, attention_bias=True, mlp_bias=True,
                                             rope_parameters={"rope_type": "linear", "factor": 2.0,
                                                              "rope_theta": 500.0}))
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and m.bias is not None:
                torch.nn.init.normal_(m.bias, std=0.3)
    return model.eval()


@pytest.mark.parametrize("arch", ["qwen2", "mistral", "llama-bias"])
def test_other_supported_architectures_match_hf(arch):
    model = _tiny(arch)
    assert unsupported_reason(model) is None
    prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
    width = max(map(len, prompts))
    input_ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    forced = torch.randint(0, 300, (3, 5), generator=torch.Generator().manual_seed(0))
    ref = hf_logits(model, torch.cat([input_ids, forced], 1), torch.cat([mask, torch.ones_like(forced)], 1))
    for layout in LAYOUTS:
        got = FastDecoder(model, **layout).teacher_forced_logits(prompts, forced)
        torch.testing.assert_close(got, ref[:, width - 1:], rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=8, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    fast = FastDecoder(model).generate([Request(p, 8) for p in prompts], set(), 0, lambda r: None, lambda i, s: False)
    assert [d.token_ids for d in fast] == out[:, width:].tolist()


def test_the_replay_path_with_static_output_buffers(tiny, fake_graphs):
    model, tokenizer, ids = tiny
    FakeGraphs = fake_graphs
    engine = Engine(model, tokenizer, backend="fast", static=True, decode_gqa="group")
    fake = FakeGraphs(model, static=True, decode_gqa="group", span=16)
    reqs = [Request(i, 4 + 3 * k, temperature=0.9 * (k % 2), seed=k, logprobs=k == 2, top_logprobs=2 * (k == 2),
                    stop=("\x00x",) if k == 3 else ()) for k, i in enumerate(ids)]
    for _ in range(2):  # the second call reuses the state and its 'graph'
        got = fake.generate(reqs, engine.eos_ids, engine.pad_id, engine._generator, engine._hits_stop)
        ref = engine.generate(reqs)
        assert [(d.token_ids, d.finish) for d in got] == [(r.token_ids, r.finish) for r in ref]
        assert got[2].logprobs == pytest.approx(ref[2].logprobs, abs=1e-5) and len(got[2].top_logprobs) == 10
    assert len(fake.states) == 1 and all(st.graphs for st in fake.states.values())
    [st] = fake.states.values()
    width = max(len(i) for i in ids)
    used = sorted(n for n, g in st.graphs.items() if g.replays)
    # each step replays the shortest span covering the column it writes (width .. width + 11 - 1)
    assert used == sorted({-(-(c + 1) // 16) * 16 for c in range(width, width + 12)}), (used, width)


def generate_logits(model, tokenizer, ids, max_new_tokens):
    """`model.generate`'s greedy token ids [n, k] and its raw fp32 logits [n, k, V] at each step (no EOS)."""
    enc = padded(tokenizer, ids).to(model.device)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=None,
                             pad_token_id=tokenizer.pad_token_id, output_logits=True, return_dict_in_generate=True)
    return out.sequences[:, enc["input_ids"].shape[1]:], torch.stack(out.logits, dim=1).float()


@pytest.fixture(scope="module")
def tiny_bf16(tiny_llama_dir):
    model, tokenizer, _ = load(str(tiny_llama_dir), device="cpu", dtype="bfloat16")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)["input_ids"]
           for p in PROMPTS]
    return model, tokenizer, ids


@pytest.mark.parametrize("exact_kv", ["copy", "cache"])
def test_exact_layout_logits_equal_model_generate_bit_for_bit_in_bf16(tiny_bf16, exact_kv):
    """The exact layout attends over exactly generate's columns, with its masks and kernels: every step's
    logits are identical in bf16, on a padded batch, an unpadded one (no mask, GQA in SDPA) and one row.
    (Whether the static layout's extra masked columns change this tiny model's rounding depends on its random
    weights; the SmolLM2 test below shows a case where they do.)"""
    model, tokenizer, ids = tiny_bf16
    fast = FastDecoder(model, exact=True, exact_kv=exact_kv)
    assert fast.exact and not fast.static and not fast.prune
    for batch in (ids, [ids[3], ids[3][::-1]], [ids[1]]):  # padded; equal lengths (no padding); batch 1
        tokens, ref = generate_logits(model, tokenizer, batch, 7)
        got = fast.teacher_forced_logits(batch, tokens[:, :-1], pad_id=tokenizer.pad_token_id)
        assert torch.equal(got, ref), (got - ref).abs().max()


def test_exact_layout_greedy_equals_model_generate_in_bf16(tiny_bf16):
    model, tokenizer, ids = tiny_bf16
    engine = Engine(model, tokenizer, backend="fast", exact=True)
    assert engine.fast.exact
    assert not Engine(model, tokenizer, backend="fast").fast.exact  # CPU: the eager, pruning layout by default
    for max_new in (1, 12):
        got = engine.generate([Request(i, max_new) for i in ids])
        assert [r.token_ids for r in got] == reference(model, tokenizer, ids, max_new)
    assert not Engine(model, tokenizer, backend="fast", exact=False).fast.exact
    with pytest.raises(ValueError, match="exact=True and static=True"):
        FastDecoder(model, exact=True, static=True)


def test_exact_and_eager_layouts_match_generate_on_smollm2_in_bf16(smollm_dir):
    """SmolLM2 in bf16 on a mixed-length batch with greedy near-ties: the exact layout and the CPU's eager layout
    give generate's tokens. The static layout, run eagerly on CPU over its extra masked columns, differs from
    generate on the 2-core CI machine's CPU but not on the GPU machine's CPU (2026-11-26): not asserted."""
    model, tokenizer, _ = load(str(smollm_dir), device="cpu", dtype="bfloat16")
    prompts = ["Hi", "Why is the sky blue?", "Write a short poem about the sea and the wind over the harbour at night.",
               "What is the capital of France?"]
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)["input_ids"]
           for p in prompts]
    ref = _reference(model, tokenizer, ids, 8)
    exact = Engine(model, tokenizer, backend="fast", exact=True)
    eager = Engine(model, tokenizer, backend="fast")  # CPU default: prunes finished rows, attends over written columns
    static = Engine(model, tokenizer, backend="fast", static=True)
    assert exact.fast.exact and not static.fast.exact and not eager.fast.exact
    assert [r.token_ids for r in exact.generate([Request(i, 8) for i in ids])] == ref
    assert [r.token_ids for r in eager.generate([Request(i, 8) for i in ids])] == ref
    # its prefill is the eager one: the first token of every row is generate's
    assert [r.token_ids[:1] for r in static.generate([Request(i, 8) for i in ids])] == [t[:1] for t in ref]


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_graphs_match_the_eager_static_step_and_model_generate(tiny_llama_dir, dtype):
    model, tokenizer, _ = load(str(tiny_llama_dir), device="cuda", dtype=str(dtype).removeprefix("torch."))
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p * (1 + k % 3)}],
                                         add_generation_prompt=True)["input_ids"] for k, p in enumerate(PROMPTS * 8)]
    graphs = FastDecoder(model)
    assert graphs.graphs and graphs.decode_gqa == "group"
    eager = FastDecoder(model, graphs=False, static=True, decode_gqa="group")
    forced = torch.randint(0, 1000, (len(ids), 12), generator=torch.Generator().manual_seed(0))
    a = graphs.teacher_forced_logits(ids, forced, pad_id=tokenizer.pad_token_id)
    b = eager.teacher_forced_logits(ids, forced, pad_id=tokenizer.pad_token_id)
    tol = 1e-4 if dtype == torch.float32 else 0.25  # replaying the graph = running its step (up to cuBLAS choices)
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    assert next(iter(graphs.states.values())).graphs
    from models.fastdecode.attention import REPRODUCIBLE_SDPA, sdpa_context

    engine = Engine(model, tokenizer, backend="fast")
    assert engine.fast.sdpa == REPRODUCIBLE_SDPA  # CUDA's default: no cuDNN attention
    got = [r.token_ids for r in engine.generate([Request(i, 32) for i in ids])]
    with sdpa_context(REPRODUCIBLE_SDPA):
        ref = reference(model, tokenizer, ids, 32)
    same = sum(x == y for x, y in zip(got, ref)) / len(ids)
    assert same >= (0.95 if dtype == torch.float32 else 0.8), same
    # the same graph (bucket 64) serves a smaller batch; sampling runs too
    again = [r.token_ids for r in engine.generate([Request(i, 32) for i in ids[:33]])]
    assert sum(x == y for x, y in zip(again, got)) / 33 >= 0.8
    s1 = engine.generate([Request(ids[0], 16, temperature=1.0, seed=5), Request(ids[1], 16, stop=("a",))])
    s2 = engine.generate([Request(ids[0], 16, temperature=1.0, seed=5)])
    assert s1[0].token_ids == s2[0].token_ids or dtype != torch.float32


@cuda
@pytest.mark.parametrize("exact_kv", ["copy", "cache"])
def test_cuda_exact_layout_piece_graphs_equal_model_generate_bit_for_bit(tiny_llama_dir, exact_kv):
    """Against generate run with the engine's attention backends (REPRODUCIBLE_SDPA): with PyTorch's own pick
    (cuDNN's attention on an H100) generate does not even reproduce itself."""
    from models.fastdecode.attention import REPRODUCIBLE_SDPA, sdpa_context

    with sdpa_context(REPRODUCIBLE_SDPA):
        _exact_layout_equals_generate(tiny_llama_dir, exact_kv)


def _exact_layout_equals_generate(tiny_llama_dir, exact_kv):
    model, tokenizer, _ = load(str(tiny_llama_dir), device="cuda", dtype="bfloat16")
    ids = [tokenizer.apply_chat_template([{"role": "user", "content": p * (1 + k % 3)}],
                                         add_generation_prompt=True)["input_ids"] for k, p in enumerate(PROMPTS * 8)]
    graphs = FastDecoder(model, exact=True, exact_kv=exact_kv)
    assert graphs.exact and graphs.graphs
    eager = FastDecoder(model, graphs=False, exact=True, exact_kv=exact_kv)
    for batch in (ids, ids[:1]):
        tokens, ref = generate_logits(model, tokenizer, batch, 12)
        a = graphs.teacher_forced_logits(batch, tokens[:, :-1].cpu(), pad_id=tokenizer.pad_token_id)
        b = eager.teacher_forced_logits(batch, tokens[:, :-1].cpu(), pad_id=tokenizer.pad_token_id)
        assert torch.equal(a, b), (a - b).abs().max()
        assert torch.equal(a, ref.to(a.device)), (a - ref.to(a.device)).abs().max()
    assert all(st.graph_refs for st in graphs.states.values())
    engine = Engine(model, tokenizer, backend="fast", exact=True, exact_kv=exact_kv)
    got = [r.token_ids for r in engine.generate([Request(i, 32) for i in ids])]
    assert got == reference(model, tokenizer, ids, 32)


def test_auto_hands_over_to_the_hf_loop_when_the_fast_engine_fails(tiny, monkeypatch):
    model, tokenizer, ids = tiny
    engine = Engine(model, tokenizer)
    assert engine.backend == "fast"

    def broken(*args, **kwargs):
        raise RuntimeError("cannot capture")

    monkeypatch.setattr(engine.fast, "generate", broken)
    with pytest.warns(UserWarning, match="cannot capture"):
        got = engine.generate([Request(i, 6) for i in ids])
    assert engine.backend == "hf" and [r.token_ids for r in got] == reference(model, tokenizer, ids, 6)
    strict = Engine(model, tokenizer, backend="fast")
    monkeypatch.setattr(strict.fast, "generate", broken)
    with pytest.raises(RuntimeError, match="cannot capture"):
        strict.generate([Request(ids[0], 3)])


def test_hooks_that_change_nothing_are_allowed_others_are_not(tiny):
    model = _tiny("mistral")
    model.enable_input_require_grads()  # what gradient checkpointing with adapters installs
    assert unsupported_reason(model) is None
    handle = model.model.layers[0].mlp.register_forward_hook(lambda m, i, o: o * 2)
    assert "forward hooks" in unsupported_reason(model)
    handle.remove()
