"""Per-entity detectors: one river-style detector per (entity, metric), created on first sight.

Where this sits in the flow: source -> validate -> **detect** -> incident -> rule -> sink.
Scores first, learns second (strictly causal). A detector that suppresses its own repeats
(``learn_anomalies``) learns every point, or it would call a whole new regime new forever; any
other learns only from points it did not judge anomalous, so a failing fridge does not teach it that
warm is normal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from detectors import Detector, Explanation, default_detector


@dataclass(slots=True)
class Score:
    metric: str
    value: float
    score: float
    expected: float | None
    component: str


@dataclass
class EntityDetectors:
    factory: Callable[[], Detector] = default_detector
    threshold: float = 0.99
    detectors: dict[tuple[str, str], Detector] = field(default_factory=dict)

    def score(self, entity: str, metric: str, value: float | None, ts: datetime) -> Score | None:
        if value is None or not math.isfinite(value):
            return None
        key = (entity, metric)
        det = self.detectors.get(key)
        if det is None:
            det = self.detectors[key] = self.factory()
        update = getattr(det, "update", None)
        if update is not None:  # the fused score-explain-learn pass (it learns every sample)
            s, expected, component = update(float(value), ts.timestamp(), self.threshold)
            return Score(metric, float(value), s, expected, component)
        x = {"value": float(value), "ts": ts.timestamp()}
        s = det.score_one(x)
        expected = det.expected_one(x)
        component = "score"
        if s >= self.threshold:
            exp: Explanation = det.explain_one(x)
            expected, component = exp.expected, exp.component
        if s < self.threshold or det.learn_anomalies:
            det.learn_one(x)
        return Score(metric, float(value), float(s), expected, component)

    def evict(self, entities: set[str]) -> None:
        for key in [k for k in self.detectors if k[0] in entities]:
            del self.detectors[key]
