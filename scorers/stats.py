"""The project's statistics: every interval a reported number carries comes from here.

Where does a sweep row get its interval?

- A rate over samples (attack rate, refusal rate, catch rate of one run): `wilson(successes, n)`,
  the Wilson score interval of a binomial proportion.
- A number across seeds or organisms (one value per seed, e.g. the attack rate of each of five seeds):
  `t_interval(values)`, the Student t interval of the mean with n-1 degrees of freedom. Never the range
  of the values: with three seeds [min, max] is far too narrow (it covers the mean only 75% of the time).
- A rate across organisms that keeps the per-sample outcomes: `hierarchical_bootstrap(groups)`,
  resampling organisms and then samples within each organism (needs at least 5 organisms).
- Retained misalignment from counts of two independent runs (rate after training / rate before):
  `ratio_interval(a, n_a, b, n_b)`, the Katz log (delta method) interval of a ratio of two proportions.
- A mean over seeds of per-seed estimates that carry their own interval (retained misalignment, a
  teacher-forced score): `seeds_interval(values, los, his)`, the t interval over the seeds never narrower than
  the within-cell sampling noise (the normal interval of the mean of the seeds' own standard errors), so seeds
  that happen to agree do not show a zero-width interval.
- Retained misalignment on paired data (the same prompts and sample seeds scored before and after):
  `paired_ratio_bootstrap(before, after)`, a bootstrap over the pairs.
- Did training change the outcome on paired data: `mcnemar_exact(before, after)`, the exact McNemar
  test on the discordant pairs.
- Many such tests read together (every McNemar test of a report's table): `holm(pvalues)`, Holm's step-down
  adjustment, so that "p < 0.05" holds for the family of tests at once (family-wise error), not for each alone.
- A usefulness score that is a mean of per-item scores in [0, 1]: `mean_interval(values)`, the t
  interval over items.
- An unpaired difference of two rates (adversarial framing vs control, organism vs base model):
  `two_proportion_diff(a, n_a, b, n_b)`, Newcombe's hybrid score interval (his method 10).
- How one figure moves with another across scenarios (retained misalignment against distinguishability):
  `trend_interval(groups)`, the least-squares slope and Pearson r of the groups' means, each with a bootstrap
  interval that resamples the seeds within every group (the groups themselves are the design, kept fixed).
- How well a score tells two classes apart (a probe's or a judge's testing/deployment score):
  `auroc_interval(scores, labels, clusters)`, the AUROC with a bootstrap over clusters (the underlying
  requests: both framings of a request are resampled together, as they are not independent).

All functions are pure; the bootstraps are seeded (numpy Generator) and deterministic. numpy and scipy
are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

NAN = float("nan")
MIN_ORGANISMS = 5  # the project's rule: a hierarchical bootstrap needs at least 5 organisms


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for `successes` out of `n` (returns (0, 1) when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")


def _z(confidence: float) -> float:
    """Two-sided standard normal quantile for `confidence` (1.95996... for 0.95)."""
    _check_confidence(confidence)
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


def _check_count(name: str, k: int, n: int) -> None:
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"{name} must be between 0 and its n={n}, got {k}")


def _binary(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """`values` as a 1-d float array of 0/1 outcomes (bools are fine); anything else is a ValueError."""
    import numpy as np

    arr = np.asarray(values, dtype=float).ravel()
    bad = arr[(arr != 0.0) & (arr != 1.0)]
    if bad.size:
        shown = ", ".join(repr(float(v)) for v in bad[:5])
        raise ValueError(f"{name} must hold only 0/1 outcomes, got {bad.size} other value(s): {shown}")
    return arr


def _percentile_interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    import numpy as np

    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Student t interval of the mean of `values` (one value per seed or organism), n-1 df.

    Returns (mean, lo, hi). NaNs are dropped first; no values left gives (nan, nan, nan) and a single
    value v gives (v, nan, nan): one seed has no spread to estimate. Values that are all equal give a
    zero-width interval (mean, mean, mean).
    """
    import numpy as np

    _check_confidence(confidence)
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[~np.isnan(arr)]
    n = arr.size
    if n == 0:
        return NAN, NAN, NAN
    mean = float(arr.mean())
    if n == 1:
        return mean, NAN, NAN
    sem = float(arr.std(ddof=1)) / math.sqrt(n)
    if sem == 0.0:
        return mean, mean, mean
    from scipy import stats

    half = float(stats.t.ppf((1.0 + confidence) / 2.0, df=n - 1)) * sem
    return mean, mean - half, mean + half


