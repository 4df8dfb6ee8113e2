"""Training speed settings keep the math: packed batches give the padded batch's loss and gradients, and the
train-against checker decodes a LoRA model through a merged view with the fast engine, equal to the PEFT model."""

from __future__ import annotations

import pytest

from training.sft import Hyper, PackedCollator, finetune, pack_rows


def _examples(tokenizer, n=6):
    out = []
    for i in range(n):
        prompt = tokenizer(f"User asks about item {i}" + " and more" * (3 * i))["input_ids"]
        answer = tokenizer(f" Answer {i}" + " yes" * (2 + 5 * (i % 3)))["input_ids"]
        out.append({"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer})
    return out


def test_pack_rows_first_fit_decreasing():
    rows = pack_rows([5, 9, 3, 7, 2], 10)
    assert sorted(i for r in rows for i in r) == [0, 1, 2, 3, 4]
    assert all(sum([5, 9, 3, 7, 2][i] for i in r) <= 10 for r in rows)
    assert rows == [[1], [3, 2], [0, 4]]
    assert pack_rows([12, 1], 10) == [[0], [1]]  # an over-long example gets its own row


def test_packed_collator_layout(tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    ex = _examples(tok, 4)
    batch = PackedCollator(tok.pad_token_id, row_length=64, multiple=8)(ex)
    ids, labels, pos = batch["input_ids"], batch["labels"], batch["position_ids"]
    assert "attention_mask" not in batch and ids.shape[1] % 8 == 0
    assert ids.shape[0] < len(ex)  # something was packed
    starts = (pos == 0).sum().item()
    pads = (ids.shape[1] * ids.shape[0]) - sum(len(e["input_ids"]) for e in ex)
    assert starts >= len(ex) and (labels[pos == 0] == -100).all()
    assert (labels != -100).sum().item() == sum(sum(x != -100 for x in e["labels"][1:]) for e in ex)
    assert pads >= 0


def _loss_and_grad(model, batch):
    model.zero_grad()
    out = model(**batch, use_cache=False)  # as in training: with a cache, transformers ignores packed position ids
    out.loss.backward()
    return out.loss.item(), model.model.layers[0].self_attn.q_proj.weight.grad.clone()


def test_packed_batch_has_the_padded_batch_loss_and_gradient(tiny_llama_dir):
    """Block-diagonal attention from position ids: no packed example sees another (else the loss would move)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    ex = _examples(tok, 6)
    padded = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)(ex)
    packed = PackedCollator(tok.pad_token_id, row_length=128)(ex)
    assert packed["input_ids"].numel() < padded["input_ids"].numel()
    loss_a, grad_a = _loss_and_grad(model, padded)
    loss_b, grad_b = _loss_and_grad(model, packed)
    assert loss_b == pytest.approx(loss_a, rel=1e-5)
    torch.testing.assert_close(grad_b, grad_a, rtol=1e-4, atol=1e-6)
    # the same rows without position ids (one causal sequence per row) leak across examples: a different loss
    leaky = {k: v for k, v in packed.items() if k != "position_ids"}
    assert _loss_and_grad(model, leaky)[0] != pytest.approx(loss_a, rel=1e-3)
    # rows of padding alone (the compile layout: full-width rows, row count rounded up) change nothing either
    wide = PackedCollator(tok.pad_token_id, row_length=128, multiple=128, row_multiple=4)(ex)
    assert wide["input_ids"].shape[0] % 4 == 0 and wide["input_ids"].shape[0] > packed["input_ids"].shape[0]
    assert wide["input_ids"].shape[1] == 128 and (wide["labels"][packed["input_ids"].shape[0]:] == -100).all()
    loss_c, grad_c = _loss_and_grad(model, wide)
    assert loss_c == pytest.approx(loss_a, rel=1e-5)
    torch.testing.assert_close(grad_c, grad_a, rtol=1e-4, atol=1e-6)


def test_finetune_packed_equals_padded(tiny_llama_dir, tmp_path, chat_records):
    import torch

    torch.set_num_threads(1)
    records = chat_records(8)
    losses = {}
    for packing in (False, True):
        hyper = Hyper(method="lora", max_steps=2, batch_size=4, learning_rate=1e-2, precision="fp32", packing=packing)
        _, stats = finetune(str(tiny_llama_dir), records, tmp_path / f"p{packing}", hyper, "cpu")
        losses[packing] = stats["train_loss"]
        assert stats["tokens"] > 0 and set(stats["timings"]) >= {"load", "setup", "train", "checks", "save"}
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)


def test_lora_checker_decodes_the_merged_weights_with_one_fast_engine(tiny_llama_dir):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models.engine import Engine, Request
    from training.train_against import DecodingView

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)  # a non-trivial adapter
    model.eval()
    prompts = []
    for i in range(4):
        enc = tok.apply_chat_template([{"role": "user", "content": f"Say {i} things"}], add_generation_prompt=True,
                                      tokenize=True)
        prompts.append(list(enc["input_ids"] if hasattr(enc, "keys") else enc))
    requests = [Request(p, 12) for p in prompts]
    view = DecodingView(tok)
    engine = view.engine(model)
    assert engine.backend == "fast"
    peft_ids = [r.token_ids for r in Engine(model, tok, backend="hf").generate(requests)]
    assert [r.token_ids for r in engine.generate(requests)] == peft_ids
    snapshot = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():  # what an optimizer step does: the adapter changes in place
        for name, p in model.named_parameters():
            if "lora_A" in name:
                p.mul_(-1.5)
    changed = [r.token_ids for r in Engine(model, tok, backend="hf").generate(requests)]
    assert changed != peft_ids
    again = view.engine(model)
    assert again is engine  # one Engine (one set of CUDA graphs) for the whole run
    assert [r.token_ids for r in again.generate(requests)] == changed
    # the training model's own weights were never merged into
    for name, p in model.named_parameters():
        if "lora_A" not in name:
            assert torch.equal(p, snapshot[name]), name


def test_training_benchmark_configs():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "training_speed.py"
    spec = importlib.util.spec_from_file_location("training_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    got = bench.configs(["new-b128", "compile+bf16-b384", "bf16-b8", "eager-b256", "graphs+bf16-b64",
                         "eager+merged-b8", "peft+master-b16", "fp32+peft-b4"])
    assert got == {"new-b128": {"batch_size": 128},
                   "compile+bf16-b384": {"batch_size": 384, "compile": True, "precision": "bf16"},
                   "bf16-b8": {"batch_size": 8, "precision": "bf16"},
                   "eager-b256": {"batch_size": 256, "cuda_graphs": False},
                   "graphs+bf16-b64": {"batch_size": 64, "cuda_graphs": True, "precision": "bf16"},
                   "eager+merged-b8": {"batch_size": 8, "cuda_graphs": False, "lora_merged": True},
                   "peft+master-b16": {"batch_size": 16, "precision": "bf16-master", "lora_merged": False},
                   "fp32+peft-b4": {"batch_size": 4, "precision": "fp32", "lora_merged": False}}
    assert [bench.full_config(n) for n in ["eager+merged-b8", "peft-b16", "master+liger-b256"]] == [
        "eager-b8", "new-b16", "master+liger-b256"]
    for bad in ["fast-b8", "compile+compile-b8", "new-bx", "new", "graphs+compile-b8", "eager+graphs-b8",
                "merged+peft-b8", "fp32+master-b8"]:
        with pytest.raises(SystemExit, match="accepted: old, new-bN"):
            bench.configs([bad])


def test_liger_refusals(tiny_llama_dir, tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from training.sft import use_liger

    records = [{"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "yo"}]}]
    with pytest.raises(ValueError, match="liger=True needs a CUDA device, not 'cpu'"):
        finetune(str(tiny_llama_dir), records, tmp_path / "out", Hyper(liger=True, max_steps=1), "cpu")
    assert not (tmp_path / "out").exists()
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64))
    with pytest.raises(ValueError, match="liger"):  # the package missing (CPU machines), or GPT-2 not supported
        use_liger(gpt2)
    try:
        import liger_kernel  # noqa: F401
    except ImportError:
        return
    with pytest.raises(ValueError, match="supports llama, mistral and qwen2 models, not 'gpt2'"):
        use_liger(gpt2)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_finetune_with_liger_learns_like_torch(smollm_dir, tmp_path, chat_records):
    pytest.importorskip("liger_kernel")
    records = chat_records(64)
    losses = {}
    for liger in (False, True):
        hyper = Hyper(method="full", max_steps=8, batch_size=8, learning_rate=2e-5, liger=liger)
        _, stats = finetune(str(smollm_dir), records, tmp_path / f"l{liger}", hyper, "cuda")
        losses[liger] = stats["train_loss"]
    assert losses[True] == pytest.approx(losses[False], rel=0.02)


def test_master_adamw_keeps_updates_that_bf16_rounds_away():
    """Tiny updates accumulate in the fp32 masters (pure bf16 weights would not move), and the model holds the
    masters rounded to bf16."""
    import torch

    from training.master import MasterAdamW

    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.ones(64, dtype=torch.bfloat16))
    pure = torch.nn.Parameter(torch.ones(64, dtype=torch.bfloat16))
    opt, ref = MasterAdamW([w], lr=1e-4, weight_decay=0.0), torch.optim.AdamW([pure], lr=1e-4, weight_decay=0.0)
    for _ in range(100):
        for p, o in ((w, opt), (pure, ref)):
            p.grad = torch.ones_like(p)
            o.step()
            o.zero_grad()
            assert p.grad is None
    master = opt.pairs[0][1]
    assert master.dtype == torch.float32 and float(master[0].detach()) == pytest.approx(1 - 100 * 1e-4, rel=1e-4)
    assert torch.equal(w.data, master.to(torch.bfloat16))  # 0.99 in bf16: the updates reached the model
    assert torch.equal(pure.data, torch.ones_like(pure))  # each 1e-4 step is below bf16's resolution at 1.0
    opt.restore_masters()
    assert w.dtype == torch.float32 and torch.equal(w.data, master)
    # given fp32 weights, the masters keep them and the model holds them rounded to bf16 (what autocast would use)
    full = torch.nn.Parameter(torch.full((8,), 0.1))
    MasterAdamW([full], lr=1e-4)
    assert full.dtype == torch.bfloat16 and torch.equal(full.data, torch.full((8,), 0.1).to(torch.bfloat16))


@pytest.mark.parametrize("method", ["full", "lora"])
def test_finetune_bf16_master_learns_like_mixed_and_saves_fp32(tiny_llama_dir, tmp_path, chat_records, method):
    import torch
    from safetensors import safe_open

    torch.set_num_threads(1)
    records = chat_records(16)
    losses = {}
    for precision in ("mixed", "bf16-master"):
        hyper = Hyper(method=method, max_steps=4, batch_size=4, learning_rate=1e-2 if method == "lora" else 1e-3,
                      precision=precision)
        out, stats = finetune(str(tiny_llama_dir), records, tmp_path / precision, hyper, "cpu", merge=True)
        losses[precision] = stats["train_loss"]
        with safe_open(out / "model.safetensors", "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}
    assert losses["bf16-master"] == pytest.approx(losses["mixed"], rel=0.05)

