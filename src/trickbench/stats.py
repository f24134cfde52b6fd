"""Statistics for verdicts: t intervals and t-test p-values of paired per-seed differences,
binomial (Wilson, Newcombe) intervals, exact and score tests of proportions, Holm's correction,
and the number of seeds a decision would need (the t-test's power, from statsmodels).

Why t and not the bootstrap: at the 3-5 seeds a tier can afford, a bootstrap mean cannot leave
the sample's range, so its interval covers at most 1 - 2^(1-n) (0.75 at n = 3) whatever its
nominal level, and its p-value floors at 1/resamples. The t interval is exact for normal
per-seed differences at every n >= 2 (tests/test_stats.py measures its coverage at n = 3, 4, 5).
"""
from __future__ import annotations

import math
import warnings
from statistics import NormalDist

import numpy as np

_N = NormalDist()
N_NEEDED_CAP = 1000   # above this many seeds an effect is "not decidable at this effect size"


def _no_spread(v: np.ndarray) -> bool:
    return v.size == 1 or bool(np.all(v == v[0]))


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values` and its two-sided t interval (pass the per-seed differences arm - baseline
    for a paired design). With one value, or identical values, the interval collapses onto the
    mean: no sampling variability was observed (deterministic problems), and the report says so."""
    from scipy.stats import t
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values for an interval")
    mean = float(v.mean())
    if _no_spread(v):
        return mean, mean, mean
    half = float(t.ppf(1 - (1 - confidence) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def resample_intervals(values, confidence: float = 0.95, draws: int = 2000, seed: int = 0):
    """t intervals (lo, hi) of `draws` resamples of `values` with replacement (same generator
    every time: the same runs give the same report), for a verdict's stability: how often the
    verdict would come out the same had these seeds been drawn again. A resample with no spread
    gets the zero-width interval at its mean, as mean_ci gives."""
    from scipy.stats import t
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return np.full(1, v.mean()), np.full(1, v.mean())
    idx = np.random.default_rng(seed).integers(0, v.size, size=(draws, v.size))
    x = v[idx]
    mean, sd = x.mean(axis=1), x.std(axis=1, ddof=1)
    half = t.ppf(1 - (1 - confidence) / 2, v.size - 1) * sd / math.sqrt(v.size)
    return mean - half, mean + half


def resample_counts(k: int, n: int, draws: int = 2000, seed: int = 0) -> np.ndarray:
    """Success counts of `draws` resamples of n runs with replacement, k of which succeeded (a
    resample of Bernoulli outcomes is a binomial draw): a rate verdict's stability."""
    return np.random.default_rng(seed).binomial(n, k / n if n else 0.0, size=draws)


def p_greater(values, threshold: float = 0.0) -> float:
    """One-sided t-test p-value of H0: mean <= threshold (scipy.stats.ttest_1samp). It agrees with
    `mean_ci`: the 95% interval's lower end exceeds the threshold exactly when p < 0.025. No
    spread: 0 if the mean exceeds the threshold, else 1."""
    from scipy.stats import ttest_1samp
    v = np.asarray(values, dtype=np.float64)
    if _no_spread(v):
        return 0.0 if float(v.mean()) > threshold else 1.0
    with warnings.catch_warnings():  # (scipy warns on near-identical values; the p-value is still right)
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_1samp(v, threshold, alternative="greater").pvalue)


def signflip_p_greater(values, threshold: float = 0.0, exact_max: int = 20, draws: int = 200_000) -> float:
    """One-sided sign-flip (paired permutation) p-value of H0: the differences are symmetric about
    `threshold`; no normality assumed. Its floor is 2^-n (1/8 at n = 3): a claim from three seeds
    cannot be significant without assuming a distribution, which the report says.

    Exact over all 2^n sign patterns up to n = `exact_max` (what scipy's permutation_test gives
    with n_resamples=inf, ties included the same way), in blocks of 2^16 patterns; beyond it, a
    seeded Monte Carlo estimate (1 + hits) / (1 + draws). scipy's exact enumeration holds every
    pattern in memory: 100 seeds (a synthetic claim's stochastic arm) took > 20 GB."""
    v = np.asarray(values, dtype=np.float64) - threshold
    if _no_spread(v + threshold):
        return 0.0 if float(v.mean()) > 0 else 1.0
    n, observed = v.size, float(v.mean())
    cut = observed - abs(np.finfo(np.float64).eps * 100 * observed)  # scipy's tolerance for ties
    if n <= exact_max:
        hits, total, block = 0, 2 ** n, 2 ** 16
        bits = np.arange(n)
        for start in range(0, total, block):
            idx = np.arange(start, min(start + block, total))
            signs = 1.0 - 2.0 * ((idx[:, None] >> bits) & 1)
            hits += int(np.count_nonzero((signs @ v) / n >= cut))
        return hits / total
    rng = np.random.default_rng(0)
    hits, left = 0, draws
    while left:
        k = min(left, 10_000)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(k, n))
        hits += int(np.count_nonzero((signs @ v) / n >= cut))
        left -= k
    return (1 + hits) / (1 + draws)


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    p = list(pvalues)
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def n_needed(sd: float, delta: float, alpha: float = 0.025, power: float = 0.8) -> int | None:
    """Seeds for a one-sided one-sample t-test at `alpha` to detect a mean `delta` away from the
    boundary with `power`, given the per-seed sd (statsmodels' TTestPower: the normal
    approximation says 8 where the t-test needs 10). None when delta <= 0 (the estimate is on the
    other side: more seeds would not make the claim more likely); N_NEEDED_CAP + 1 when more than
    N_NEEDED_CAP seeds would be needed (not decidable at this effect size)."""
    if delta <= 1e-12 * max(1.0, abs(sd)) or not math.isfinite(sd):  # (float noise counts as zero)
        return None
    if sd == 0:
        return 2
    d = delta / sd
    if ((_N.inv_cdf(1 - alpha) + _N.inv_cdf(power)) / d) ** 2 > N_NEEDED_CAP:  # t needs more than normal
        return N_NEEDED_CAP + 1
    from statsmodels.stats.power import TTestPower
    n = TTestPower().solve_power(effect_size=d, alpha=alpha, power=power, alternative="larger")
    n = max(2, math.ceil(float(np.atleast_1d(n)[0]) - 1e-9))
    return min(n, N_NEEDED_CAP + 1)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (good down to n of a few)."""
    if n == 0:
        return 0.0, 1.0
    z = _N.inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) of the difference p1 - p2 of two proportions."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def proportion_p_greater(k: int, n: int, value: float) -> float:
    """One-sided exact binomial p-value of H0: rate <= value."""
    from scipy.stats import binomtest
    if value <= 0:
        return 0.0 if k > 0 else 1.0
    if value >= 1:
        return 1.0
    return float(binomtest(k, n, value, alternative="greater").pvalue)


def two_proportion_p_greater(k1: int, n1: int, k2: int, n2: int, min_diff: float = 0.0) -> float:
    """One-sided p-value of H0: p1 - p2 <= min_diff. Fisher's exact test when min_diff is 0 (a
    normal approximation is far too small at 20 runs and rates near 0 or 1: 6/20 vs 1/20 gives
    0.014 against Fisher's 0.046); for a positive min_diff, the score test of Farrington and
    Manning (statsmodels' test_proportions_2indep, method "score"), not the Wald test, whose
    variance at the observed rates is zero when a rate is 0 or 1."""
    if min_diff == 0:
        from scipy.stats import fisher_exact
        return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="greater").pvalue)
    from statsmodels.stats.proportion import test_proportions_2indep
    with np.errstate(divide="ignore", invalid="ignore"):  # (its ratio/odds-ratio side outputs at a 0 rate)
        res = test_proportions_2indep(k1, n1, k2, n2, value=min_diff, method="score", compare="diff",
                                      alternative="larger")
    return float(res.pvalue)
