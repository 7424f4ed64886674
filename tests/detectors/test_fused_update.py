"""The fused ``OnsetEnsemble.update`` (the worker's hot path) gives exactly what the river-style
``score_one`` / ``expected_one`` / ``explain_one`` / ``learn_one`` sequence gives, and leaves the
detector in exactly the same state, on every kind of series the detector meets."""

from __future__ import annotations

import math
import pickle
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.ensemble import OnsetEnsemble

T0 = 1_700_000_000.0


def reference(det: OnsetEnsemble, v: float, ts: float | None, threshold: float) -> tuple:
    """What streams.detection did before the fused pass existed."""
    x = {"value": v, "ts": ts} if ts is not None else {"value": v}
    s = det.score_one(x)
    expected, component = det.expected_one(x), "score"
    if s >= threshold:
        exp = det.explain_one(x)
        expected, component = exp.expected, exp.component
    det.learn_one(x)
    return s, expected, component


def state(det: OnsetEnsemble) -> dict:
    memo = ("_cache", "_comp_cache", "_exp_cache")  # of the last call, not state
    inner = det._state
    return pickle.loads(pickle.dumps({k: getattr(inner, k) for k in inner._STATE if k not in memo}))


def run_both(values: list[float], step_s: float | None, threshold: float) -> None:
    fused, ref = OnsetEnsemble(warmup=20, refractory=15), OnsetEnsemble(warmup=20, refractory=15)
    for i, v in enumerate(values):
        ts = T0 + step_s * i if step_s is not None else None
        got = fused.update(v, ts, threshold)
        want = reference(ref, v, ts, threshold)
        assert got == want, (i, v, got, want)
    assert pickle.dumps(state(fused)) == pickle.dumps(state(ref))


def series(kind: str, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base = 4.0 + 1.5 * math.sin(2 * math.pi * i / 288)
        if kind == "shift" and i > n // 2:
            base += 3.0
        elif kind == "stuck" and i > n // 2:
            out.append(out[-1] if out else base)
            continue
        elif kind == "spikes" and i % 97 == 0:
            base += 10.0
        elif kind == "coarse":
            base = round(base)
        out.append(base + rng.gauss(0, 0.2))
    return out


def test_fused_update_matches_the_river_api_on_typical_series():
    for kind in ("normal", "shift", "stuck", "spikes", "coarse"):
        for step in (60.0, 300.0, None):
            run_both(series(kind, 1_500, seed=len(kind)), step, threshold=0.5)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 1.0, 4.0])),
                       min_size=1, max_size=300),
       step=st.sampled_from([1.0, 60.0, 900.0, 3_600.0, None]),
       threshold=st.sampled_from([0.0, 0.5, 0.99, 1.0]))
def test_fused_update_matches_the_river_api_on_any_series(values, step, threshold):
    run_both(values, step, threshold)
