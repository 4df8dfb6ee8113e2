"""Multi-adapter decoding (models.multilora + models.engine): rows of one batch on different LoRA adapters of one
resident base give what each adapter gives alone (tiny random Llama, CPU, fp32)."""

import pytest
import torch

from models.engine import Engine, Request
from models.multilora import MultiLoRA, read_adapter
from models.registry import load

NAMES = ("a", "b", "c")
PROMPTS = ["Hi", "What is the capital of France?", "List three fruits.",
           "Explain how a bicycle stays upright while it is moving, in two sentences.", "Tell me a joke about cats."]


@pytest.fixture(scope="module")
def adapters(tiny_llama_dir, tmp_path_factory):
    """Three PEFT LoRA adapters on the tiny Llama, each with its own random A and B (B is not zero: each adapter
    changes the outputs), saved as caught saves them."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("adapters")
    paths = {}
    for i, name in enumerate(NAMES):
        torch.manual_seed(100 + i)
        base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
        config = LoraConfig(r=4 + 2 * i, lora_alpha=8, target_modules="all-linear", init_lora_weights=False,
                            task_type="CAUSAL_LM")
        peft = get_peft_model(base, config)
        with torch.no_grad():
            for n, p in peft.named_parameters():
                if "lora_" in n:
                    p.mul_(3.0)
        peft.save_pretrained(root / name)
        paths[name] = root / name
    return paths


def test_logits_equal_peft_mixed_batch(tiny, adapters, tiny_llama_dir):
    """One forward of a mixed batch: the same logits as PEFT's own mixed-batch inference (`adapter_names=`)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, tokenizer, ids = tiny
    rows = ["a", "b", None, "c", "a"]
    tokenizer.padding_side = "left"
    enc = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    multi = MultiLoRA.load(model, adapters)
    try:
        with torch.no_grad(), multi.routed(rows):
            ours = model(**enc).logits
        with torch.no_grad():
            plain = model(**enc).logits  # unrouted: the base
    finally:
        multi.remove()
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), adapters["a"], adapter_name="a")
    for name in ("b", "c"):
        peft.load_adapter(adapters[name], adapter_name=name)
    peft.eval()
    with torch.no_grad():
        ref = peft(**enc, adapter_names=[r or "__base__" for r in rows]).logits
    valid = enc["attention_mask"].bool()
    torch.testing.assert_close(ours[valid], ref[valid], rtol=1e-4, atol=1e-3)  # logits of order 10
    assert torch.equal(ours[2], plain[2])  # a row without an adapter is the base bit for bit
    assert (ours[0] - plain[0])[valid[0]].abs().max() > 0.1  # the adapters change the outputs


@pytest.mark.slow
def test_greedy_mixed_batch_equals_each_adapter_alone(tiny, adapters):
    """Greedy decoding of one batch mixing three adapters and the base: each row's tokens are those of its adapter
    merged into its own model (models.registry.load, as `ckpt/` loads an adapter) and decoded alone; the
    log-probabilities agree to rounding."""
    model, tokenizer, ids = tiny
    multi = MultiLoRA.load(model, adapters)
    try:
        engine = Engine(model, tokenizer, adapters=multi)
        rows = [(p, name) for p in ids for name in (*NAMES, None)]
        mixed = engine.generate([Request(p, 16, adapter=name, logprobs=True) for p, name in rows])
        base_alone = engine.generate([Request(p, 16, logprobs=True) for p in ids])  # unrouted: the fast engine
    finally:
        multi.remove()
    by_adapter = {None: base_alone}
    for name, path in adapters.items():
        merged, tok, _ = load(str(path), device="cpu")
        by_adapter[name] = Engine(merged, tok).generate([Request(p, 16, logprobs=True) for p in ids])
    texts = set()
    for (p, name), got in zip(rows, mixed):
        want = by_adapter[name][ids.index(p)]
        assert got.token_ids == want.token_ids, (name, got.text, want.text)
        torch.testing.assert_close(torch.tensor(got.logprobs), torch.tensor(want.logprobs), rtol=1e-4, atol=1e-4)
        texts.add((ids.index(p), got.text))
    assert len(texts) > 2 * len(ids)  # the adapters decode differently: the test can tell them apart


ROUTED_LAYOUTS = [dict(), dict(static=True), dict(static=True, decode_gqa="group")]


