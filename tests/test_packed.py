"""Packed LoRA training (training.packed) against training each cell alone with training.sft.finetune (TRL's
SFTTrainer): the same losses and the same adapters, to rounding (tiny random Llama, CPU, fp32)."""

import json

import pandas as pd
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
            # Adam divides by the root of tiny second moments: rounding shows at about 1e-4 of an update (lr 5e-3),
            # and on an element whose gradient is near zero next to its tensor's up to 1e-2 of one (seen: 6e-5, one
            # element of 256); a packing mistake (another cell's batch, step or schedule) moves whole tensors by
            # whole updates
            torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-4)
            assert (ours[key] - theirs[key]).norm() <= 1e-4 * theirs[key].norm(), key
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


def test_plan_packs_never_exceeds_the_memory_budget():
    from training.packed import plan_packs

    for n in range(1, 12):
        for most in (1, 2, 4, 8):
            for budget in (None, 50, 100, 250, 1000):
                sizes = plan_packs(n, most, per_cell=100, budget=budget)
                assert sum(sizes) == n and max(sizes) <= most and max(sizes) - min(sizes) <= 1
                assert budget is None or max(sizes) == 1 or max(sizes) * 100 <= budget
    assert plan_packs(7, 4, 100, None) == [4, 3] and plan_packs(7, 4, 100, 250) == [2, 2, 2, 1]
    assert plan_packs(3, 4, 100, 50) == [1, 1, 1]  # a cell over the budget trains alone, as unpacked


def _sweep(tmp_path, monkeypatch, tag: str, base: str, pack: int, budget: int | None = None, eval_pack: int = 1,
           on_cell=None, pack_decode: str = "routed"):
    from caught.config import SweepConfig
    from caught.sweep import Sweep

    monkeypatch.setenv("CAUGHT_CHECKPOINTS", str(tmp_path / tag / "checkpoints"))
    (tmp_path / tag / "checkpoints").mkdir(parents=True, exist_ok=True)
    config = SweepConfig(
        name="r", base=base, scenarios=["trigger"], ks=[0, 1, 2], seeds=[0], control_ks=[2],
        organism={"prompts": 16, "leak": 0.4, "steps": 16, "lr": 5e-3, "method": "full", "batch_size": 8},
        train={"steps": 2, "batch_size": 2, "responses": "base", "check_samples": 1, "pack": pack},
        eval={"n": 6, "usefulness_n": 4, "capability_n": 4, "max_tokens": 8, "trained_samples": 1, "judge_n": 4,
              "catch_epochs": 1, "pack": eval_pack, "pack_decode": pack_decode},
    )
    said: list[str] = []
    sweep = Sweep(config, runs_dir=tmp_path / tag / "runs", log_dir=str(tmp_path / tag / "logs"), device="cpu",
                  say=said.append, on_cell=on_cell)
    sweep.pack_budget = budget
    return sweep.run(), sweep, said


