"""Statistics for verdicts: paired bootstrap intervals and binomial (Wilson) intervals. numpy only.

The bootstrap uses a fixed generator, so the same runs always give the same report.
"""
from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_SAMPLES = 10_000


def bootstrap_mean_ci(values, confidence: float = 0.95, samples: int = BOOTSTRAP_SAMPLES,
                      seed: int = 0) -> tuple[float, float, float]:
    """Mean of `values` and its percentile-bootstrap interval. For paired designs pass the
    per-seed differences (arm - baseline with the same seed), which is the paired bootstrap.
    With one value, or identical values, the interval collapses onto the mean: no sampling
    variability was observed (deterministic problems), and the report says so with n."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to bootstrap")
    mean = float(v.mean())
    if v.size == 1 or np.all(v == v[0]):
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(samples, v.size))
    means = v[idx].mean(axis=1)
    alpha = 1 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return mean, float(lo), float(hi)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (good down to n of a few)."""
    if n == 0:
        return 0.0, 1.0
    from statistics import NormalDist
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
