"""LoRA trained through the merged weight (`training.mergedlora`): PEFT's function and gradients, PEFT's adapter."""

from __future__ import annotations

import pytest

from training.sft import Hyper, PackedCollator, finetune


def _lora_model(tiny_llama_dir, dtype, dropout=0.0, seed=0):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=dtype)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear",
                                             init_lora_weights=False))  # B != 0: the adapter changes the output
    return model


def _batch(tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    examples = [{"input_ids": tok(f"example {i} " + "word " * (3 + 2 * i))["input_ids"]} for i in range(4)]
    return PackedCollator(tok.pad_token_id, row_length=64)(examples)


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_merged_lora_has_peft_loss_and_gradients_in_fp32(tiny_llama_dir):
    import torch

    from training.mergedlora import use_merged_lora

    batch = _batch(tiny_llama_dir)
    peft_model = _lora_model(tiny_llama_dir, torch.float32)
    merged = _lora_model(tiny_llama_dir, torch.float32)
    assert use_merged_lora(merged) == 2 * 7  # q k v o gate up down in each of 2 layers
    peft_model.train()
    merged.train()
    loss_a, grads_a = _loss_and_grads(peft_model, batch)
    loss_b, grads_b = _loss_and_grads(merged, batch)
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-6, atol=1e-6)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == 2 * 2 * 7
    for name in grads_a:
        assert grads_a[name].abs().max() > 0, name
        # (W + s·B·A)x and Wx + s·B(Ax) round differently: an element's error scales with the tensor's magnitudes
        # (the terms summed), not with that element, so the absolute tolerance is relative to the tensor's largest
        scale = float(grads_a[name].abs().max())
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-4, atol=1e-5 * scale, msg=name)
    # evaluation runs PEFT's own forward: the same outputs bit for bit
    peft_model.eval()
    merged.eval()
    with torch.no_grad():
        assert torch.equal(merged(**batch, use_cache=False).logits, peft_model(**batch, use_cache=False).logits)


def test_merged_lora_in_bf16_rounds_the_merged_weight_once(tiny_llama_dir):
    """In bf16 (no autocast) the merged GEMM sees bf16(W + s·B·A), formed in fp32: close to PEFT's bf16 forward,
    and the gradients reach every adapter."""
    import torch

    from training.mergedlora import use_merged_lora

    batch = _batch(tiny_llama_dir)
    reference = _lora_model(tiny_llama_dir, torch.float32)
    merged = _lora_model(tiny_llama_dir, torch.bfloat16)
    use_merged_lora(merged)
    reference.train()
    merged.train()
    loss_ref, grads_ref = _loss_and_grads(reference, batch)
    loss_b, grads_b = _loss_and_grads(merged, batch)
    assert float(loss_b) == pytest.approx(float(loss_ref), rel=2e-2)
    for name, g in grads_b.items():
        assert g.abs().max() > 0, name  # (PEFT keeps a bf16 model's adapters in fp32)
        cos = torch.nn.functional.cosine_similarity(g.float().flatten(), grads_ref[name].flatten(), dim=0)
        assert cos > 0.98, (name, float(cos))


def test_merged_lora_refusals(tiny_llama_dir, tmp_path, chat_records):
    import torch

    from training.mergedlora import use_merged_lora

    with pytest.raises(ValueError, match="cannot train .*q_proj: adapter 'default' has LoRA dropout"):
        use_merged_lora(_lora_model(tiny_llama_dir, torch.float32, dropout=0.1))
    from transformers import AutoModelForCausalLM

    with pytest.raises(ValueError, match="the model has no LoRA Linear layers"):
        use_merged_lora(AutoModelForCausalLM.from_pretrained(tiny_llama_dir))
    with pytest.raises(ValueError, match="lora_merged=True applies to method='lora', not method='full'"):
        finetune(str(tiny_llama_dir), chat_records(4), tmp_path / "out", Hyper(method="full", lora_merged=True), "cpu")
    assert not (tmp_path / "out").exists()


def test_finetune_with_merged_lora_trains_and_saves_peft_adapter(tiny_llama_dir, tmp_path, chat_records):
    """Same records, same seed, fp32: merged and PEFT training follow the same trajectory and save the same adapter
    (up to float rounding); the adapter loads as a normal PEFT checkpoint."""
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    records = chat_records(16)
    out = {}
    for merged in (False, True):
        hyper = Hyper(method="lora", max_steps=4, batch_size=4, learning_rate=1e-2, precision="fp32",
                      lora_merged=merged)
        path, stats = finetune(str(tiny_llama_dir), records, tmp_path / f"m{merged}", hyper, "cpu")
        assert stats["lora_merged"] is merged
        out[merged] = (stats["train_loss"], load_file(path / "adapter_model.safetensors"))
    assert out[True][0] == pytest.approx(out[False][0], rel=1e-5)
    weights_peft, weights_merged = out[False][1], out[True][1]
    assert weights_peft.keys() == weights_merged.keys()
    for name in weights_peft:  # (Adam turns rounding-level differences of near-zero gradients into steps of lr)
        diff = (weights_merged[name] - weights_peft[name]).norm() / weights_peft[name].norm()
        assert diff < 1e-2, (name, float(diff))
    # CPU's default is PEFT's form
    _, stats = finetune(str(tiny_llama_dir), records, tmp_path / "auto",
                        Hyper(method="lora", max_steps=1, batch_size=4, precision="fp32"), "cpu")
    assert stats["lora_merged"] is False


