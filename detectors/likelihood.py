"""Tail likelihood: turns a component's raw surprise into a score that means the same everywhere.

A z-score of 6 is routine for a bursty network counter and unheard of for a cold room. Rather than
trust a Gaussian, each component's own history of surprises is kept, and its upper tail is modelled
as exponential above a fixed level (peaks over threshold, as in Siffer et al., 2017, "Anomaly
detection in streams with extreme value theory"). The score is the tail probability in decades,
so a noisy till and a quiet fridge share one threshold.
"""

from __future__ import annotations

import math

from detectors._state import restore_state, state_reduce

_LN10 = math.log(10.0)


class TailLikelihood:
    """How improbable a surprise is under the series' own tail, in decades of probability.

    Parameters
    ----------
    level
        Surprise above which the tail is modelled (surprises are z-scores, so 2 is already rare
        for well-behaved data and common for bursty data: the rate above it is learned).
    warmup
        Surprises to see before any probability is given.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> tail = TailLikelihood()
    >>> for _ in range(2_000):
    ...     tail.learn(abs(rng.gauss(0, 1)))
    >>> tail.decades(0.5)
    0.0
    >>> 1.0 < tail.decades(3.0) < tail.decades(6.0)
    True
    """

    _STATE = ("level", "warmup", "_n", "_rate_n", "_rate_mean", "_excess_n", "_excess_mean")

    def __init__(self, level: float = 2.0, warmup: int = 100):
        self.level = level
        self.warmup = warmup
        # two running means, updated as river's ``stats.Mean`` updates them (bit for bit), kept as
        # plain numbers so that the compiled hot path never calls back into Python:
        self._rate_n = self._rate_mean = 0.0  # fraction of surprises above the level
        self._excess_n = self._excess_mean = 0.0  # mean excess over the level: the tail's scale
        self._n = 0

    def decades(self, z: float) -> float:
        """-log10 of the probability of a surprise at least ``z``; 0 below the level."""
        if self._n < self.warmup or z <= self.level:
            return 0.0
        # one pseudo-exceedance keeps a tail never seen from meaning "impossible"
        rate = (self._rate_mean * self._n + 1.0) / (self._n + 1.0)
        scale = self._excess_mean if self._excess_n else 1.0
        return -math.log10(rate) + (z - self.level) / max(scale, 1e-9) / _LN10

    def learn(self, z: float) -> None:
        above = z > self.level
        self._rate_n += 1.0
        self._rate_mean += (1.0 / self._rate_n) * ((1.0 if above else 0.0) - self._rate_mean)
        if above:
            x = z - self.level
            self._excess_n += 1.0
            self._excess_mean += (1.0 / self._excess_n) * (x - self._excess_mean)
        self._n += 1

    def __reduce__(self):
        return state_reduce(self)

    def __setstate__(self, state: dict) -> None:
        if "_rate" in state:  # pickled when the two means were river ``stats.Mean`` objects
            state = dict(state)
            rate, excess = state.pop("_rate"), state.pop("_excess")
            state.update(_rate_n=rate.n, _rate_mean=rate.get(), _excess_n=excess.n, _excess_mean=excess.get())
        restore_state(self, state)
