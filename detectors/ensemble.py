"""The default opswatch detector: fires once, early, when a metric starts doing something new.

Where it sits: source -> validate -> **detect** -> incident -> rule -> sink. One instance per
metric, with the same configuration for a fridge, a truck and a till.

Components, each named by what it detects (``Explanation.component``):

- ``range``: the level (the value smoothed over about four samples), its step, its short-term
  spread, or its distance from the usual value at this time of day leaves the range that feature
  has kept for weeks (:class:`RangeBreak`). Level shifts, spikes, drifts and variance bursts all
  end up here, with no scale to configure. A break smaller than ``confirm_break`` of the range
  counts only when a second one follows closely (a record by a hair is usually noise), and the
  step and spread must beat their records by ``jump_break``;
- ``seasonal``: the distance from the hour-of-day profile (or the hour-of-week profile, whichever
  expected the value better), calibrated on the series' own tail of such distances
  (:class:`SeasonalProfile`, :class:`TailLikelihood`). Catches the dip at an hour when the metric
  is normally busy, which no range break sees. Needs ``x["ts"]``; without it this component is
  silent and the others still work;
- ``stuck``: the reading repeats far longer than it ever has (:class:`StuckRun`).

The strongest component gives the score. A range break or a stuck run scores at least 0.5, and
the seasonal likelihood reaches 0.5 at ``seasonal_decades`` decades of tail probability, so 0.5
is the one threshold for every series. Once the score reaches the threshold the detector stays
quiet (scores 0) for ``refractory`` samples while it keeps learning: an incident is raised once,
at its start, not at every sample of it.
"""

from __future__ import annotations

import math

from detectors._state import restore_state, state_reduce
from detectors.base import Detector, Explanation, read_value_and_ts
from detectors.likelihood import TailLikelihood
from detectors.range_break import RangeBreak
from detectors.seasonal import SeasonalProfile
from detectors.stuck import StuckRun

#: Score at and above which a sample is anomalous, for every series.
THRESHOLD = 0.5

_DAY_S = 86_400.0
_WEEK_S = 7 * _DAY_S
#: the detector's parameters (river reads them back from the attributes of the same names)
_PARAMS = ("warmup", "refractory", "threshold", "horizon", "confirm_break", "confirm_window", "jump_break",
           "break_scale", "seasonal_decades", "level_alpha", "spread_alpha")


