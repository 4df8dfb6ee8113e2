"""The statistics module against reference implementations and published values."""

import math
import subprocess
import sys

import numpy as np
import pytest

from scorers.stats import (
    hierarchical_bootstrap,
    mcnemar_exact,
    mean_interval,
    paired_ratio_bootstrap,
    ratio_interval,
    seeds_interval,
    t_interval,
    two_proportion_diff,
    wilson,
)

Z95 = 1.959963984540054


def test_wilson_known_values():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = wilson(100, 100)
    assert lo == pytest.approx(0.9630, abs=1e-4) and hi == 1.0


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="between 0 and n=3"):
        wilson(4, 3)
    assert wilson(0, 0) == (0.0, 1.0)


def test_importing_stats_does_not_import_scipy():
    code = "import sys, scorers.stats; assert 'scipy' not in sys.modules; assert 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- t_interval / mean_interval ----


@pytest.mark.parametrize(
    "values",
    [[0.1, 0.3, 0.2], [0.5, 0.52, 0.61, 0.4, 0.55], [1.0, 2.0], np.linspace(0, 1, 17).tolist()],
)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(values, confidence):
    from scipy import stats

    arr = np.asarray(values)
    ref_lo, ref_hi = stats.t.interval(confidence, df=arr.size - 1, loc=arr.mean(), scale=stats.sem(arr))
    mean, lo, hi = t_interval(values, confidence)
    assert mean == pytest.approx(arr.mean())
    assert lo == pytest.approx(ref_lo, rel=1e-12) and hi == pytest.approx(ref_hi, rel=1e-12)


def test_t_interval_edge_cases():
    assert all(math.isnan(v) for v in t_interval([]))
    assert all(math.isnan(v) for v in t_interval([float("nan")]))
    mean, lo, hi = t_interval([0.4])
    assert mean == 0.4 and math.isnan(lo) and math.isnan(hi)
    # NaNs are dropped, not propagated
    assert t_interval([0.1, float("nan"), 0.3, 0.2]) == pytest.approx(t_interval([0.1, 0.3, 0.2]))
    assert t_interval([0.3, 0.3, 0.3]) == (0.3, 0.3, 0.3)
    with pytest.raises(ValueError, match="confidence"):
        t_interval([0.1, 0.2], confidence=95)


@pytest.mark.parametrize("values", [[0.1, 0.3, 0.2], [0.42, 0.47, 0.51], [0.0, 0.05, 0.2], [0.8, 0.9, 0.95]])
def test_three_seeds_interval_is_wider_than_their_range(values):
    """The old failure mode: a bootstrap over three seeds reports about [min, max], far too narrow."""
    _, lo, hi = t_interval(values)
    assert lo < min(values) and hi > max(values)


