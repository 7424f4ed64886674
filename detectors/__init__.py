"""Online anomaly detectors for opswatch, river-style.

Where this sits in the flow: source -> validate -> **detect** -> incident -> rule -> sink.

Every detector is a small, pure, synchronous object with ``learn_one(x)`` and ``score_one(x)``
(higher means more anomalous). It does no I/O, reads no clock and its state pickles, so the
processing core can keep one per entity and checkpoint it.

Univariate detectors read ``x["value"]`` (a float) and may read ``x["ts"]`` (POSIX seconds, UTC,
taken from the event, never from the wall clock) for seasonality.

``default_detector()`` builds the detector the streams use for every univariate metric, with one
fixed configuration for every series.
"""

from detectors.base import Detector, Explanation
from detectors.registry import DETECTORS, default_detector, make_detector

__all__ = ["DETECTORS", "Detector", "Explanation", "default_detector", "make_detector"]
