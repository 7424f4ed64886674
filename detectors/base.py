"""Abstract pieces shared by every opswatch detector.

A detector scores first and learns second, so a score only ever uses samples before and at it.
The processing core relies on three things only: ``score_one`` returning a likelihood in
[0, 1] (the same meaning for a fridge, a truck and a till), ``learn_one``, and ``explain_one``
for the incident text.
"""

from __future__ import annotations

import abc
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


class Detector(base.AnomalyDetector):
    """A univariate online detector whose score is a likelihood in [0, 1]."""

    @abc.abstractmethod
    def learn_one(self, x: dict) -> None:  # pragma: no cover - abstract
        ...

    @abc.abstractmethod
    def score_one(self, x: dict) -> float:  # pragma: no cover - abstract
        ...

    def explain_one(self, x: dict) -> Explanation:
        """Say which component fired and what was expected; call before ``learn_one``."""
        return Explanation(component=type(self).__name__, observed=float(x["value"]), expected=None,
                           score=self.score_one(x))
