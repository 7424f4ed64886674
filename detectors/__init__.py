"""Online anomaly detectors for opswatch, river-style.

Where this sits in the flow: source -> validate -> **detect** -> incident -> rule -> sink.

Every detector is a small, pure, synchronous object with ``learn_one(x)`` and ``score_one(x)``
(higher means more anomalous). It does no I/O, reads no clock and its state pickles, so the
processing core can keep one per entity and checkpoint it.

Univariate detectors read ``x["value"]`` (a float) and may read ``x["ts"]`` (POSIX seconds, UTC,
taken from the event, never from the wall clock) for seasonality.

``default_detector()`` builds the detector the streams use for every univariate metric, with one
fixed configuration for every series: :class:`~detectors.ensemble.OnsetEnsemble`, whose score is
a likelihood in [0, 1] with one threshold for every series, ``DEFAULT_THRESHOLD`` (0.5). It
fires once at the start of an incident, then stays quiet for a while.

Modules, by what they detect: ``range_break`` (a feature leaving its long-held range),
``seasonal`` (the usual value at this time of day or week), ``likelihood`` (how rare a surprise
is for this series), ``stuck`` (a frozen reading); ``ensemble`` combines them; ``zscore`` is the
baseline.

The hot path (``ensemble``'s ``OnsetState`` and its parts) is compiled with Cython when the
package is installed (``setup.py``; the C types are in the ``.pxd`` files beside the sources).
``COMPILED`` says whether the compiled modules are the ones running; ``OPSWATCH_PURE_PYTHON=1``
runs the plain Python sources instead (for a debugger, coverage or a profiler).
"""

from detectors import _compiled

_compiled.choose_implementation()  # before anything imports the modules it may replace
COMPILED, COMPILED_MODULES = _compiled.COMPILED, _compiled.COMPILED_MODULES

from detectors.base import Detector, Explanation  # noqa: E402
from detectors.registry import DEFAULT_THRESHOLD, DETECTORS, default_detector, make_detector  # noqa: E402

__all__ = ["COMPILED", "COMPILED_MODULES", "DEFAULT_THRESHOLD", "DETECTORS", "Detector", "Explanation",
           "default_detector", "make_detector"]
