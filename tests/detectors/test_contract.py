"""One contract for every registered detector, as river's ``river/checks/`` do for estimators.

Each check runs over ``detectors.DETECTORS``, so a new detector is held to it by registering it.
The data are small, seeded and synthetic: a daily rhythm with noise, sampled every five minutes.
"""

from __future__ import annotations

import copy
import inspect
import math
import pickle
import random

import pytest

import detectors
from detectors import Explanation
from detectors.base import FAULTS
from detectors.registry import DEFAULT, DEFAULT_THRESHOLD

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
STEP_S = 300.0
N_NORMAL = 2_500
N_FAULT = 300
MAX_STATE_BYTES = 32 * 1024

NAMES = sorted(detectors.DETECTORS)


def normal_rows(n: int = N_NORMAL, seed: int = 0, start: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        ts = T0 + STEP_S * i
        value = 20.0 + 5.0 * math.sin(2 * math.pi * ts / 86_400.0) + rng.gauss(0.0, 1.0)
        rows.append({"value": value, "ts": ts})
    return rows


def inject(fault: str, rows: list[dict], seed: int = 1) -> list[dict]:
    """The same rhythm continuing after ``rows``, with ``fault`` from the first new row on."""
    rng = random.Random(seed)
    clean = normal_rows(N_FAULT, seed=seed, start=len(rows))
    last = rows[-1]["value"]
    out = []
    for k, row in enumerate(clean):
        v = row["value"]
        if fault == "spike":
            v = v + 12.0 if k == 0 else v
        elif fault == "level_shift":
            v += 8.0
        elif fault == "drift":
            v += 0.1 * k
        elif fault == "variance_change":
            v += rng.gauss(0.0, 6.0)
        elif fault == "stuck":
            v = last
        else:  # pragma: no cover - guards the FAULTS list
            raise ValueError(f"fault must be one of {sorted(FAULTS)}; got {fault!r}")
        out.append({"value": v, "ts": row["ts"]})
    return out


def run(det, rows) -> list[float]:
    scores = []
    for x in rows:
        scores.append(det.score_one(x))
        det.learn_one(x)
    return scores


@pytest.fixture(params=NAMES)
def name(request) -> str:
    return request.param


def make(name: str):
    return detectors.make_detector(name)


def test_scores_are_likelihoods(name):
    det = make(name)
    scores = run(det, normal_rows() + inject("level_shift", normal_rows()))
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)


def test_warmup_scores_low(name):
    scores = run(make(name), normal_rows(20))
    assert max(scores) < 0.5


def test_input_not_mutated(name):
    det = make(name)
    for x in normal_rows(400):
        before = copy.deepcopy(x)
        det.score_one(x)
        det.explain_one(x)
        det.learn_one(x)
        assert x == before


def test_key_order_irrelevant(name):
    rows = normal_rows(600)
    reordered = [dict(reversed(list(x.items()))) for x in rows]
    assert run(make(name), rows) == run(make(name), reordered)


def test_extra_fields_ignored(name):
    rows = normal_rows(600)
    extra = [{**x, "unit": "temp_c", "site": "cold-room-3", "door_open": False} for x in rows]
    assert run(make(name), rows) == run(make(name), extra)


def test_missing_fields_tolerated(name):
    det = make(name)
    rows = normal_rows(600)
    no_ts = [{"value": x["value"]} for x in rows]
    scores = run(det, no_ts)
    scores += run(det, [{"ts": T0}, {}, {"value": None}, {"value": "n/a", "ts": "soon"}])
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_nan_tolerated_and_not_learned(name):
    rows = normal_rows(800)
    holed = rows[:400] + [{"value": math.nan, "ts": rows[400]["ts"]},
                          {"value": math.inf, "ts": rows[400]["ts"]},
                          {"value": -math.inf, "ts": rows[400]["ts"]}] + rows[400:]
    clean_scores = run(make(name), rows)
    holed_scores = run(make(name), holed)
    assert all(0.0 <= s <= 1.0 for s in holed_scores)
    assert holed_scores[:400] + holed_scores[403:] == clean_scores


def test_pickle_round_trip_gives_same_scores(name):
    det = make(name)
    run(det, normal_rows(1_500))
    clone = pickle.loads(pickle.dumps(det))
    rest = inject("level_shift", normal_rows(1_500))
    assert run(clone, rest) == run(det, rest)


def test_same_seed_same_scores(name):
    factory = detectors.DETECTORS[name]
    params = inspect.signature(factory).parameters
    kwargs = {"seed": 7} if "seed" in params else {}
    rows = normal_rows(1_000)
    assert run(factory(**kwargs), rows) == run(factory(**kwargs), rows)


def test_constructor_is_the_configuration(name):
    factory = detectors.DETECTORS[name]
    det = factory()
    for param in inspect.signature(factory).parameters.values():
        assert hasattr(det, param.name), f"{name} does not keep {param.name!r}"
        assert getattr(det, param.name) == param.default
        assert not isinstance(param.default, (list, dict, set)), f"{param.name} is mutable"


def test_state_stays_small(name):
    det = make(name)
    run(det, normal_rows(20_000))
    assert len(pickle.dumps(det)) < MAX_STATE_BYTES


def test_explain_one(name):
    det = make(name)
    rows = normal_rows()
    run(det, rows)
    fault = inject("spike", rows)[0]
    e = det.explain_one(fault)
    assert isinstance(e, Explanation)
    assert isinstance(e.component, str) and e.component
    assert e.observed == fault["value"]
    assert e.expected is None or math.isfinite(e.expected)
    assert e.score == det.score_one(fault)


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_injected_faults_score_higher_than_normal(name, fault):
    det = make(name)
    if fault not in det.detects:
        pytest.skip(f"{name} does not claim to detect {fault}")
    rows = normal_rows()
    normal = run(det, rows)[N_NORMAL // 5:]
    faulty = run(det, inject(fault, rows))
    assert max(faulty) > _quantile(normal, 0.995), f"{name} misses {fault}"
    if name == DEFAULT:
        assert max(faulty) >= DEFAULT_THRESHOLD, f"{name} does not raise {fault}"


def test_default_alarms_rarely_on_normal_data():
    # it fires once per incident, so on clean data alarms are a small fraction of samples
    scores = run(make(DEFAULT), normal_rows(10_000))[N_NORMAL // 5:]
    assert sum(s >= DEFAULT_THRESHOLD for s in scores) / len(scores) < 0.002


@pytest.mark.parametrize("fault", ["level_shift", "variance_change", "stuck"])
def test_default_raises_a_lasting_fault_once(fault):
    # learned every sample (``learn_anomalies``), it reports the onset, then the new regime is normal
    det = make(DEFAULT)
    assert det.learn_anomalies
    rows = normal_rows()
    run(det, rows)
    faulty = run(det, inject(fault, rows))
    assert 1 <= sum(s >= DEFAULT_THRESHOLD for s in faulty) <= 3
    assert faulty.index(next(s for s in faulty if s >= DEFAULT_THRESHOLD)) < 20