@pytest.mark.parametrize("layout", ROUTED_LAYOUTS, ids=["eager", "static", "static-group"])
def test_fast_engine_routes_rows_as_the_hf_loop_does(tiny, adapters, layout):
    """A batch mixing three adapters and the base, decoded by the fast engine's routed step (each projection adding
    its row's adapter delta with the hooks' operations), gives the hf loop's routed tokens; eagerly on the CPU the
    log-probabilities are bit-equal, in the graph's static layout (bucket rows, every cache column) equal to
    rounding. A batch naming no adapter afterwards decodes as the base did before."""
    model, tokenizer, ids = tiny
    multi = MultiLoRA.load(model, adapters)
    try:
        fast = Engine(model, tokenizer, backend="fast", adapters=multi, **layout)
        hf = Engine(model, tokenizer, backend="hf", adapters=multi)
        base_before = fast.generate([Request(p, 12, logprobs=True) for p in ids])
        rows = [(p, name) for p in ids for name in (*NAMES, None)]
        make = lambda: [Request(p, 12, adapter=name, logprobs=True) for p, name in rows]  # noqa: E731
        got, want = fast.generate(make()), hf.generate(make())
        base_after = fast.generate([Request(p, 12, logprobs=True) for p in ids])
    finally:
        multi.remove()
    assert fast.backend == "fast" and fast.fast.adapters is multi
    assert [g.token_ids for g in got] == [w.token_ids for w in want]
    for g, w in zip(got, want):
        if layout:
            torch.testing.assert_close(torch.tensor(g.logprobs), torch.tensor(w.logprobs), rtol=1e-5, atol=1e-5)
        else:
            assert g.logprobs == w.logprobs
    assert len({(ids.index(p), g.text) for (p, _), g in zip(rows, got)}) > 2 * len(ids)  # the adapters differ
    assert [b.token_ids for b in base_after] == [b.token_ids for b in base_before]
    assert [g.token_ids for (p, name), g in zip(rows, got) if name is None] == [b.token_ids for b in base_before]


def test_routed_replays_read_the_route_of_each_call(tiny, adapters, fake_graphs):
    """The captured step's route is a static buffer: one routed state and its 'graphs' (replayed on the CPU) serve
    calls with different mixes of adapters, each giving the hf loop's routed tokens; a call naming no adapter uses a
    state of its own (no adapter GEMMs)."""
    model, tokenizer, ids = tiny
    multi = MultiLoRA.load(model, adapters)
    try:
        hf = Engine(model, tokenizer, backend="hf", adapters=multi)
        fake = fake_graphs(model, static=True, decode_gqa="group", span=16)
        for mix in (("a", "b", None, "c", "a"), ("c", None, "a", "b", "b")):
            got = fake.generate([Request(p, 10, adapter=name) for p, name in zip(ids, mix)], hf.eos_ids, hf.pad_id,
                                hf._generator, hf._hits_stop, adapters=multi)
            want = hf.generate([Request(p, 10, adapter=name) for p, name in zip(ids, mix)])
            assert [d.token_ids for d in got] == [r.token_ids for r in want], mix
        plain = fake.generate([Request(p, 10) for p in ids], hf.eos_ids, hf.pad_id, hf._generator, hf._hits_stop)
    finally:
        multi.remove()
    routed = [st for key, st in fake.states.items() if key[3]]
    assert len(routed) == 1 and routed[0].route.shape == (8, multi.width)
    assert sum(g.replays for g in routed[0].graphs.values()) >= 2 * 9  # both calls replayed the one state's steps
    assert [d.token_ids for d in plain] == [r.token_ids for r in Engine(model, tokenizer, backend="hf").generate(
        [Request(p, 10) for p in ids])]
    assert len(fake.states) == 2


def test_fast_engine_rebinds_a_new_set_of_adapters(tiny, adapters):
    """A new MultiLoRA (the registry rebuilds one when the set of routes changes) replaces the old one's matrices
    and routed caches: the same names now decode through the new adapters."""
    model, tokenizer, ids = tiny
    first = MultiLoRA.load(model, adapters)
    engine = Engine(model, tokenizer, backend="fast", static=True, adapters=first)
    try:
        engine.generate([Request(p, 8, adapter="a") for p in ids])
    finally:
        first.remove()
    second = MultiLoRA.load(model, {"a": adapters["c"], "b": adapters["b"]})  # "a" is now adapter c
    try:
        engine.adapters = second
        got = engine.generate([Request(p, 8, adapter="a") for p in ids])
        want = Engine(model, tokenizer, backend="hf", adapters=second).generate([Request(p, 8, adapter="a") for p in ids])
    finally:
        second.remove()
    assert engine.fast.adapters is second and all(key[3] is False or st.route.shape[1] == second.width
                                                   for key, st in engine.fast.states.items())
    assert [g.token_ids for g in got] == [w.token_ids for w in want]


