"""Novel extremes: a feature leaving the range it has kept for weeks.

Most operational incidents first show as a value (or its step, or its wobble) that the series has
not reached for a long time; a record that breaks a long-held range is rare under normal running,
so it is a strong, scale-free signal that needs no per-series threshold.
"""

from __future__ import annotations

from detectors._state import restore_state, state_reduce


class RangeBreak:
    """The range of one feature over roughly the last ``horizon`` samples, and breaks of it.

    The horizon is kept as ``n_blocks`` block minima and maxima, so memory stays constant and an
    old extreme is forgotten a block at a time (a spike a season ago does not blind the detector
    for ever).

    Parameters
    ----------
    horizon
        Samples the range covers (about; the oldest block leaves whole).
    n_blocks
        Blocks the horizon is split into.
    two_sided
        Whether new lows count as breaks too (for a step size or a spread only highs matter).

    Examples
    --------
    >>> rb = RangeBreak()
    >>> for v in [1.0, 3.0, 2.0, 2.5]:
    ...     rb.learn(v)
    >>> rb.excess(2.0), rb.excess(4.0), rb.excess(0.0)
    (0.0, 0.5, 0.5)
    >>> short = RangeBreak(horizon=4, n_blocks=2)
    >>> for v in [100.0, 1.0, 2.0, 1.0, 1.0, 2.0]:
    ...     short.learn(v)
    >>> short.excess(3.0)  # the 100 has been forgotten
    1.0
    """

    _STATE = ("horizon", "n_blocks", "two_sided", "_block_len", "_blocks", "_cur_lo", "_cur_hi", "_cur_n", "lo", "hi")

    def __init__(self, horizon: int = 16_384, n_blocks: int = 16, two_sided: bool = True):
        self.horizon = horizon
        self.n_blocks = n_blocks
        self.two_sided = two_sided
        self._block_len = max(1, horizon // n_blocks)
        self._blocks: list[tuple[float, float]] = []  # (lo, hi) of completed blocks, oldest first
        self._cur_lo = self._cur_hi = None
        self._cur_n = 0
        self.lo: float | None = None
        self.hi: float | None = None

    def excess(self, x: float) -> float:
        """How far ``x`` lies outside the range, as a fraction of the range (0 inside it)."""
        if self.hi is None:
            return 0.0
        hi, lo = self.hi, self.lo
        rng = hi - lo
        if rng <= 0.0:
            return 0.0
        if x > hi:
            return (x - hi) / rng
        if self.two_sided and x < lo:
            return (lo - x) / rng
        return 0.0

    def learn(self, x: float) -> None:
        # the bounds are read once into locals (plain numbers when compiled) and written back only
        # when x moves them, which is rare
        if self._cur_n == 0:
            self._cur_lo = self._cur_hi = x
        else:
            cur_lo, cur_hi = self._cur_lo, self._cur_hi
            if x < cur_lo:
                self._cur_lo = x
            if x > cur_hi:
                self._cur_hi = x
        self._cur_n += 1
        if self.hi is None:
            self.lo = self.hi = x
        else:
            lo, hi = self.lo, self.hi
            if x < lo:
                self.lo = x
            if x > hi:
                self.hi = x
        if self._cur_n >= self._block_len:
            self._blocks.append((self._cur_lo, self._cur_hi))
            self._cur_n = 0
            if len(self._blocks) >= self.n_blocks:
                self._blocks.pop(0)
                # the oldest block left: the range is what the remaining blocks saw
                self.lo = min([b[0] for b in self._blocks])
                self.hi = max([b[1] for b in self._blocks])

    def __reduce__(self):
        return state_reduce(self)

    def __setstate__(self, state: dict) -> None:
        restore_state(self, state)