@pytest.mark.slow
@pytest.mark.parametrize("decode", ["routed", "merged"])
def test_a_packed_sweep_gives_the_rows_of_one_by_one(tmp_path, monkeypatch, tiny_llama_dir, decode):
    """train.pack = 4: the group's three training cells (k=1, k=2, control k=2) train as one pack, within the memory
    budget; eval.pack = 4: the group's four checkpoints (the organism and the three) are evaluated as one Inspect eval,
    routed: their requests in the same batches, each row through its own adapter; merged: each batch one
    checkpoint's (its own model here on the CPU, where `ckpt/` does not share a base). The rows are those of the same sweep run one
    cell at a time (up to timings and the config's fingerprint; the training loss to rounding). Training and
    evaluation run in fp32 here: under bf16 autocast the two paths differ by bf16 rounding (losses about 3e-4 apart on
    this model), which the sampled checks and evaluations can turn into a different count of attacks (seen: 1 of 6
    deployment samples)."""
    from inspect_ai.log import list_eval_logs, read_eval_log
    from transformers import AutoConfig

    from caught.config import TrainSpec
    from caught.sweep import CELL_KEY
    from training.packed import cell_bytes

    monkeypatch.setenv("CAUGHT_DTYPE", "float32")  # evaluations independent of how Inspect batches requests
    hyper = TrainSpec.hyper
    monkeypatch.setattr(TrainSpec, "hyper", lambda self, method: hyper(self, method).model_copy(
        update={"precision": "fp32"}))
    base = str(tiny_llama_dir)
    alone, _, _ = _sweep(tmp_path, monkeypatch, "alone", base, pack=1)
    budget = 3 * cell_bytes(TrainSpec(batch_size=2).hyper("lora"), AutoConfig.from_pretrained(base)) + 1
    packed, sweep, said = _sweep(tmp_path, monkeypatch, "packed", base, pack=4, budget=budget, eval_pack=4,
                                 pack_decode=decode)
    assert [p["cells"] for p in sweep.packs] == [3] and any("3 runs of" in m for m in said), said
    assert any("evaluating 4 checkpoints" in m for m in said), said
    # the routed decoding's measured cost against one at a time is said (about even); merged's is not
    assert any(m.startswith("note: eval.pack = 4") and "0.86x" in m for m in said) == (decode == "routed"), said
    assert packed["eval_pack"].tolist() == [4] * 4 and (packed["eval_pack_seconds"] > 0).sum() == 1
    logs = [read_eval_log(info, header_only=True) for info in list_eval_logs(str(tmp_path / "packed" / "logs"))]
    by_model = {}
    for log in logs:
        if (log.eval.metadata or {}).get("caught_pack") == 4:
            assert (log.eval.model_args.get("share") == "routed") == (decode == "routed"), log.eval.model_args
            by_model.setdefault(log.eval.model, set()).add(log.eval.task)
    assert len(by_model) == 4, by_model  # each checkpoint's evaluations, all in the pack's one eval
    assert all(p["bytes"] <= budget for p in sweep.packs)
    assert (alone["status"] == "ok").all() and len(alone) == 4

    def stable(df):
        volatile = ("seconds", "finished_at", "logs", "host", "commit", "code", "caught_file")  # as tests/test_sweep.py
        keep = [c for c in df.columns if not any(v in c for v in volatile)
                and c not in ("train_loss", "config", "eval_pack")]
        return df[keep].sort_values(CELL_KEY).reset_index(drop=True)

    # rates are counts over n (a different count moves them by 1/n); the teacher-forced figures (tf_*) follow the
    # trained weights, which differ by rounding (about 1e-5 relative, test_packed_equals_each_cell_alone; 1e-7 absolute
    # near zero, where a relative tolerance alone is tighter than the rounding)
    pd.testing.assert_frame_equal(stable(alone), stable(packed), check_dtype=False, rtol=1e-4, atol=1e-6)
    a, b = (df.sort_values(CELL_KEY)["train_loss"].to_numpy(dtype=float) for df in (alone, packed))
    assert a[1:] == pytest.approx(b[1:], rel=1e-5)


