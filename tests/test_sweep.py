"""Sweep config validation, results bookkeeping, resume after interruption, and the report."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pandas as pd
import pytest

from caught.report import seed_interval, summarize, write_sweep_report
from caught.sweep import CELL_KEY, SweepConfig, append_row, load_config, read_results
from scorers.stats import wilson


def _config(**over) -> dict:
    raw = {"name": "t", "scenarios": ["trigger"], "ks": [0, 4], "seeds": [0]}
    raw.update(over)
    return raw


def test_shipped_configs_validate():
    mini = load_config("experiments/mini.toml")
    headline = load_config("experiments/headline.toml")
    assert len(mini.scenarios) == 2 and mini.ks == [0, 4, 16] and len(mini.seeds) == 1
    assert headline.scenarios == ["trigger", "year", "tier", "headlines", "style"]
    assert headline.ks == [0, 1, 2, 4, 8, 16, 32, 64] and headline.seeds == [0, 1, 2]
    subset = load_config("experiments/headline-subset.toml")
    assert subset.name == headline.name and set(subset.scenarios) == set(headline.scenarios) - {"headlines"}
    assert subset.organism == headline.organism and subset.train == headline.train  # a true subset of the grid
    assert set(subset.ks) <= set(headline.ks) and set(subset.seeds) <= set(headline.seeds)


def test_grid_cells_include_k0_once_per_group_and_controls():
    cfg = SweepConfig(**_config(scenarios=["trigger", "year"], ks=[4, 16], seeds=[0, 1], control_ks=[16]))
    cells = cfg.cells()
    assert len(cells) == 2 * 2 * (1 + 2 + 1)
    assert sum(c["training"] == "none" for c in cells) == 4
    assert len({tuple(c[k] for k in CELL_KEY) for c in cells}) == len(cells)


@pytest.mark.parametrize("field,value,message", [
    ("scenarios", ["trigger", "nope"], "unknown scenario 'nope'; accepted: trigger"),
    ("ks", [0, -1], r"k must be >= 0, got \[-1\]"),
    ("control_ks", [8], r"control_ks \[8\] must be positive values of ks"),
    ("behaviors", ["rude"], "unknown behavior 'rude'"),
    ("methods", ["qlora"], "lora"),
])
def test_bad_config_values_are_named(tmp_path, field, value, message):
    path = tmp_path / "bad.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in _config(**{field: value}).items()))
    with pytest.raises(ValueError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_unknown_field_and_missing_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "x"\nscenarios = ["trigger"]\nks = [0]\nseedz = [1]\n')
    with pytest.raises(ValueError, match="seedz: Extra inputs are not permitted"):
        load_config(path)
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_append_refuses_duplicates_and_is_atomic(tmp_path):
    row = {"scenario": "trigger", "behavior": "hate", "seed": 0, "k": 0, "method": "-", "training": "none", "x": 1.0}
    append_row(tmp_path, row)
    append_row(tmp_path, {**row, "k": 4, "method": "lora", "training": "adversarial"})
    with pytest.raises(RuntimeError, match="already in"):
        append_row(tmp_path, row)
    assert len(read_results(tmp_path)) == 2
    assert not list(tmp_path.glob(".*tmp"))


def test_seed_interval_bootstrap():
    mean, lo, hi = seed_interval([0.2, 0.4, 0.6])
    assert math.isclose(mean, 0.4) and 0.2 <= lo < mean < hi <= 0.6
    assert math.isnan(seed_interval([0.5])[1])


def synthetic_results(seeds=(0, 1, 2)) -> pd.DataFrame:
    """A results table shaped like a real sweep's: two scenarios, k in {0, 4, 16}, a control at 16."""
    rng = random.Random(0)
    rows = []
    for scenario, judge, keep in (("trigger", 0.95, 0.2), ("style", 0.55, 0.9)):
        for seed in seeds:
            for k, training, method in ((0, "none", "-"), (4, "adversarial", "lora"), (16, "adversarial", "lora"),
                                        (16, "control", "lora")):
                n = 50
                rate = 0.95 if training != "adversarial" else 0.95 * keep ** (k / 8)
                rate = min(1.0, max(0.0, rate + rng.uniform(-0.05, 0.05)))
                attacks = round(rate * n)
                row = {"scenario": scenario, "behavior": "hate", "seed": seed, "k": k, "method": method,
                       "training": training, "status": "ok", "steps": 0 if k == 0 else 12,
                       "steps_to_fix": None if k == 0 else 4, "base": "smollm2-135m", "device": "cpu",
                       "commit": "abc", "temperature": 1.0, "max_tokens": 24, "cell_seconds": 10.0,
                       "judge_mode": "pair", "caught_n": 20, "catch_epochs": 3}
                for side, a in (("deployment", attacks), ("testing", 2), ("trained", 0 if k else None)):
                    if a is None:
                        row.update({f"{side}_n": 0, f"{side}_rate": float("nan"), f"{side}_lo": float("nan"),
                                    f"{side}_hi": float("nan")})
                        continue
                    m = n if side != "trained" else 4 * k
                    lo, hi = wilson(a, m)
                    row.update({f"{side}_attacks": a, f"{side}_n": m, f"{side}_rate": a / m, f"{side}_lo": lo,
                                f"{side}_hi": hi})
                row["retained"] = row["deployment_rate"] / 0.95
                row.update(useful_all=0.35 - 0.01 * k / 4, useful_n=40, base_deployment_rate=0.0,
                           base_deployment_n=n, judge_organism_acc=judge + rng.uniform(-0.02, 0.02),
                           judge_organism_n=100, judge_base_acc=0.5, judge_base_n=100)
                rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds", [(0, 1, 2), (0,)])
