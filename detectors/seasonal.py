"""Seasonal profile: what a metric usually reads at this time of day (or of week).

Fridges defrost at night, tills peak at lunch, trucks rest on Sundays. A profile keyed by the
event's own timestamp (never the wall clock) turns those rhythms into an expected value, so the
residual, not the raw value, is what the other components judge.
"""

from __future__ import annotations

import math
from array import array

from detectors._state import restore_state, state_reduce


class SeasonalProfile:
    """Exponentially weighted mean and variance of a metric per time-of-period bucket.

    Parameters
    ----------
    period_s
        Length of the cycle in seconds (86 400 for daily, 604 800 for weekly).
    bucket_s
        Width of one bucket in seconds.
    alpha
        Weight of a new sample in its bucket's mean and variance.
    min_count
        Samples a bucket needs before it gives an expectation.

    Examples
    --------
    >>> prof = SeasonalProfile(period_s=86_400, bucket_s=3_600)
    >>> for day in range(5):
    ...     for hour in range(24):
    ...         prof.learn(10.0 + (5.0 if 8 <= hour < 18 else 0.0), day * 86_400 + hour * 3_600)
    >>> prof.expected(5 * 86_400 + 12 * 3_600), prof.expected(5 * 86_400 + 2 * 3_600)
    (15.0, 10.0)
    """

    _STATE = ("period_s", "bucket_s", "alpha", "min_count", "_n_buckets", "_mean", "_var", "_count")

    def __init__(self, period_s: float = 86_400.0, bucket_s: float = 3_600.0, alpha: float = 0.05,
                 min_count: int = 3):
        self.period_s = period_s
        self.bucket_s = bucket_s
        self.alpha = alpha
        self.min_count = min_count
        self._n_buckets = max(1, int(round(period_s / bucket_s)))
        # flat typed arrays: they pickle as raw bytes (fast, small) and the garbage collector never
        # walks them, which matters with a few hundred buckets for each of 100k entities
        self._mean = array("d", bytes(8 * self._n_buckets))
        self._var = array("d", bytes(8 * self._n_buckets))
        self._count = array("I", bytes(4 * self._n_buckets))  # 4 billion samples a bucket
        self._bind()

    def _bind(self) -> None:
        # the hot methods index these: the arrays themselves, or typed views of them when compiled
        self._mean_v, self._var_v, self._count_v = self._mean, self._var, self._count

    def bucket(self, ts: float) -> int:
        """The bucket ``ts`` falls in (the ``*_at`` methods take it, so a caller finds it once)."""
        k = int((ts % self.period_s) // self.bucket_s)
        return k % self._n_buckets

    def expected_at(self, b: int) -> float | None:
        return self._mean_v[b] if self._count_v[b] >= self.min_count else None

    def residual_z_at(self, b: int, v: float, floor: float) -> tuple[float, float | None]:
        if self._count_v[b] < self.min_count:
            return 0.0, None
        mean = self._mean_v[b]
        return abs(v - mean) / max(math.sqrt(self._var_v[b]), floor), mean

    def learn_at(self, b: int, v: float) -> None:
        if self._count_v[b] == 0:
            self._mean_v[b] = v
        else:
            a = self.alpha
            d = v - self._mean_v[b]
            self._mean_v[b] += a * d
            self._var_v[b] = (1.0 - a) * (self._var_v[b] + a * d * d)
        self._count_v[b] += 1

    def expected(self, ts: float | None) -> float | None:
        return None if ts is None else self.expected_at(self.bucket(ts))

    def residual_z(self, v: float, ts: float | None, floor: float) -> tuple[float, float | None]:
        """Distance of ``v`` from its bucket's mean in the bucket's standard deviations."""
        return (0.0, None) if ts is None else self.residual_z_at(self.bucket(ts), v, floor)

    def learn(self, v: float, ts: float | None) -> None:
        if ts is not None:
            self.learn_at(self.bucket(ts), v)

    def __reduce__(self):
        return state_reduce(self)

    def __setstate__(self, state: dict) -> None:
        restore_state(self, state)
        self._bind()