def seeds_interval(
    values: Sequence[float] | np.ndarray,
    los: Sequence[float] | np.ndarray,
    his: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Mean over m seeds of per-seed estimates, each with its own `confidence` interval (lo_i, hi_i), e.g. each
    seed's retained misalignment with its Katz interval (ratio_interval).

    The interval is the Student t interval over the seeds (t_interval), widened where needed to the within-cell
    floor mean +- z * sqrt(sum se_i^2) / m: the normal interval of the mean of m independent estimates whose
    standard errors se_i = (hi_i - lo_i) / (2z) are read from their own intervals (the delta method's standard
    error for a symmetric interval; for a Katz log interval the half-width over z, a slight overestimate). Seeds
    agreeing by chance then keep their sampling noise instead of a zero-width interval. A seed without an interval
    (nan) adds nothing to the floor. Returns (mean, lo, hi); one value gives its own interval, none (nan, nan, nan).
    Unequal lengths are a ValueError.
    """
    import numpy as np

    _check_confidence(confidence)
    v, lo_, hi_ = (np.asarray(x, dtype=float).ravel() for x in (values, los, his))
    if not v.size == lo_.size == hi_.size:
        raise ValueError(f"values, los and his must be equally long, got {v.size}, {lo_.size} and {hi_.size}")
    keep = ~np.isnan(v)
    v, lo_, hi_ = v[keep], lo_[keep], hi_[keep]
    if v.size == 0:
        return NAN, NAN, NAN
    if v.size == 1:
        return float(v[0]), float(lo_[0]), float(hi_[0])
    mean, lo, hi = t_interval(v, confidence)
    z = _z(confidence)
    se = (hi_ - lo_) / (2 * z)
    se = se[~np.isnan(se)]
    if se.size:
        half = z * math.sqrt(float((se ** 2).sum())) / v.size
        lo, hi = min(lo, mean - half), max(hi, mean + half)
    return mean, lo, hi


def mean_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Interval for a usefulness score that is the mean of per-item scores in [0, 1].

    The t interval over items, with the same contract as `t_interval` (NaNs dropped; empty gives nan;
    one item gives (v, nan, nan)). Scores outside [0, 1] are a ValueError.
    """
    import numpy as np

    arr = np.asarray(values, dtype=float).ravel()
    finite = arr[~np.isnan(arr)]
    bad = finite[(finite < 0.0) | (finite > 1.0)]
    if bad.size:
        shown = ", ".join(repr(float(v)) for v in bad[:5])
        raise ValueError(f"per-item scores must lie in [0, 1], got {bad.size} outside: {shown}")
    return t_interval(arr, confidence)


def hierarchical_bootstrap(
    groups: Sequence[Sequence[float]],
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Two-level bootstrap of a rate across organisms, from per-sample 0/1 outcomes.

    `groups` holds one list of 0/1 outcomes per organism. The statistic is the mean over organisms of
    each organism's rate (every organism weighs the same, whatever its sample count). Each of `n_boot`
    replicates draws organisms with replacement, then, within each drawn organism, its samples with
    replacement; the interval is the percentile interval of the replicates. Returns (mean, lo, hi).

    Needs at least 5 organisms (the project's rule; with fewer, the between-organism spread cannot be
    resampled meaningfully): fewer is a ValueError, as is an organism with no samples.
    """
    import numpy as np

    _check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    n_org = len(groups)
    if n_org < MIN_ORGANISMS:
        raise ValueError(
            f"hierarchical_bootstrap needs at least {MIN_ORGANISMS} organisms, got {n_org}; "
            "report per-organism Wilson intervals or a t_interval instead"
        )
    arrays = [_binary(f"organism {i}", g) for i, g in enumerate(groups)]
    empty = [i for i, a in enumerate(arrays) if a.size == 0]
    if empty:
        raise ValueError(f"every organism needs at least one sample; organism(s) {empty} have none")

    point = float(np.mean([a.mean() for a in arrays]))
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, n_org, size=(n_boot, n_org))  # level 1: organisms
    rates = np.empty((n_boot, n_org))
    for j, arr in enumerate(arrays):  # level 2: samples within each drawn copy of organism j
        slots = chosen == j
        k = int(slots.sum())
        if k:
            draws = rng.integers(0, arr.size, size=(k, arr.size))
            rates[slots] = arr[draws].mean(axis=1)
    lo, hi = _percentile_interval(rates.mean(axis=1), confidence)
    return point, lo, hi


def ratio_interval(
    a: int, n_a: int, b: int, n_b: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Retained misalignment (a/n_a) / (b/n_b): rate after training over rate before, with an interval.

    Two independent binomial proportions; `a` of `n_a` after, `b` of `n_b` before. The interval is the
    Katz log interval (delta method on the log ratio): log(ratio) +- z * sqrt(1/a - 1/n_a + 1/b - 1/n_b),
    exponentiated. Returns (ratio, lo, hi).

    - a = 0: the ratio is 0 and its log is undefined, so the upper bound uses a 0.5 continuity
      correction (Haldane-Anscombe: 0.5 added to every cell, i.e. a+0.5 of n_a+1 and b+0.5 of n_b+1);
      the lower bound is 0.
    - a = n_a or b = n_b (a rate of 1, where the Katz variance term vanishes and the interval would be a
      single point): the bounds use the same 0.5 correction, widened to contain the point estimate.
    - b = 0 (or an empty run): there was nothing to retain, so ratio and interval are nan.
    """
    _check_count("a", a, n_a)
    _check_count("b", b, n_b)
    z = _z(confidence)
    if n_a == 0 or n_b == 0 or b == 0:
        return NAN, NAN, NAN
    ratio = (a / n_a) / (b / n_b)
    if a == 0:
        ca, cna, cb, cnb = 0.5, n_a + 1.0, b + 0.5, n_b + 1.0
        corrected = (ca / cna) / (cb / cnb)
        se = math.sqrt(1 / ca - 1 / cna + 1 / cb - 1 / cnb)
        return 0.0, 0.0, corrected * math.exp(z * se)
    if a == n_a or b == n_b:  # a proportion of 1 has no variance in the Katz formula: the interval would be a point
        ca, cna, cb, cnb = a + 0.5, n_a + 1.0, b + 0.5, n_b + 1.0
        corrected = (ca / cna) / (cb / cnb)
        se = math.sqrt(1 / ca - 1 / cna + 1 / cb - 1 / cnb)
        return ratio, min(ratio, corrected * math.exp(-z * se)), max(ratio, corrected * math.exp(z * se))
    se = math.sqrt(1 / a - 1 / n_a + 1 / b - 1 / n_b)
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


def paired_ratio_bootstrap(
    before: Sequence[float] | np.ndarray,
    after: Sequence[float] | np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Retained misalignment mean(after) / mean(before) on paired 0/1 outcomes, with a bootstrap interval.

    `before[i]` and `after[i]` are the outcomes of the same prompt and sample seed before and after
    training. Each of `n_boot` replicates resamples the pair indices with replacement (keeping the
    pairing, so the correlation between before and after is kept); the interval is the percentile
    interval of the replicate ratios. Replicates whose before-mean is 0 have no ratio and are skipped;
    if more than half are skipped the interval is nan. A before-mean of 0 in the data itself gives
    (nan, nan, nan). Returns (ratio, lo, hi).
    """
    import numpy as np

    _check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    x = _binary("before", before)
    y = _binary("after", after)
    if x.size != y.size:
        raise ValueError(f"before and after must be paired (equal length), got {x.size} and {y.size}")
    n = x.size
    if n == 0 or x.sum() == 0:
        return NAN, NAN, NAN
    ratio = float(y.mean() / x.mean())

    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)  # bounds the index matrix to ~16 MB
    ratios = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        num = y[idx].sum(axis=1)
        den = x[idx].sum(axis=1)
        keep = den > 0
        ratios.append(num[keep] / den[keep])
    valid = np.concatenate(ratios)
    if n_boot - valid.size > n_boot / 2:
        return ratio, NAN, NAN
    lo, hi = _percentile_interval(valid, confidence)
    return ratio, lo, hi


def mcnemar_exact(before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray) -> dict:
    """Exact McNemar test: did the outcome change between before and after on the same pairs?

    b = pairs with before 1 and after 0 (fixed by training), c = before 0 and after 1 (newly broken).
    Under no change each discordant pair is b or c with probability 1/2, so p is the two-sided exact
    binomial test of b out of b + c (scipy.stats.binomtest); p = 1.0 with no discordant pairs.
    Returns {"b", "c", "n_discordant", "n", "p"}. Unequal lengths or non-0/1 values are a ValueError.
    """
    x = _binary("before", before)
    y = _binary("after", after)
    if x.size != y.size:
        raise ValueError(f"before and after must be paired (equal length), got {x.size} and {y.size}")
    b = int(((x == 1) & (y == 0)).sum())
    c = int(((x == 0) & (y == 1)).sum())
    n_disc = b + c
    if n_disc == 0:
        p = 1.0
    else:
        from scipy import stats

        p = float(stats.binomtest(b, n_disc, 0.5, alternative="two-sided").pvalue)
    return {"b": b, "c": c, "n_discordant": n_disc, "n": int(x.size), "p": p}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given: the i-th smallest of m p-values is
    multiplied by m - i + 1 (i from 1), made non-decreasing in that order, and capped at 1. Rejecting where the
    adjusted p is below alpha controls the family-wise error rate at alpha under any dependence between the tests.
    NaN entries (tests that could not run) are left NaN and do not count in m. A p outside [0, 1] is a ValueError."""
    values = [float(p) for p in pvalues]
    bad = [p for p in values if not math.isnan(p) and not 0 <= p <= 1]
    if bad:
        raise ValueError(f"holm: p-values must lie in [0, 1]; got {bad[0]!r}")
    order = sorted((p, i) for i, p in enumerate(values) if not math.isnan(p))
    m, out, running = len(order), [NAN] * len(values), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def two_proportion_diff(
    a: int, n_a: int, b: int, n_b: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Difference of two independent proportions a/n_a - b/n_b with Newcombe's hybrid score interval.

    Newcombe (1998), "Interval estimation for the difference between independent proportions", method
    10: with Wilson intervals (l1, u1) for p1 = a/n_a and (l2, u2) for p2 = b/n_b,
    lo = d - sqrt((p1 - l1)^2 + (u2 - p2)^2) and hi = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
    For unpaired comparisons such as adversarial framing vs control. Returns (diff, lo, hi); an empty
    group gives (nan, nan, nan).
    """
    _check_count("a", a, n_a)
    _check_count("b", b, n_b)
    z = _z(confidence)
    if n_a == 0 or n_b == 0:
        return NAN, NAN, NAN
    p1, p2 = a / n_a, b / n_b
    l1, u1 = wilson(a, n_a, z)
    l2, u2 = wilson(b, n_b, z)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(-1.0, lo), min(1.0, hi)


def auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve of `scores` for the 0/1 `labels` (ties count half): the probability that a
    random positive scores above a random negative. NaN when either class is missing."""
    import numpy as np
    from scipy.stats import rankdata

    x = np.asarray(scores, dtype=float)
    y = _binary("labels", labels)
    if x.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {x.size} and {y.size}")
    pos, neg = int(y.sum()), int(y.size - y.sum())
    if pos == 0 or neg == 0:
        return NAN
    ranks = rankdata(x)  # average ranks: ties count half (Mann-Whitney U)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def auroc_interval(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    clusters: Sequence | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """AUROC with a percentile bootstrap interval that resamples `clusters` (e.g. the underlying request of
    each testing/deployment pair, whose two framings are not independent); each sample its own cluster when
    None. Replicates missing a class are dropped. Returns (auroc, lo, hi)."""
    import numpy as np

    _check_confidence(confidence)
    x = np.asarray(scores, dtype=float)
    y = _binary("labels", labels)
    point = auroc(x, y)
    if math.isnan(point):
        return NAN, NAN, NAN
    ids = np.arange(x.size) if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    members = [np.flatnonzero(ids == c) for c in range(int(ids.max()) + 1)]
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        take = np.concatenate([members[c] for c in rng.integers(0, len(members), len(members))])
        value = auroc(x[take], y[take])
        if not math.isnan(value):
            stats.append(value)
    lo, hi = _percentile_interval(np.asarray(stats), confidence)
    return point, lo, hi


def trend_interval(
    groups: Sequence[tuple[Sequence[float], Sequence[float]]],
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    """Slope and Pearson r of y on x across groups (e.g. scenarios), from each group's per-seed (x, y) values.

    The point estimates use the groups' means; each bootstrap replicate redraws every group's seeds with
    replacement (pairs (x_i, y_i) together), recomputes the means, the slope and r. Needs at least 3 groups
    with at least one seed each. Returns {"slope", "slope_lo", "slope_hi", "r", "r_lo", "r_hi", "groups"}; r is
    NaN when the x or y means do not vary.
    """
    import numpy as np

    _check_confidence(confidence)
    data = [(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in groups]
    data = [(x, y) for x, y in data if x.size and x.size == y.size]
    if len(data) < 3:
        raise ValueError(f"a trend needs at least 3 groups with values, got {len(data)}")

    def fit(means: np.ndarray) -> tuple[float, float]:
        mx, my = means[:, 0], means[:, 1]
        sx, sy = mx - mx.mean(), my - my.mean()
        vx, vy = float((sx * sx).sum()), float((sy * sy).sum())
        slope = float((sx * sy).sum() / vx) if vx > 0 else NAN
        r = float((sx * sy).sum() / math.sqrt(vx * vy)) if vx > 0 and vy > 0 else NAN
        return slope, r

    point = fit(np.array([(x.mean(), y.mean()) for x, y in data]))
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        means = []
        for x, y in data:
            take = rng.integers(0, x.size, x.size)
            means.append((x[take].mean(), y[take].mean()))
        reps.append(fit(np.array(means)))
    reps = np.array(reps)
    out = {"slope": point[0], "r": point[1], "groups": len(data)}
    for i, name in enumerate(("slope", "r")):
        ok = reps[:, i][~np.isnan(reps[:, i])]
        lo, hi = _percentile_interval(ok, confidence) if ok.size else (NAN, NAN)
        out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi
    return out