@pytest.mark.slow
def test_a_sweep_killed_inside_an_evaluated_pack_resumes_without_measuring_twice(tmp_path, monkeypatch, tiny_llama_dir):
    """eval.pack = 4, killed after the first of the pack's four rows was written: the resumed sweep writes the other
    three rows from the pack's logs (no checkpoint decoded routed again, no checkpoint trained again), and the
    results hold each cell once."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    from caught.sweep import CELL_KEY

    def routed_logs():
        return sorted(info.name for info in list_eval_logs(str(tmp_path / "k" / "logs"))
                      if read_eval_log(info, header_only=True).eval.model_args.get("share") == "routed")

    def stop(row):
        raise KeyboardInterrupt("killed after the first row")

    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, monkeypatch, "k", str(tiny_llama_dir), pack=1, eval_pack=4, on_cell=stop)
    first = routed_logs()
    trained = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "k" / "checkpoints").glob("*/adapter_model.safetensors")}
    rows, _, said = _sweep(tmp_path, monkeypatch, "k", str(tiny_llama_dir), pack=1, eval_pack=4)
    assert len(first) > 0 and routed_logs() == first and not any("side by side" in m for m in said), said
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "k" / "checkpoints").glob("*/adapter_model.safetensors")} \
        == trained
    assert len(rows) == 4 and not rows.duplicated(CELL_KEY).any() and (rows["status"] == "ok").all()
    assert sorted(rows["eval_pack"]) == [4, 4, 4, 4]


@pytest.mark.slow
def test_a_crash_in_the_middle_of_a_pack_leaves_whole_checkpoints_or_none(tiny_llama_dir, chat_records, tmp_path):
    """A pack interrupted after its first cell's checkpoint was published: that checkpoint is whole (manifest and
    all), the others are absent, nothing half-written is left; training the rest again (as a resumed sweep does,
    alone or in a smaller pack) gives the adapter the pack would have given."""
    hyper = hypers()[0].model_copy(update={"max_steps": 2})

    def finalize(path, stats):
        if path.parent.name.startswith(".c1"):
            raise KeyboardInterrupt  # Ctrl-C while the second cell is being published
        (path / "manifest.json").write_text("{}")

    cells = [PackedCell(cell_data(chat_records, i), tmp_path / f"c{i}", hyper.model_copy(update={"seed": i}),
                        finalize=finalize) for i in range(3)]
    with pytest.raises(KeyboardInterrupt):
        train_packed(str(tiny_llama_dir), cells, "cpu")
    assert (tmp_path / "c0" / "manifest.json").is_file() and (tmp_path / "c0" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "c1").exists() and not (tmp_path / "c2").exists()
    assert not list(tmp_path.glob(".*tmp-*"))
    rest = [PackedCell(c.records, tmp_path / "again" / c.out.name, c.hyper) for c in cells[1:]]
    again = train_packed(str(tiny_llama_dir), rest, "cpu")
    whole = train_packed(str(tiny_llama_dir), [PackedCell(c.records, tmp_path / "whole" / c.out.name, c.hyper)
                                              for c in cells], "cpu")
    for (out, _), (ref, _) in zip(again, whole[1:]):
        ours, theirs = load_file(out / "adapter_model.safetensors"), load_file(ref / "adapter_model.safetensors")
        for key in theirs:
            torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_padded_batches_pack_too(tiny_llama_dir, chat_records, tmp_path):
    """packing=False (padded batches with an attention mask): the same equality with finetune."""
    hyper = hypers()[1].model_copy(update={"packing": False, "max_steps": 2})
    cells = [PackedCell(cell_data(chat_records, i), tmp_path / "p" / f"c{i}", hyper.model_copy(update={"seed": i}))
             for i in range(2)]
    for cell, (out, stats) in zip(cells, train_packed(str(tiny_llama_dir), cells, "cpu")):
        ref_out, ref = finetune(str(tiny_llama_dir), cell.records, tmp_path / "a" / cell.out.name, cell.hyper, "cpu")
        assert stats["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-5)
        ours, theirs = load_file(out / "adapter_model.safetensors"), load_file(ref_out / "adapter_model.safetensors")
        for key in theirs:
            torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "mixed"])
def test_the_merged_form_packs_as_it_trains_alone(tiny_llama_dir, chat_records, tmp_path, precision):
    """lora_merged=True (what finetune uses on CUDA): each cell's rows train through its own W + s·B·A
    (MultiLoRA.spans) and match finetune's merged form alone: in fp32 to rounding; under bf16 autocast, where PEFT's
    form and the merged one round differently (the packed-vs-alone gap first seen on an H100), nearer the merged form
    alone than PEFT's form alone is (seen on this model, 3 steps: lora_B 2.0-2.3% from the one, 8.1-8.6% from the
    other; Adam turns rounding in near-zero gradients into whole updates, so neither distance is zero)."""
    def b_distance(ours, theirs):
        return max(float((ours[k] - theirs[k]).norm() / theirs[k].norm()) for k in theirs if "lora_B" in k)

    hyper = hypers()[0].model_copy(update={"max_steps": 3, "lora_merged": True, "precision": precision})
    cells = [PackedCell(cell_data(chat_records, i), tmp_path / "p" / f"c{i}", hyper.model_copy(update={"seed": i}))
             for i in range(2)]
    for cell, (out, stats) in zip(cells, train_packed(str(tiny_llama_dir), cells, "cpu")):
        assert stats["lora_merged"] is True
        ref_out, ref = finetune(str(tiny_llama_dir), cell.records, tmp_path / "a" / cell.out.name, cell.hyper, "cpu")
        assert ref["lora_merged"] is True
        ours, theirs = load_file(out / "adapter_model.safetensors"), load_file(ref_out / "adapter_model.safetensors")
        if precision == "fp32":
            assert stats["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-5)
            assert b_distance(ours, theirs) <= 1e-4
            continue
        assert stats["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-3)
        peft_out, _ = finetune(str(tiny_llama_dir), cell.records, tmp_path / "peft" / cell.out.name,
                               cell.hyper.model_copy(update={"lora_merged": False}), "cpu")
        other = load_file(peft_out / "adapter_model.safetensors")
        assert b_distance(ours, theirs) < 0.5 * b_distance(ours, other)


def test_cells_of_two_lora_forms_do_not_pack(tmp_path):
    h = hypers()[0]
    assert "differ in lora_merged" in pack_refusal([
        PackedCell([], tmp_path / "a", h), PackedCell([], tmp_path / "b", h.model_copy(update={"lora_merged": True}))])


def test_concat_pads_on_the_batches_own_device():
    """The padding a narrower cell's batch gets is made on that batch's device: on a GPU the loaders' batches are
    already there and a CPU fill failed torch.cat (the first H100 run of benchmarks/packed.py). The meta device
    stands in for CUDA here."""
    import torch

    from training.packed import _concat

    def batch(width: int) -> dict:
        return {"input_ids": torch.zeros(2, width, dtype=torch.long, device="meta"),
                "labels": torch.zeros(2, width, dtype=torch.long, device="meta"),
                "position_ids": torch.zeros(2, width, dtype=torch.long, device="meta")}

    out, spans = _concat([batch(5), batch(3)], pad_id=0)
    assert spans == [(0, 2), (2, 4)]
    assert all(v.device.type == "meta" and v.shape == (4, 5) for v in out.values())


def test_a_sweep_chooses_the_lora_form_of_its_runs_and_old_runs_keep_their_fingerprint(tmp_path):
    """train.lora_merged reaches every LoRA run's hyperparameters (alone or packed: the pack takes its cells' form),
    never a full fine-tune's; unset, a config keeps the fingerprint it had before the field existed."""
    from caught.config import SweepConfig
    from caught.sweep import Sweep
    from training.sft import uses_merged_lora

    base = {"name": "r", "scenarios": ["trigger"], "ks": [0, 2], "methods": ["lora", "full"]}
    unset = SweepConfig(**base)
    assert unset.train.hyper("lora").lora_merged is None
    assert uses_merged_lora(unset.train.hyper("lora"), "cuda") and not uses_merged_lora(unset.train.hyper("lora"), "cpu")
    peft = SweepConfig(**base, train={"lora_merged": False})
    assert not uses_merged_lora(peft.train.hyper("lora"), "cuda")
    merged = SweepConfig(**base, train={"lora_merged": True})
    assert uses_merged_lora(merged.train.hyper("lora"), "cpu") and merged.train.hyper("full").lora_merged is None
    assert len({unset.fingerprint(), peft.fingerprint(), merged.fingerprint()}) == 3
    assert "lora_merged" not in unset.settings()["train"] and peft.settings()["train"]["lora_merged"] is False
    sweep = Sweep(peft, runs_dir=tmp_path)
    cell = {"scenario": "trigger", "behavior": "hate", "seed": 0, "k": 2, "method": "lora", "training": "adversarial"}
    args = sweep._train_args(cell, {"organism": "o", "caught_n": 2})
    assert args["hyper"].lora_merged is False