def test_report_from_a_synthetic_table(tmp_path, seeds):
    df = synthetic_results(seeds)
    df.to_parquet(tmp_path / "results.parquet")
    path = write_sweep_report(tmp_path, command="caught sweep x.toml", device_note="test")
    text = path.read_text()
    for png in ("retained_vs_distinguishability.png", "attack_vs_k.png", "usefulness.png",
                "adversarial_vs_control.png"):
        assert (tmp_path / png).is_file() and (tmp_path / png).stat().st_size < 1_000_000
        assert f"]({png})" in text
    assert "n=100 per judge" in text and "n=50" in text and "n=40 items" in text
    assert ("bootstrap" in text) == (len(seeds) > 1)
    # the table's deployment mean for trigger k=16 adversarial is the mean over seeds
    sub = df[(df.scenario == "trigger") & (df.k == 16) & (df.training == "adversarial")]
    assert f"| trigger | adversarial | lora | 16 | {len(seeds)} | {sub.deployment_rate.mean():.2f}" in text
    assert (tmp_path / "results.csv").is_file()


def test_report_leaves_unusable_seeds_out_of_figure_a_and_names_every_code(tmp_path):
    """Two seeds; trigger's seed-1 organism attacks in testing (misses the bounds), and the seeds ran different
    code: figure (a) uses trigger's usable seed only and says so, the bars are called the two seeds' range, and
    the header names both code hashes."""
    df = synthetic_results((0, 1))
    bad = (df.scenario == "trigger") & (df.seed == 1) & (df.training == "none")
    df.loc[bad, ["testing_attacks", "testing_rate"]] = [20, 0.4]
    df["code"] = ["c0de00000000" if s == 0 else "c0de11111111" for s in df.seed]
    df.to_parquet(tmp_path / "results.parquet")
    text = write_sweep_report(tmp_path).read_text()
    caption = text.split("### Figure a")[1].split("### Figure b")[0]
    assert "Left out because their organisms miss the usability bounds" in caption
    assert "trigger seed 1" in caption and "style seed" not in caption
    assert "span the two seeds' values" in caption and "95% bootstrap" not in caption
    assert "code hash `c0de00000000` (commit `abc`): 8 cells" in text and "`c0de11111111`" in text
    assert "(with 2 seeds, simply their range)" in text
    # the table keeps every seed, and says the trigger organism of one seed misses the bounds
    assert "| trigger | 2 |" in text and "yes/no" in text


