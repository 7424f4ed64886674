"""Named detectors, so the CLI, the streams and the benchmarks can pick one by name."""

from __future__ import annotations

from collections.abc import Callable

from detectors.base import Detector
from detectors.ensemble import THRESHOLD as _ONSET_THRESHOLD
from detectors.ensemble import OnsetEnsemble
from detectors.zscore import RollingZScore

DETECTORS: dict[str, Callable[[], Detector]] = {
    "onset": OnsetEnsemble,
    "zscore": RollingZScore,
}

#: Name of the detector the streams use for every univariate metric.
DEFAULT = "onset"

#: Score at and above which the default detector's sample is anomalous, for every series.
DEFAULT_THRESHOLD = _ONSET_THRESHOLD


def make_detector(name: str) -> Detector:
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ValueError(f"detector must be one of {sorted(DETECTORS)}; got {name!r}") from None
    return factory()


def default_detector() -> Detector:
    """The detector the streams use for every univariate metric (one configuration for all)."""
    return make_detector(DEFAULT)
