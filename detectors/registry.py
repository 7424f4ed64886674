"""Named detectors, so the CLI and benchmarks can pick one by name."""

from __future__ import annotations

from collections.abc import Callable

from detectors.base import Detector
from detectors.zscore import RollingZScore

DETECTORS: dict[str, Callable[[], Detector]] = {
    "zscore": RollingZScore,
}

DEFAULT = "zscore"


def make_detector(name: str) -> Detector:
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ValueError(f"detector must be one of {sorted(DETECTORS)}; got {name!r}") from None
    return factory()


def default_detector() -> Detector:
    """The detector the streams use for every univariate metric (one configuration for all)."""
    return make_detector(DEFAULT)