class OnsetEnsemble(Detector):
    """Scores how new a metric's behaviour is, as a likelihood in [0, 1]; 0.5 means anomalous.

    Parameters
    ----------
    warmup
        Samples to learn from before any score leaves 0.
    refractory
        Samples to stay quiet for after a score reaches ``threshold``.
    threshold
        The score that raises an incident (and starts the refractory period).
    horizon
        Samples a remembered range covers (16 384 is about eight weeks at one sample per five
        minutes); older extremes are forgotten.
    confirm_break
        A range break smaller than this fraction of the range counts only when another break
        came within ``confirm_window`` samples before it: a record by a hair is usually noise.
    confirm_window
        Samples within which a small break must be confirmed.
    jump_break
        The step from one sample to the next and the short-term spread break their ranges only
        when they exceed them by this fraction: they are spikier than the level, so only a clear
        record of them is news.
    level_alpha
        Weight of a new sample in the smoothed level whose range and distance from the usual
        value are watched (0.25: about the last four samples).
    break_scale
        Range break (fraction of the range) that lifts the score from 0.5 to about 0.82.
    seasonal_decades
        Decades of tail probability of the seasonal distance that score 0.5.
    spread_alpha
        Weight of a new sample in the short-term spread.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(42)
    >>> det = OnsetEnsemble()
    >>> for i in range(2_000):
    ...     x = {"value": 4.0 + rng.gauss(0, 0.3), "ts": 1_700_000_000 + 300 * i}
    ...     _ = det.score_one(x); det.learn_one(x)
    >>> det.score_one({"value": 4.1, "ts": 1_700_600_000}) < THRESHOLD
    True
    >>> fault = {"value": 9.0, "ts": 1_700_600_000}
    >>> det.score_one(fault) >= THRESHOLD
    True
    >>> explanation = det.explain_one(fault)
    >>> explanation.component, round(explanation.expected, 1)
    ('seasonal', 4.0)
    """

    # it raises an incident once and then stays quiet by itself; refusing it the anomalous samples
    # would freeze its ranges and profiles, so every later sample of the incident would look new
    learn_anomalies = True
    _STATE = (*_PARAMS, "_state")

    def __init__(self, warmup: int = 150, refractory: int = 100, threshold: float = THRESHOLD,
                 horizon: int = 16_384, confirm_break: float = 0.05, confirm_window: int = 6,
                 jump_break: float = 0.5, break_scale: float = 0.1, seasonal_decades: float = 2.5,
                 level_alpha: float = 0.25, spread_alpha: float = 0.1):
        self.warmup = warmup
        self.refractory = refractory
        self.threshold = threshold
        self.horizon = horizon
        self.confirm_break = confirm_break
        self.confirm_window = confirm_window
        self.jump_break = jump_break
        self.break_scale = break_scale
        self.seasonal_decades = seasonal_decades
        self.level_alpha = level_alpha
        self.spread_alpha = spread_alpha
        self._state = OnsetState(warmup, refractory, threshold, horizon, confirm_break, confirm_window,
                                 jump_break, break_scale, seasonal_decades, level_alpha, spread_alpha)

    # -- river API: the state does the work ------------------------------------------------------

    def score_one(self, x: dict) -> float:
        return self._state.score_one(x)

    def expected_one(self, x: dict) -> float | None:
        return self._state.expected_one(x)

    def explain_one(self, x: dict) -> Explanation:
        return self._state.explain_one(x)

    def learn_one(self, x: dict) -> None:
        self._state.learn_one(x)

    def update(self, v: float, ts: float | None, threshold: float) -> tuple[float, float | None, str]:
        """Score, explain and learn one finite sample in one pass (see ``OnsetState.update``)."""
        return self._state.update(v, ts, threshold)

    def __reduce__(self):
        return state_reduce(self)

    def __setstate__(self, state: dict) -> None:
        if "_state" not in state:  # pickled before the state had a class of its own: its names, flat
            inner = OnsetState.__new__(OnsetState)
            inner.__setstate__(state)
            state = {name: state[name] for name in _PARAMS} | {"_state": inner}
        restore_state(self, state)