def test_exact_layout_routes_in_the_hf_loop(tiny, adapters):
    """The exact layout decodes as generate does, without adapters: a routed batch there goes to the hf loop (the
    same tokens), and the decoder says why."""
    model, tokenizer, ids = tiny
    multi = MultiLoRA.load(model, adapters)
    try:
        exact = Engine(model, tokenizer, backend="fast", exact=True, adapters=multi)
        assert "exact layout" in exact.fast.route_unavailable(multi)
        got = exact.generate([Request(p, 8, adapter="b") for p in ids])
        want = Engine(model, tokenizer, backend="hf", adapters=multi).generate([Request(p, 8, adapter="b") for p in ids])
    finally:
        multi.remove()
    assert exact.fast.adapters is None and [g.token_ids for g in got] == [w.token_ids for w in want]


def test_bad_routes_fail_clearly(tiny, adapters, tmp_path):
    model, tokenizer, ids = tiny
    with pytest.raises(ValueError, match="has no adapters"):
        Engine(model, tokenizer).generate([Request(ids[0], 4, adapter="a")])
    multi = MultiLoRA.load(model, adapters)
    try:
        with pytest.raises(ValueError, match="unknown adapter 'zz'; accepted: a, b, c"):
            Engine(model, tokenizer, adapters=multi).generate([Request(ids[0], 4, adapter="zz")])
    finally:
        multi.remove()
    with pytest.raises(ValueError, match="not a LoRA adapter directory"):
        read_adapter(tmp_path)


def test_merged_spans_equal_the_routed_form_with_gradients(tiny, adapters):
    """The merged form (packed training's `spans`): each block of rows through its adapter's W + s·B·A gives, in
    fp32, the routed form's logits and the same gradients on every adapter's A and B."""
    from models.multilora import read_adapter

    model, tokenizer, ids = tiny
    tokenizer.padding_side = "right"
    enc = tokenizer.pad({"input_ids": ids[:4]}, return_tensors="pt")
    loaded = {n: read_adapter(p)[:2] for n, p in adapters.items()}
    results = []
    for merged in (False, True):
        multi = MultiLoRA(model, loaded, trainable=True, merged=merged)
        try:
            context = multi.spans([("b", 0, 1), ("a", 1, 3), ("c", 3, 4)]) if merged else multi.routed(["b", "a", "a", "c"])
            with context:
                logits = model(**enc).logits
            logits[enc["attention_mask"].bool()].float().pow(2).mean().backward()
            grads = {n: [p.grad.clone() for p in multi.parameters(n)] for n in NAMES}
        finally:
            multi.remove()
        results.append((logits.detach(), grads))
    assert not any(hasattr(m, "forward") and "forward" in vars(m) for m in model.modules())  # remove() restored them
    (routed, g_routed), (spanned, g_spanned) = results
    valid = enc["attention_mask"].bool()
    torch.testing.assert_close(spanned[valid], routed[valid], rtol=1e-4, atol=1e-3)  # logits of order 10
    for name in NAMES:
        for a, b in zip(g_spanned[name], g_routed[name]):
            assert (a - b).norm() <= 1e-3 * b.norm()  # fp32 rounding (seen: 1e-4); a wrong block or scaling moves whole tensors
    assert any(g.abs().sum() > 0 for g in g_spanned["c"])  # every adapter got a gradient: the test can see a lost one


def test_bad_spans_fail_clearly(tiny, adapters):
    from models.multilora import read_adapter

    model, _, _ = tiny
    loaded = {n: read_adapter(p)[:2] for n, p in adapters.items()}
    multi = MultiLoRA(model, loaded, trainable=True)
    try:
        with pytest.raises(ValueError, match="needs a MultiLoRA made with merged=True"), multi.spans([("a", 0, 1)]):
            pass
    finally:
        multi.remove()
    multi = MultiLoRA(model, loaded, trainable=True, merged=True)
    try:
        with pytest.raises(ValueError, match="unknown adapter 'zz'; accepted: a, b, c"), multi.spans([("zz", 0, 1)]):
            pass
        with pytest.raises(ValueError, match="at least one"), multi.spans([]):
            pass
        with pytest.raises(ValueError, match=r"spans \[\(0, 2\), \(1, 3\)\] do not cover"), \
                multi.spans([("a", 0, 2), ("b", 1, 3)]):
            pass
    finally:
        multi.remove()