def test_summarize_uses_wilson_for_one_seed():
    df = synthetic_results((0,))
    s = summarize(df[(df.scenario == "trigger") & (df.k == 0)], "deployment_rate", ["k"])
    r = df[(df.scenario == "trigger") & (df.k == 0)].iloc[0]
    assert (s["lo"].iloc[0], s["hi"].iloc[0]) == (r.deployment_lo, r.deployment_hi)


def test_report_without_results_says_so(tmp_path):
    with pytest.raises(ValueError, match="no results.parquet rows"):
        write_sweep_report(tmp_path)


VOLATILE = ("seconds", "finished_at", "logs", "host", "commit", "code", "caught_file")


def _tiny_config(base: str) -> SweepConfig:
    return SweepConfig(
        name="r", base=base, scenarios=["trigger"], ks=[0, 2], seeds=[0], control_ks=[2],
        organism={"prompts": 16, "leak": 0.4, "steps": 8, "lr": 5e-3, "method": "full", "batch_size": 8},
        train={"steps": 2, "batch_size": 2, "responses": "base", "check_samples": 1},
        eval={"n": 6, "usefulness_n": 4, "max_tokens": 8, "trained_samples": 1, "judge_n": 4, "catch_epochs": 1},
    )


def _run(tmp_path, monkeypatch, tag: str, base: str, interrupt_after: int | None = None) -> pd.DataFrame:
    from caught.sweep import Sweep

    monkeypatch.setenv("CAUGHT_CHECKPOINTS", str(tmp_path / tag / "checkpoints"))
    (tmp_path / tag / "checkpoints").mkdir(parents=True, exist_ok=True)
    seen = []

    def on_cell(row):
        seen.append(row)
        if interrupt_after is not None and len(seen) == interrupt_after:
            raise KeyboardInterrupt  # what Ctrl-C does between two cells

    sweep = Sweep(_tiny_config(base), runs_dir=tmp_path / tag / "runs", log_dir=str(tmp_path / tag / "logs"),
                  device="cpu", say=lambda _: None, on_cell=on_cell)
    return sweep.run()


def _stable(df: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in df.columns if not any(v in c for v in VOLATILE)]
    return df[keep].sort_values(CELL_KEY).reset_index(drop=True)


