"""A rolling z-score detector, the simplest useful baseline."""

from __future__ import annotations

import math

from river import stats, utils

from detectors.base import Detector, Explanation, read_value_and_ts


class RollingZScore(Detector):
    """Scores how far a value sits from the recent mean, in standard deviations, squashed to [0, 1].

    Parameters
    ----------
    window_size
        Number of recent samples the mean and spread are computed over.
    warmup
        Samples to see before scoring anything above 0.
    z_full
        The z-score that maps to a likelihood of about 0.99.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> det = RollingZScore()
    >>> for _ in range(200):
    ...     x = {"value": 20 + rng.gauss(0, 0.5)}
    ...     _ = det.score_one(x); det.learn_one(x)
    >>> det.score_one({"value": 20.2}) < 0.5
    True
    >>> det.score_one({"value": 35.0}) > 0.99
    True
    """

    # a frozen sensor sits at the mean, which is exactly what a z-score calls normal
    detects = frozenset({"spike", "level_shift", "drift", "variance_change"})

    def __init__(self, window_size: int = 240, warmup: int = 30, z_full: float = 6.0):
        self.window_size = window_size
        self.warmup = warmup
        self.z_full = z_full
        self._mean = utils.Rolling(stats.Mean, window_size=window_size)
        self._var = utils.Rolling(stats.Var, window_size=window_size)
        self._n = 0

    def learn_one(self, x: dict) -> None:
        v, _ = read_value_and_ts(x)
        if math.isfinite(v):
            self._mean.update(v)
            self._var.update(v)
            self._n += 1

    def _z(self, v: float) -> float:
        sd = math.sqrt(max(self._var.get(), 0.0))
        mean = self._mean.get()
        scale = max(sd, 1e-3 * max(abs(mean), 1.0))
        return abs(v - mean) / scale

    def score_one(self, x: dict) -> float:
        v, _ = read_value_and_ts(x)
        if self._n < self.warmup or not math.isfinite(v):
            return 0.0
        z = self._z(v)
        # logistic squash centred at half of z_full, so z_full maps to ~0.99
        k = 2 * math.log(99) / self.z_full
        return 1.0 / (1.0 + math.exp(-k * (z - self.z_full / 2)))

    def expected_one(self, x: dict) -> float | None:
        return self._mean.get() if self._n else None

    def explain_one(self, x: dict) -> Explanation:
        v, _ = read_value_and_ts(x)
        return Explanation("level", v, self._mean.get() if self._n else None, self.score_one(x))