def test_mean_interval_is_the_t_interval_over_items():
    scores = [1.0, 0.5, 0.0, 1.0, 1.0, 0.75, 0.25]
    assert mean_interval(scores) == pytest.approx(t_interval(scores))
    assert mean_interval([0.5, float("nan"), 1.0]) == pytest.approx(t_interval([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\].*1\.5"):
        mean_interval([0.5, 1.5])


# ---- hierarchical_bootstrap ----


def _organisms(rates, n_samples, seed):
    rng = np.random.default_rng(seed)
    return [(rng.random(n_samples) < r).astype(int).tolist() for r in rates]


def test_seeds_interval_keeps_the_within_cell_noise_when_seeds_agree():
    """Three seeds with the same retained misalignment (each its own Katz interval): the t interval has zero width,
    the floor is scipy's normal interval of the mean of three independent estimates with the seeds' errors."""
    from scipy import stats

    cells = [ratio_interval(30, 100, 60, 100)] * 3  # 0.5 retained in every seed
    mean, lo, hi = seeds_interval([c[0] for c in cells], [c[1] for c in cells], [c[2] for c in cells])
    assert t_interval([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)  # what the report showed before
    se = (cells[0][2] - cells[0][1]) / (2 * Z95)
    ref = stats.norm.interval(0.95, loc=0.5, scale=math.sqrt(3 * se**2) / 3)
    assert mean == pytest.approx(0.5) and (lo, hi) == (pytest.approx(ref[0], rel=1e-12), pytest.approx(ref[1], rel=1e-12))
    assert hi - lo > 0.1


def test_seeds_interval_is_the_t_interval_when_the_seeds_spread_more():
    from scipy import stats

    values, los, his = [0.2, 0.6, 1.1, 0.4], [0.18, 0.55, 1.0, 0.35], [0.22, 0.65, 1.2, 0.45]
    mean, lo, hi = seeds_interval(values, los, his)
    ref = stats.t.interval(0.95, df=3, loc=np.mean(values), scale=stats.sem(values))
    assert (lo, hi) == (pytest.approx(ref[0], rel=1e-12), pytest.approx(ref[1], rel=1e-12))
    # a seed without its own interval adds nothing to the floor; one seed keeps its own interval
    assert seeds_interval([0.5, 0.5], [0.3, float("nan")], [0.7, float("nan")])[2] == pytest.approx(
        0.5 + Z95 * (0.4 / (2 * Z95)) / 2)
    assert seeds_interval([0.5], [0.3], [0.7]) == (0.5, 0.3, 0.7)
    assert all(math.isnan(x) for x in seeds_interval([], [], []))
    with pytest.raises(ValueError, match="equally long"):
        seeds_interval([0.5, 0.4], [0.3], [0.7])


def test_hierarchical_bootstrap_is_deterministic_for_a_seed():
    groups = _organisms([0.1, 0.3, 0.5, 0.2, 0.4, 0.6], 40, seed=1)
    first = hierarchical_bootstrap(groups, n_boot=500, seed=3)
    assert hierarchical_bootstrap(groups, n_boot=500, seed=3) == first
    assert hierarchical_bootstrap(groups, n_boot=500, seed=4) != first
    mean, lo, hi = first
    assert mean == pytest.approx(np.mean([np.mean(g) for g in groups]))
    assert lo < mean < hi


def test_hierarchical_bootstrap_covers_the_true_mean():
    true_rates = [0.15, 0.25, 0.35, 0.3, 0.2, 0.4, 0.1, 0.25]
    covered = 0
    for rep in range(20):
        _, lo, hi = hierarchical_bootstrap(_organisms(true_rates, 60, seed=100 + rep), n_boot=800, seed=rep)
        covered += lo <= np.mean(true_rates) <= hi
    assert covered >= 17  # nominal 95%: 19 of 20 expected


def test_hierarchical_bootstrap_weights_organisms_equally():
    groups = [[1] * 10, [0] * 100, [0] * 100, [0] * 100, [0] * 100]
    mean, _, _ = hierarchical_bootstrap(groups, n_boot=50)
    assert mean == pytest.approx(0.2)  # not the pooled 10/410


def test_hierarchical_bootstrap_refuses_four_organisms():
    with pytest.raises(ValueError, match="at least 5 organisms, got 4"):
        hierarchical_bootstrap(_organisms([0.1, 0.2, 0.3, 0.4], 20, seed=0))
    with pytest.raises(ValueError, match="organism"):
        hierarchical_bootstrap([[0, 1], [1], [], [0], [1]])
    with pytest.raises(ValueError, match="0/1"):
        hierarchical_bootstrap([[0, 1], [1], [2], [0], [1]])


def test_hierarchical_bootstrap_is_wider_than_a_flat_bootstrap_when_organisms_differ():
    groups = _organisms([0.02, 0.05, 0.9, 0.1, 0.85, 0.5, 0.03, 0.7], 100, seed=7)
    _, lo, hi = hierarchical_bootstrap(groups, n_boot=2000, seed=0)
    pooled = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    rng = np.random.default_rng(0)
    flat = pooled[rng.integers(0, pooled.size, size=(2000, pooled.size))].mean(axis=1)
    flat_lo, flat_hi = np.quantile(flat, [0.025, 0.975])
    assert hi - lo > 3 * (flat_hi - flat_lo)


# ---- ratio_interval (Katz log interval) ----


def test_ratio_interval_matches_hand_computed_katz():
    ratio, lo, hi = ratio_interval(30, 100, 60, 100)
    se = math.sqrt(1 / 30 - 1 / 100 + 1 / 60 - 1 / 100)
    assert ratio == pytest.approx(0.5)
    assert lo == pytest.approx(math.exp(math.log(0.5) - Z95 * se), rel=1e-12)
    assert hi == pytest.approx(math.exp(math.log(0.5) + Z95 * se), rel=1e-12)
    assert (lo, hi) == (pytest.approx(0.3560, abs=1e-4), pytest.approx(0.7022, abs=1e-4))


def test_ratio_interval_unequal_sizes_and_ratio_above_one():
    ratio, lo, hi = ratio_interval(20, 50, 10, 80)
    se = math.sqrt(1 / 20 - 1 / 50 + 1 / 10 - 1 / 80)
    assert ratio == pytest.approx(3.2)
    assert (lo, hi) == (pytest.approx(3.2 * math.exp(-Z95 * se)), pytest.approx(3.2 * math.exp(Z95 * se)))
    assert lo > 1.0


def test_ratio_interval_zero_after_uses_continuity_correction():
    ratio, lo, hi = ratio_interval(0, 100, 40, 100)
    se = math.sqrt(1 / 0.5 - 1 / 101 + 1 / 40.5 - 1 / 101)
    assert ratio == 0.0 and lo == 0.0
    assert hi == pytest.approx((0.5 / 101) / (40.5 / 101) * math.exp(Z95 * se))
    assert 0.0 < hi < 1.0


def test_ratio_interval_zero_before_is_nan():
    assert all(math.isnan(v) for v in ratio_interval(5, 100, 0, 100))
    assert all(math.isnan(v) for v in ratio_interval(0, 0, 3, 10))
    with pytest.raises(ValueError, match="between 0 and its n=10"):
        ratio_interval(11, 10, 3, 10)


# ---- paired_ratio_bootstrap ----


def _paired(n, p_before, p_keep, seed):
    rng = np.random.default_rng(seed)
    before = (rng.random(n) < p_before).astype(int)
    after = before * (rng.random(n) < p_keep)  # training removes some attacks, adds none
    return before, after


def test_paired_ratio_bootstrap_deterministic_and_contains_point():
    before, after = _paired(300, 0.4, 0.5, seed=2)
    first = paired_ratio_bootstrap(before, after, n_boot=1000, seed=5)
    assert paired_ratio_bootstrap(before, after, n_boot=1000, seed=5) == first
    assert paired_ratio_bootstrap(before, after, n_boot=1000, seed=6) != first
    ratio, lo, hi = first
    assert ratio == pytest.approx(after.mean() / before.mean())
    assert lo < ratio < hi
    assert 0.0 <= lo and hi <= 1.0  # after never exceeds before here, so no resample ratio does


def test_paired_ratio_bootstrap_is_narrower_than_unpaired_katz():
    """Pairing keeps the before/after correlation, so the paired interval beats treating runs as independent."""
    before, after = _paired(400, 0.5, 0.5, seed=3)
    _, lo, hi = paired_ratio_bootstrap(before, after, n_boot=2000)
    _, klo, khi = ratio_interval(int(after.sum()), 400, int(before.sum()), 400)
    assert hi - lo < khi - klo


def test_paired_ratio_bootstrap_nan_handling():
    assert all(math.isnan(v) for v in paired_ratio_bootstrap([0, 0, 0], [1, 0, 1]))
    assert all(math.isnan(v) for v in paired_ratio_bootstrap([], []))
    # one positive among 20 pairs: P(resample misses it) = (19/20)^20 ~ 0.36, under half -> an interval
    before = [1] + [0] * 19
    ratio, lo, hi = paired_ratio_bootstrap(before, before, n_boot=500)
    assert ratio == 1.0 and (lo, hi) == (1.0, 1.0)


def test_paired_ratio_bootstrap_reports_nan_when_most_resamples_are_skipped(monkeypatch):
    import scorers.stats as st

    class _Rng:
        """Every resample but the first third draws only pair 1 (before 0), so two thirds are skipped."""

        def integers(self, low, high, size):
            out = np.ones(size, dtype=int)
            out[: size[0] // 3] = 0
            return out

    monkeypatch.setattr(np.random, "default_rng", lambda seed: _Rng())
    ratio, lo, hi = st.paired_ratio_bootstrap([1, 0], [1, 0], n_boot=300)
    assert ratio == 1.0 and math.isnan(lo) and math.isnan(hi)


def test_paired_ratio_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="equal length.*3 and 2"):
        paired_ratio_bootstrap([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="after must hold only 0/1"):
        paired_ratio_bootstrap([1, 0], [1, 0.5])


# ---- holm ----


@pytest.mark.parametrize("seed", range(6))
def test_holm_matches_statsmodels(seed):
    from statsmodels.stats.multitest import multipletests

    from scorers.stats import holm

    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=int(rng.integers(1, 30))).tolist()
    p[0] = p[-1]  # ties
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), rel=1e-12)


def test_holm_hand_computed_keeps_nan_out_of_the_family_and_refuses_bad_p():
    from scorers.stats import holm

    # m = 3 (the NaN does not count), sorted 0.01, 0.03, 0.04: 0.01*3 = 0.03; 0.03*2 = 0.06; max(0.06, 0.04*1) = 0.06
    out = holm([0.04, float("nan"), 0.01, 0.03])
    assert out[0] == pytest.approx(0.06) and math.isnan(out[1]) and out[2] == pytest.approx(0.03)
    assert out[3] == pytest.approx(0.06)
    assert holm([0.9, 0.8]) == [1.0, 1.0] and holm([]) == []
    with pytest.raises(ValueError, match=r"\[0, 1\]; got 1\.5"):
        holm([0.1, 1.5])


# ---- mcnemar_exact ----


@pytest.mark.parametrize("b,c", [(0, 5), (3, 3), (10, 2), (1, 9), (25, 14), (40, 0), (7, 8), (1, 0)])
def test_mcnemar_exact_matches_statsmodels(b, c):
    from statsmodels.stats.contingency_tables import mcnemar

    a, d = 12, 30  # concordant cells do not enter the exact test
    before = [1] * a + [1] * b + [0] * c + [0] * d
    after = [1] * a + [0] * b + [1] * c + [0] * d
    result = mcnemar_exact(before, after)
    table = [[a, b], [c, d]]
    assert result["b"] == b and result["c"] == c and result["n_discordant"] == b + c
    assert result["n"] == a + b + c + d
    assert result["p"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-10)


def test_mcnemar_exact_hand_computed():
    # b=1, c=5: two-sided exact p = 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * (1 + 6) / 64 = 0.21875
    before = [1, 0, 0, 0, 0, 0, 1, 0]
    after = [0, 1, 1, 1, 1, 1, 1, 0]
    assert mcnemar_exact(before, after) == {"b": 1, "c": 5, "n_discordant": 6, "n": 8, "p": 0.21875}
    # 8 fixed, 0 broken: p = 2 / 2**8
    assert mcnemar_exact([1] * 8, [0] * 8)["p"] == pytest.approx(2 / 256)


def test_mcnemar_exact_no_discordant_pairs_and_bad_input():
    result = mcnemar_exact([1, 0, 1], [1, 0, 1])
    assert result["n_discordant"] == 0 and result["p"] == 1.0
    assert mcnemar_exact(np.array([True, False]), np.array([True, False]))["p"] == 1.0
    with pytest.raises(ValueError, match="equal length.*3 and 2"):
        mcnemar_exact([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match=r"before must hold only 0/1.*2\.0"):
        mcnemar_exact([1, 2], [1, 0])


# ---- two_proportion_diff (Newcombe method 10) ----


def test_newcombe_published_example():
    """Newcombe (1998) Table II, example (a): 56/70 - 48/80 = 0.2, method 10 interval 0.0524 to 0.3339."""
    diff, lo, hi = two_proportion_diff(56, 70, 48, 80)
    assert diff == pytest.approx(0.2)
    assert (lo, hi) == (pytest.approx(0.0524, abs=5e-5), pytest.approx(0.3339, abs=5e-5))


def test_newcombe_other_published_examples():
    """Newcombe (1998) Table II, examples (b) 9/10 - 3/10 and (d) 5/56 - 0/29, method 10."""
    _, lo, hi = two_proportion_diff(9, 10, 3, 10)
    assert (lo, hi) == (pytest.approx(0.1705, abs=5e-5), pytest.approx(0.8090, abs=5e-5))
    _, lo, hi = two_proportion_diff(5, 56, 0, 29)
    assert (lo, hi) == (pytest.approx(-0.0381, abs=5e-5), pytest.approx(0.1926, abs=5e-5))


def test_two_proportion_diff_edges():
    assert two_proportion_diff(0, 50, 0, 50)[0] == 0.0
    d, lo, hi = two_proportion_diff(3, 40, 30, 40)
    assert d == pytest.approx(-0.675) and -1.0 <= lo < d < hi < 0
    assert all(math.isnan(v) for v in two_proportion_diff(0, 0, 0, 5))


def test_ratio_interval_is_not_a_point_when_a_rate_is_one():
    """200/200 after vs 200/200 before: the Katz formula's variance vanishes; the corrected bounds keep width."""
    r, lo, hi = ratio_interval(200, 200, 200, 200)
    assert r == 1.0 and lo < 1.0 < hi and hi - lo > 0.01
    r, lo, hi = ratio_interval(150, 200, 200, 200)
    assert r == 0.75 and lo < 0.75 < hi


def test_trend_interval_recovers_a_known_slope_and_its_correlation():
    import numpy as np

    from scorers.stats import trend_interval

    rng = np.random.default_rng(0)
    groups = []
    for x in (0.5, 0.6, 0.7, 0.8, 0.9):
        xs = x + rng.normal(scale=0.01, size=5)
        groups.append((xs, 1.0 - 0.8 * xs + rng.normal(scale=0.02, size=5)))
    t = trend_interval(groups, n_boot=500)
    assert t["groups"] == 5 and t["slope"] == pytest.approx(-0.8, abs=0.1) and t["slope_lo"] < t["slope"] < t["slope_hi"]
    assert t["r"] < -0.95 and t["r_hi"] < -0.8
    # the point estimates are those of the groups' means (numpy's least squares and correlation as reference)
    mx = np.array([np.mean(x) for x, _ in groups])
    my = np.array([np.mean(y) for _, y in groups])
    assert t["slope"] == pytest.approx(np.polyfit(mx, my, 1)[0]) and t["r"] == pytest.approx(np.corrcoef(mx, my)[0, 1])
    flat = trend_interval([([0.5] * 3, [1.0, 0.9, 0.8]), ([0.7] * 3, [0.9, 0.95, 0.85]), ([0.9] * 3, [0.9, 0.8, 1.0])],
                          n_boot=200)
    assert flat["slope_lo"] < 0 < flat["slope_hi"]  # no trend: the interval straddles 0
    with pytest.raises(ValueError, match="at least 3 groups"):
        trend_interval([([1.0], [1.0]), ([2.0], [2.0])])