def test_bf16_master_merged_lora_merges_into_the_fp32_base(tiny_llama_dir, tmp_path, chat_records):
    """bf16-master: the frozen base computes in bf16, but the merged weight is formed from its fp32 values (merged into
    bf16-rounded weights, small adapter products would be rounded away), and training learns like mixed precision."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    fp32 = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    reference = fp32.model.layers[1].mlp.down_proj.weight
    seen = []

    def inspect(model, step):
        layer = model.get_base_model().model.layers[1].mlp.down_proj
        seen.append((layer.base_layer.weight.dtype, layer.merged_base.dtype, torch.equal(layer.merged_base, reference),
                     model.get_base_model().model.embed_tokens.weight.dtype, layer.lora_A["default"].weight.dtype))

    records = chat_records(16)
    losses = {}
    for precision in ("mixed", "bf16-master"):
        hyper = Hyper(method="lora", max_steps=4, batch_size=4, learning_rate=1e-2, precision=precision,
                      lora_merged=True)
        _, stats = finetune(str(tiny_llama_dir), records, tmp_path / precision, hyper, "cpu",
                            on_step=inspect if precision == "bf16-master" else None, check_every=2)
        losses[precision] = stats["train_loss"]
    assert seen[0][:4] == (torch.bfloat16, torch.float32, True, torch.bfloat16)
    assert seen[-1][4] == torch.bfloat16  # the trained adapters compute in bf16 too (fp32 masters in the optimizer)
    assert losses["bf16-master"] == pytest.approx(losses["mixed"], rel=0.05)


def test_merged_weight_is_formed_in_fp32_under_autocast():
    import torch

    from training.mergedlora import _MergedWeight

    torch.manual_seed(0)
    base = torch.randn(48, 32) * 0.05
    a = (torch.randn(4, 32) * 0.1).requires_grad_()
    b = (torch.randn(48, 4) * 1e-3).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weight = _MergedWeight.apply(base, a, b, 2.0, torch.bfloat16)
        weight.float().sum().backward()
    assert weight.dtype == torch.bfloat16
    assert torch.equal(weight, torch.addmm(base, b.detach(), a.detach(), alpha=2.0).to(torch.bfloat16))  # fp32, once
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.addmm(base, b.detach(), a.detach(), alpha=2.0).dtype == torch.bfloat16  # what autocast does
    ones = torch.ones(48, 32, dtype=torch.bfloat16)  # d(sum W)/dA = s·Bᵀ·1, d/dB = s·1·Aᵀ
    torch.testing.assert_close(a.grad, 2.0 * (b.detach().bfloat16().t() @ ones).float(), rtol=1e-2, atol=1e-6)
    torch.testing.assert_close(b.grad, 2.0 * (ones @ a.detach().bfloat16().t()).float(), rtol=1e-2, atol=1e-6)


@pytest.mark.parametrize("merged", [True, False])
def test_bf16_master_lora_merged_save_holds_the_exact_fp32_base(tiny_llama_dir, tmp_path, chat_records, merged):
    """bf16-master, either LoRA form: the base computes in bf16, but a merged save (merge=True) is the fp32 base plus
    the adapter (the same training saved as an adapter), not the base's bf16 rounding plus the adapter."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    layer = lambda m: m.model.layers[1].mlp.down_proj.weight  # noqa: E731
    reference = layer(AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32))
    records = chat_records(16)
    hyper = Hyper(method="lora", max_steps=3, batch_size=4, learning_rate=1e-2, precision="bf16-master",
                  lora_merged=merged)
    out, _ = finetune(str(tiny_llama_dir), records, tmp_path / "merged", hyper, "cpu", merge=True)
    saved = layer(AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32))
    out, _ = finetune(str(tiny_llama_dir), records, tmp_path / "adapter", hyper, "cpu")
    adapter = load_file(out / "adapter_model.safetensors")
    prefix = "base_model.model.model.layers.1.mlp.down_proj"
    delta = (hyper.lora_alpha / hyper.lora_r) * adapter[f"{prefix}.lora_B.weight"] @ adapter[f"{prefix}.lora_A.weight"]
    assert delta.abs().max() > 0
    torch.testing.assert_close(saved, reference + delta, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(saved, reference.bfloat16().float() + delta, rtol=1e-5, atol=1e-6)
