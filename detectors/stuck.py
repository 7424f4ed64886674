"""Stuck sensor: a reading that repeats for far longer than this series has ever repeated.

A frozen probe or a dead gateway keeps sending its last value. Runs of identical readings are
normal for coarse sensors, so the run is judged against the longest run seen before, not a fixed
length.
"""

from __future__ import annotations

from detectors._state import restore_state, state_reduce


class StuckRun:
    """Fires once when the current run of equal values outgrows every earlier run.

    Parameters
    ----------
    min_run
        Shortest run that can count as stuck.
    growth
        How many times longer than the longest earlier run the current run must become.

    Examples
    --------
    >>> st = StuckRun(min_run=5)
    >>> for v in [1.0, 2.0, 2.0, 3.0, 1.0, 4.0]:
    ...     st.learn(v)
    >>> hits = []
    >>> for _ in range(8):
    ...     hits.append(st.crossing(7.0)); st.learn(7.0)
    >>> hits.index(True), sum(hits)
    (5, 1)
    """

    _STATE = ("min_run", "growth", "_last", "_run", "_longest")

    def __init__(self, min_run: int = 6, growth: float = 2.0):
        self.min_run = min_run
        self.growth = growth
        self._last: float | None = None
        self._run = 0  # repeats of the last value beyond its first reading
        self._longest = 0

    def _limit(self) -> float:
        return max(self.min_run, self.growth * self._longest)

    def run_if(self, v: float) -> int:
        """Length the run would have if ``v`` were appended."""
        if self._last is None:
            return 0
        last = self._last  # a plain number when compiled
        return self._run + 1 if v == last else 0

    def crossing(self, v: float) -> bool:
        """Whether ``v`` makes the run cross the stuck limit (true once per run)."""
        run = self.run_if(v)
        limit = self._limit()
        return run >= limit > run - 1

    def learn(self, v: float) -> None:
        run = self.run_if(v)
        if run == 0:
            # a run that ended is what repetition looks like here (a plateau that recurs daily)
            self._longest = max(self._longest, self._run)
        self._run = run
        self._last = v

    def __reduce__(self):
        return state_reduce(self)

    def __setstate__(self, state: dict) -> None:
        restore_state(self, state)
