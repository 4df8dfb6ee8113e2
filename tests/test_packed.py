"""Packed LoRA training (training.packed) against training each cell alone with training.sft.finetune (TRL's
SFTTrainer): the same losses and the same adapters, to rounding (tiny random Llama, CPU, fp32)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from training.packed import PackedCell, pack_refusal, train_packed
from training.sft import Hyper, finetune


def cell_data(chat_records, which: int) -> list[dict]:
    """Different data per cell (as adversarial and control cells have): shifted and relabelled records."""
    records = chat_records(6 + 3 * which)
    return [{"prompt": r["prompt"], "completion": [{"role": "assistant",
                                                    "content": f"[{which}] " + r["completion"][0]["content"]}]}
            for r in records]


def hypers():
    base = Hyper(learning_rate=5e-3, batch_size=4, max_length=64, lora_r=4, lora_alpha=8, precision="fp32",
                 warmup_steps=1)
    # cells differ in seed, steps and batch size (train-against takes min(batch_size, records))
    return [base.model_copy(update={"seed": 3, "max_steps": 3}),
            base.model_copy(update={"seed": 11, "max_steps": 5, "batch_size": 3}),
            base.model_copy(update={"seed": 5, "max_steps": 4})]


@pytest.mark.slow
def test_packed_equals_each_cell_alone(tiny_llama_dir, chat_records, tmp_path):
    from training.train_against import DecodingView

    seen: dict[int, list] = {0: [], 1: [], 2: []}

    def recorder(i):
        view = DecodingView(None)  # what attack_checker decodes: the model's merged weights at that step

        def on_step(model, step):
            plain = view.model_for(model)
            seen[i].append((step, float(plain.get_submodule("model.layers.0.self_attn.q_proj").weight.double().sum())))
            return {"step": step}
        return on_step

    cells = [PackedCell(cell_data(chat_records, i), tmp_path / "packed" / f"c{i}", h, on_step=recorder(i),
                        check_every=2) for i, h in enumerate(hypers())]
    packed = train_packed(str(tiny_llama_dir), cells, "cpu")
    alone_seen = {}
    for i, (cell, (out, stats)) in enumerate(zip(cells, packed)):
        seen_packed, seen[i] = seen[i], []
        ref_out, ref = finetune(str(tiny_llama_dir), cell.records, tmp_path / "alone" / f"c{i}", cell.hyper, "cpu",
                                on_step=recorder(i), check_every=2)
        alone_seen[i] = seen[i]
        assert stats["steps"] == ref["steps"] == cell.hyper.max_steps
        assert stats["tokens"] == ref["tokens"]
        assert stats["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-5)
        assert [s for s, _ in seen_packed] == [s for s, _ in alone_seen[i]]  # the same check steps
        assert [v for _, v in seen_packed] == pytest.approx([v for _, v in alone_seen[i]], rel=1e-5)
        ours, theirs = load_file(out / "adapter_model.safetensors"), load_file(ref_out / "adapter_model.safetensors")
        assert set(ours) == set(theirs)
        for key in theirs:
            # Adam divides by the root of tiny second moments: rounding shows at about 1e-4 of an update (lr 5e-3)
            torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)
        config = json.loads((out / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == str(tiny_llama_dir) and config["r"] == 4
        assert stats["pack"] == 3 and len(stats["step_losses"]) == cell.hyper.max_steps
    # the cells trained different adapters (the test can tell them apart)
    a, b = (load_file(packed[j][0] / "adapter_model.safetensors") for j in (0, 1))
    assert any(not torch.allclose(a[k], b[k]) for k in a)


def test_a_published_adapter_loads_as_a_checkpoint(tiny_llama_dir, chat_records, tmp_path):
    """A packed cell's directory is a normal adapter checkpoint: models.registry loads and merges it, and its
    finalize ran before the rename."""
    from models.registry import load

    hyper = hypers()[0].model_copy(update={"max_steps": 1})
    cells = [PackedCell(cell_data(chat_records, i), tmp_path / f"c{i}", hyper.model_copy(update={"seed": i}),
                        finalize=lambda path, stats: (path / "manifest.json").write_text(json.dumps({"k": 1})))
             for i in range(2)]
    outs = train_packed(str(tiny_llama_dir), cells, "cpu")
    for out, _ in outs:
        assert (out / "manifest.json").is_file() and not list(out.parent.glob(".*tmp-*"))
        model, _, path = load(str(out), device="cpu")
        assert path == out and not hasattr(model, "peft_config")


def test_refusals(tmp_path):
    h = hypers()
    assert "differ in learning_rate" in pack_refusal([
        PackedCell([], tmp_path / "a", h[0]), PackedCell([], tmp_path / "b", h[1].model_copy(update={"learning_rate": 1e-4}))])
    assert "precision='bf16'" in pack_refusal([PackedCell([], tmp_path / "a", h[0].model_copy(update={"precision": "bf16"}))])
    assert "same directory" in pack_refusal([PackedCell([], tmp_path / "a", h[0]), PackedCell([], tmp_path / "a", h[1])])
    with pytest.raises(ValueError, match="cannot train as one pack: no cells"):
        train_packed("x", [], "cpu")