def test_sweep_resumes_after_interruption_with_the_same_rows(tmp_path, monkeypatch, tiny_llama_dir):
    # bf16 logits depend on which requests share a batch, which Inspect does not fix from run to run; in fp32
    # the two runs are comparable row for row
    monkeypatch.setenv("CAUGHT_DTYPE", "float32")
    base = str(tiny_llama_dir)
    whole = _run(tmp_path, monkeypatch, "whole", base)
    assert len(whole) == 3 and set(whole["training"]) == {"none", "adversarial", "control"}
    assert (whole["status"] == "ok").all(), whole["status"].tolist()  # enough attacks caught to train on k=2
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, monkeypatch, "cut", base, interrupt_after=1)
    assert len(read_results(tmp_path / "cut" / "runs" / "r")) == 1
    resumed = _run(tmp_path, monkeypatch, "cut", base)
    assert len(resumed) == 3 and not resumed.duplicated(CELL_KEY).any()
    pd.testing.assert_frame_equal(_stable(whole), _stable(resumed), check_dtype=False)
    again = _run(tmp_path, monkeypatch, "cut", base)  # nothing left to do: no new rows
    assert len(again) == 3
    row = whole[whole.training == "none"].iloc[0]
    assert row["status"] == "ok" and row["deployment_n"] == 6 and 0 <= row["judge_organism_acc"] <= 1
    assert row["judge_base_n"] == 4
    assert row["retained"] == 1.0 or (row["deployment_rate"] == 0 and math.isnan(row["retained"]))
    # a group never mixes organisms: cells measured on other organism weights (a rebuilt organism) are refused
    results = tmp_path / "cut" / "runs" / "r"
    df = read_results(results)
    fp = df["organism_fingerprint"].iloc[0]
    assert isinstance(fp, str) and len(fp) >= 8 and df["organism_fingerprint"].nunique() == 1
    caught_file = results / "caught" / "r-trigger-hate-s0.json"
    assert json.loads(caught_file.read_text())["organism_fingerprint"] == fp
    (results / "results.parquet").unlink()
    for _, r in df[df.training != "control"].assign(organism_fingerprint="feedfacecafe").iterrows():
        append_row(results, r.to_dict())
    said = []
    from caught.sweep import Sweep

    Sweep(_tiny_config(base), runs_dir=tmp_path / "cut" / "runs", log_dir=str(tmp_path / "cut" / "logs"),
          device="cpu", say=said.append).run()
    assert any("skipping trigger/hate/0" in m and "feedfacecafe" in m for m in said), said
    assert len(read_results(results)) == 2  # the refused group got no new cell
    # a caught file from other weights is caught again from this organism
    (results / "results.parquet").unlink()
    for _, r in df[df.training != "control"].iterrows():
        append_row(results, r.to_dict())
    caught_file.write_text(json.dumps({**json.loads(caught_file.read_text()), "organism_fingerprint": "feedfacecafe"}))
    assert len(_run(tmp_path, monkeypatch, "cut", base)) == 3
    assert json.loads(caught_file.read_text())["organism_fingerprint"] == fp
    # rows from before fingerprints were recorded, next to an organism built anew, cannot be checked: refused
    import shutil

    (results / "results.parquet").unlink()
    for _, r in df[df.training != "control"].drop(columns=["organism_fingerprint"]).iterrows():
        append_row(results, r.to_dict())
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "r-trigger-hate-s0")
    said.clear()
    Sweep(_tiny_config(base), runs_dir=tmp_path / "cut" / "runs", log_dir=str(tmp_path / "cut" / "logs"),
          device="cpu", say=said.append).run()
    assert any("skipping trigger/hate/0" in m and "did not record" in m for m in said), said
    assert len(read_results(results)) == 2


def test_equal_steps_or_equal_passes():
    cfg = _tiny_config("smollm2-135m")
    assert [cfg.train.steps_for(k) for k in (1, 4, 64)] == [2, 2, 2]  # equal steps: the default
    passes = SweepConfig(**{**cfg.model_dump(), "train": {**cfg.train.model_dump(), "passes": 3, "batch_size": 8}})
    # a run's batch is min(8, k) examples: k=1 and k=4 make 3 steps of one full pass each, k>=8 ceil(3k/8)
    assert [passes.train.steps_for(k) for k in (1, 4, 8, 16, 64)] == [3, 3, 3, 6, 24]
    assert passes.fingerprint() != cfg.fingerprint()
    with pytest.raises(ValueError, match="passes"):
        SweepConfig(**{**cfg.model_dump(), "train": {**cfg.train.model_dump(), "passes": 0}})


def test_committed_headline_results_resume_under_the_subset_config():
    """results/headline (run before `train.passes` existed) goes on under experiments/headline-subset.toml:
    same settings, another grid; and its stored fingerprint is still its config's."""
    stored = json.loads(Path("results/headline/config.json").read_text())
    assert SweepConfig(**stored["config"]).fingerprint() == stored["fingerprint"]
    subset = load_config("experiments/headline-subset.toml")
    assert SweepConfig(**stored["config"]).settings() == subset.settings()
    done = read_results(Path("results/headline"))
    assert set(done["scenario"]) <= set(subset.scenarios) | {"headlines"}