class OnsetState:
    """What ``OnsetEnsemble`` has learnt, and how it scores with it: the detector's hot path.

    Apart from the river-facing class so that it can be compiled: ``detectors/ensemble.pxd``
    declares every attribute, with C types for the numbers (see ``setup.py``).
    """

    _STATE = (*_PARAMS, "_value_range", "_step_range", "_spread_range", "_seasonal_range", "_stuck", "_spread_mean",
              "_spread_var", "_quarter_hour_profile", "_hour_of_day_profile", "_hour_of_week_profile",
              "_seasonal_tail", "_level", "_mean", "_prev", "_n", "_last_break", "_since_fire", "_cache",
              "_comp_cache", "_exp_cache")

    def __init__(self, warmup: int = 150, refractory: int = 100, threshold: float = THRESHOLD,
                 horizon: int = 16_384, confirm_break: float = 0.05, confirm_window: int = 6,
                 jump_break: float = 0.5, break_scale: float = 0.1, seasonal_decades: float = 2.5,
                 level_alpha: float = 0.25, spread_alpha: float = 0.1):
        self.warmup = warmup
        self.refractory = refractory
        self.threshold = threshold
        self.horizon = horizon
        self.confirm_break = confirm_break
        self.confirm_window = confirm_window
        self.jump_break = jump_break
        self.break_scale = break_scale
        self.seasonal_decades = seasonal_decades
        self.level_alpha = level_alpha
        self.spread_alpha = spread_alpha

        self._value_range = RangeBreak(horizon)
        self._step_range = RangeBreak(horizon, two_sided=False)
        self._spread_range = RangeBreak(horizon, two_sided=False)
        self._seasonal_range = RangeBreak(horizon, two_sided=False)
        self._stuck = StuckRun()
        # Welford-form exponentially weighted moments of our own: the score needs the spread
        # *including* the sample being scored, without learning it
        self._spread_mean = 0.0
        self._spread_var = 0.0
        self._quarter_hour_profile = SeasonalProfile(_DAY_S, bucket_s=900.0, alpha=0.1)
        self._hour_of_day_profile = SeasonalProfile(_DAY_S, bucket_s=3_600.0, alpha=0.05)
        self._hour_of_week_profile = SeasonalProfile(_WEEK_S, bucket_s=3_600.0, alpha=0.1,
                                                     min_count=6)
        self._seasonal_tail = TailLikelihood()
        self._level = 0.0  # the value smoothed over a few samples
        self._mean = 0.0  # slow mean: the expectation when no profile has one
        self._prev: float | None = None
        self._n = 0
        self._last_break = -(10**9)
        self._since_fire = refractory + 1
        self._cache: tuple | None = None
        self._comp_cache: tuple | None = None  # score_one, explain_one and learn_one share one scoring
        self._exp_cache: tuple | None = None

    # -- features, shared by scoring and learning ------------------------------------------------

    def _features(self, v: float, ts: float | None) -> tuple:
        key = (v, ts, self._n)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        step = abs(v - self._prev) if self._prev is not None else 0.0
        if self._n:
            a = self.spread_alpha
            d = v - self._spread_mean
            spread = math.sqrt((1.0 - a) * (self._spread_var + a * d * d))
        else:
            spread = 0.0
        # a level smoothed over a few samples: one noisy sample rarely sets a record, a shift does
        level = self._level + self.level_alpha * (v - self._level) if self._n else v
        usual = self._quarter_hour_profile.expected(ts)
        seasonal_distance = abs(level - usual) if usual is not None else None

        # surprising only if surprising against both the daily and the weekly rhythm
        floor = 1e-3 * max(abs(self._mean), 1e-6) + 1e-9
        z_seasonal, seasonal_expected = self._hour_of_day_profile.residual_z(v, ts, floor)
        z_week, week_expected = self._hour_of_week_profile.residual_z(v, ts, floor)
        if week_expected is not None and z_week < z_seasonal:
            z_seasonal, seasonal_expected = z_week, week_expected

        # steps and wobbles are spikier than levels: only a clear record of them counts
        step_brk = self._step_range.excess(step)
        spread_brk = self._spread_range.excess(spread)
        brk = max(self._value_range.excess(level),
                  step_brk if step_brk >= self.jump_break else 0.0,
                  spread_brk if spread_brk >= self.jump_break else 0.0)
        if seasonal_distance is not None:
            brk = max(brk, self._seasonal_range.excess(seasonal_distance))
        feats = (level, step, spread, seasonal_distance, z_seasonal, seasonal_expected, brk)
        self._cache = (key, feats)
        return feats

    def _expected(self, ts: float | None) -> float | None:
        key = (ts, self._n)
        if self._exp_cache is not None and self._exp_cache[0] == key:
            return self._exp_cache[1]
        usual = self._quarter_hour_profile.expected(ts)
        if usual is None:
            usual = self._mean if self._n else None
        self._exp_cache = (key, usual)
        return usual

    def _components(self, v: float, ts: float | None) -> tuple[str, float, float | None]:
        """(strongest component, its score, expected value), ignoring the refractory period."""
        key = (v, ts, self._n)
        if self._comp_cache is not None and self._comp_cache[0] == key:
            return self._comp_cache[1]
        result = self._components_uncached(v, ts)
        self._comp_cache = (key, result)
        return result

    def _components_uncached(self, v: float, ts: float | None) -> tuple[str, float, float | None]:
        _, _, _, _, z_seasonal, seasonal_expected, brk = self._features(v, ts)
        if self._n < self.warmup:
            return "warmup", 0.0, self._expected(ts)
        best, score, expected = "seasonal", 0.0, seasonal_expected
        if ts is not None:
            decades = self._seasonal_tail.decades(z_seasonal)
            score = min(1.0, 0.5 * decades / self.seasonal_decades)
        confirmed = brk >= self.confirm_break or self._n - self._last_break < self.confirm_window
        if brk > 0.0 and confirmed:
            s = 0.5 + 0.5 * (1.0 - math.exp(-brk / self.break_scale))
            if s > score:
                best, score, expected = "range", s, self._expected(ts)
        if score < 0.75 and self._stuck.crossing(v):
            best, score, expected = "stuck", 0.75, self._expected(ts)
        return best, score, expected

    def _quiet(self) -> bool:
        return self._since_fire <= self.refractory

    # -- river API ---------------------------------------------------------------------------------

    def score_one(self, x: dict) -> float:
        v, ts = read_value_and_ts(x)
        if not math.isfinite(v) or self._quiet():
            return 0.0
        return self._components(v, ts)[1]

    def expected_one(self, x: dict) -> float | None:
        return self._expected(read_value_and_ts(x)[1])

    def explain_one(self, x: dict) -> Explanation:
        v, ts = read_value_and_ts(x)
        if not math.isfinite(v):
            return Explanation("invalid", v, None, 0.0)
        component, score, expected = self._components(v, ts)
        if self._quiet():
            component, score = "refractory", 0.0
        return Explanation(component, v, expected, score)

    def update(self, v: float, ts: float | None, threshold: float) -> tuple[float, float | None, str]:
        """Score, explain and learn one finite sample in a single pass: the streaming hot path.

        Returns exactly what ``score_one``, then ``expected_one`` (or ``explain_one`` when the
        score reaches ``threshold``), then ``learn_one`` would give, for a third of the cost: the
        features are computed once and each profile's bucket is found once. ``tests/detectors/
        test_fused_update.py`` holds the two paths to the same scores and the same state.
        """
        n = self._n
        qh, hod, how = self._quarter_hour_profile, self._hour_of_day_profile, self._hour_of_week_profile
        # -- features (as _features) ---------------------------------------------------------------
        prev = self._prev
        step = abs(v - prev) if prev is not None else 0.0
        if n:
            a = self.spread_alpha
            d_spread = v - self._spread_mean
            spread = math.sqrt((1.0 - a) * (self._spread_var + a * d_spread * d_spread))
            level = self._level + self.level_alpha * (v - self._level)
        else:
            spread = 0.0
            level = v
        if ts is not None:
            b_qh, b_hod, b_how = qh.bucket(ts), hod.bucket(ts), how.bucket(ts)
            usual = qh.expected_at(b_qh)
            floor = 1e-3 * max(abs(self._mean), 1e-6) + 1e-9
            z_seasonal, seasonal_expected = hod.residual_z_at(b_hod, v, floor)
            z_week, week_expected = how.residual_z_at(b_how, v, floor)
            if week_expected is not None and z_week < z_seasonal:
                z_seasonal, seasonal_expected = z_week, week_expected
        else:
            usual = seasonal_expected = None
            z_seasonal = 0.0
        seasonal_distance = abs(level - usual) if usual is not None else None
        step_brk = self._step_range.excess(step)
        spread_brk = self._spread_range.excess(spread)
        jump = self.jump_break
        brk = max(self._value_range.excess(level), step_brk if step_brk >= jump else 0.0,
                  spread_brk if spread_brk >= jump else 0.0)
        if seasonal_distance is not None:
            brk = max(brk, self._seasonal_range.excess(seasonal_distance))
        expected_now = usual if usual is not None else (self._mean if n else None)

        # -- score (as score_one / _components) ---------------------------------------------------
        quiet = self._since_fire <= self.refractory
        if n < self.warmup:
            best, score, best_expected = "warmup", 0.0, expected_now
        else:
            best, score, best_expected = "seasonal", 0.0, seasonal_expected
            if ts is not None:
                score = min(1.0, 0.5 * self._seasonal_tail.decades(z_seasonal) / self.seasonal_decades)
            if brk > 0.0 and (brk >= self.confirm_break or n - self._last_break < self.confirm_window):
                s = 0.5 + 0.5 * (1.0 - math.exp(-brk / self.break_scale))
                if s > score:
                    best, score, best_expected = "range", s, expected_now
            if score < 0.75 and self._stuck.crossing(v):
                best, score, best_expected = "stuck", 0.75, expected_now
        s_out = 0.0 if quiet else score
        if s_out >= threshold:
            expected_out, component = best_expected, ("refractory" if quiet else best)
        else:
            expected_out, component = expected_now, "score"

        # -- learn (as learn_one) -----------------------------------------------------------------
        self._since_fire = 0 if s_out >= self.threshold else self._since_fire + 1
        if brk > 0.0 and n >= self.warmup:
            self._last_break = n
        if ts is not None and z_seasonal > 0.0:
            self._seasonal_tail.learn(z_seasonal)
        self._level = level
        self._value_range.learn(level)
        if prev is not None:
            self._step_range.learn(step)
        if n:
            self._spread_mean += a * d_spread
            self._spread_var = (1.0 - a) * (self._spread_var + a * d_spread * d_spread)
        else:
            self._spread_mean = v
        if n >= 10:
            self._spread_range.learn(spread)
        if seasonal_distance is not None:
            self._seasonal_range.learn(seasonal_distance)
        self._stuck.learn(v)
        if ts is not None:
            qh.learn_at(b_qh, v)
            hod.learn_at(b_hod, v)
            how.learn_at(b_how, v)
        self._mean = v if n == 0 else self._mean + 0.01 * (v - self._mean)
        self._prev = v
        self._n = n + 1
        self._cache = None
        return s_out, expected_out, component

    def learn_one(self, x: dict) -> None:
        v, ts = read_value_and_ts(x)
        if not math.isfinite(v):
            return  # a gap in the data teaches nothing
        score = self.score_one(x)
        self._since_fire = 0 if score >= self.threshold else self._since_fire + 1
        level, step, spread, seasonal_distance, z_seasonal, _, brk = self._features(v, ts)
        if brk > 0.0 and self._n >= self.warmup:
            self._last_break = self._n
        if ts is not None and z_seasonal > 0.0:
            self._seasonal_tail.learn(z_seasonal)

        self._level = level
        self._value_range.learn(level)
        if self._prev is not None:
            self._step_range.learn(step)
        if self._n:
            a = self.spread_alpha
            d = v - self._spread_mean
            self._spread_mean += a * d
            self._spread_var = (1.0 - a) * (self._spread_var + a * d * d)
        else:
            self._spread_mean = v
        if self._n >= 10:
            self._spread_range.learn(spread)
        if seasonal_distance is not None:
            self._seasonal_range.learn(seasonal_distance)
        self._stuck.learn(v)
        self._quarter_hour_profile.learn(v, ts)
        self._hour_of_day_profile.learn(v, ts)
        self._hour_of_week_profile.learn(v, ts)
        self._mean = v if self._n == 0 else self._mean + 0.01 * (v - self._mean)
        self._prev = v
        self._n += 1
        self._cache = None

    def __reduce__(self):
        return state_reduce(self)

    def __setstate__(self, state: dict) -> None:
        restore_state(self, state)
