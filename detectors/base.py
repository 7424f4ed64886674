"""Abstract pieces shared by every opswatch detector.

A detector scores first and learns second, so a score only ever uses samples before and at it.
The processing core relies on three things only: ``score_one`` returning a likelihood in
[0, 1] (the same meaning for a fridge, a truck and a till), ``learn_one``, and ``explain_one``
for the incident text.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

from river import base


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a detector scored a point as it did, for a person reading an incident."""

    component: str
    observed: float
    expected: float | None
    score: float

    def as_dict(self) -> dict:
        return {
            "component": self.component,
            "observed": self.observed,
            "expected": self.expected,
            "score": self.score,
        }


#: Fault kinds the contract test injects; a detector lists the ones it promises to catch.
FAULTS = frozenset({"spike", "level_shift", "drift", "variance_change", "stuck"})


class Detector(base.AnomalyDetector):
    """A univariate online detector whose score is a likelihood in [0, 1]."""

    #: Which injected faults must score higher than normal data (checked by the contract test).
    detects: frozenset[str] = FAULTS

    #: Whether the caller should ``learn_one`` every sample, anomalous or not. False: a wrapper
    #: may refuse to learn what it judged anomalous (a failing fridge must not teach that warm is
    #: normal). True: the detector suppresses repeats itself and must see the new regime, or it
    #: keeps scoring the whole regime as new.
    learn_anomalies: bool = False

    @abc.abstractmethod
    def learn_one(self, x: dict) -> None:  # pragma: no cover - abstract
        ...

    @abc.abstractmethod
    def score_one(self, x: dict) -> float:  # pragma: no cover - abstract
        ...

    def expected_one(self, x: dict) -> float | None:
        """The value the detector expects at this point (cheap; None when it has no opinion yet)."""
        return None

    def explain_one(self, x: dict) -> Explanation:
        """Say which component fired and what was expected; call before ``learn_one``."""
        return Explanation(component=type(self).__name__, observed=read_value_and_ts(x)[0],
                           expected=None, score=self.score_one(x))


def read_value_and_ts(x: dict) -> tuple[float, float | None]:
    """``x["value"]`` as a float (NaN when missing or not a number) and ``x["ts"]`` or None."""
    try:
        v = float(x.get("value", math.nan))
    except (TypeError, ValueError):
        v = math.nan
    ts = x.get("ts")
    try:
        ts = float(ts) if ts is not None else None
    except (TypeError, ValueError):
        ts = None
    if ts is not None and not math.isfinite(ts):
        ts = None
    return v, ts
