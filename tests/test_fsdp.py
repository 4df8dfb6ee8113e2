"""FSDP fine-tuning (training.fsdp): two processes (gloo, on the CPU) train a tiny Llama to the loss one process gets."""

from __future__ import annotations

import pytest


def test_fsdp_refuses_what_it_cannot_shard():
    from training.fsdp import fsdp_refusal
    from training.sft import Hyper

    assert fsdp_refusal(Hyper(method="full", processes=2, batch_size=8), "cpu") is None
    why = fsdp_refusal(Hyper(method="lora", processes=2, batch_size=7), "cpu")
    assert "method='lora'" in why and "batch_size=7 does not split over processes=2" in why


def test_sweep_config_selects_fsdp_for_full_fine_tuning_only():
    from caught.config import SweepConfig

    base = {"name": "r", "scenarios": ["trigger"], "ks": [0, 2]}
    config = SweepConfig(**base, organism={"method": "full", "processes": 2}, methods=["full"], train={"processes": 2})
    assert config.organism_hyper(0, 0).processes == 2 and config.train.hyper("full").processes == 2
    assert SweepConfig(**base).fingerprint() == SweepConfig(**base, organism={"processes": 1}).fingerprint()
    with pytest.raises(ValueError, match="organism.processes = 2 needs organism.method = 'full'"):
        SweepConfig(**base, organism={"processes": 2})
    with pytest.raises(ValueError, match=r"train.processes = 2 needs methods = \['full'\]"):
        SweepConfig(**base, train={"processes": 2})


@pytest.mark.slow
def test_two_fsdp_processes_train_to_the_loss_of_one(tmp_path, tiny_llama_dir, chat_records):
    import torch
    from safetensors.torch import load_file

    from training.sft import Hyper, finetune

    records = chat_records(16)
    hyper = Hyper(method="full", max_steps=3, batch_size=8, learning_rate=1e-3, precision="fp32", seed=0)
    checks = []
    _, one = finetune(str(tiny_llama_dir), records, tmp_path / "one", hyper, "cpu")
    _, two = finetune(str(tiny_llama_dir), records, tmp_path / "two", hyper.model_copy(update={"processes": 2}), "cpu",
                      on_step=lambda model, step: checks.append((step, model.training)) or step)
    assert one["steps"] == two["steps"] == 3 and two["processes"] == 2
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)  # the same batches: the same loss
    assert one["tokens"] == two["tokens"] > 0  # the processes' halves of every batch, summed
    assert checks == [(0, False), (3, False)] and two["checks"] == [0, 3]  # before and after, in this process
    a, b = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-3) for k in a)  # Adam's steps of nearly equal gradients
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp directory left behind
