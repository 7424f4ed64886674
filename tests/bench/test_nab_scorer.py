"""The NAB scorer against NAB's published outputs, and against the method on small corpora."""

from __future__ import annotations

import csv
import json
import math
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from streams.bench.nab_scorer import (
    NabCorpusError,
    event_row_scores,
    load_corpus,
    read_results_dir,
    scaled_sigmoid,
    score_at_threshold,
    score_results_dir,
    score_scores,
    sweep_row_scores,
)

SHARED_NAB = Path(__file__).resolve().parents[2].parent / "shared" / "nab"
REFERENCE = SHARED_NAB / "reference_results"

# What NAB's official scorer gives on these 41 files (shared/nab/README.md).
PUBLISHED = {
    "windowedGaussian": {"standard": 29.06, "reward_low_FP_rate": 14.79,
                         "reward_low_FN_rate": 35.80},
    "numenta": {"standard": 68.58, "reward_low_FP_rate": 62.21, "reward_low_FN_rate": 72.77},
}
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
WEIGHTS = {"standard": (1.0, 0.11, 1.0), "reward_low_FP_rate": (1.0, 0.22, 1.0),
           "reward_low_FN_rate": (1.0, 0.11, 2.0)}  # tp, fp, fn


# --- the published outputs -------------------------------------------------------------------

@pytest.fixture(scope="module")
def nab():
    if not (SHARED_NAB / "data").is_dir() or not REFERENCE.is_dir():
        pytest.skip(f"shared NAB subset with reference_results not found at {SHARED_NAB}")
    return load_corpus(SHARED_NAB)


@pytest.fixture(scope="module")
def reference_scores(nab):
    return {det: read_results_dir(REFERENCE, nab, det) for det in PUBLISHED}


def _reference_rows(detector: str, profile: str) -> list[dict]:
    path = REFERENCE / detector / f"{detector}_{profile}_scores.csv"
    return [r for r in csv.DictReader(path.open()) if r["File"] != "Totals" and r["File"]]


def test_the_subset_is_the_documented_one(nab):
    assert len(nab.files) == 41
    assert nab.window_count == 69
    assert sum(len(f.values) for f in nab.files.values()) > 150_000


@pytest.mark.parametrize("detector", sorted(PUBLISHED))
def test_corpus_scores_match_nab_official_scorer(nab, reference_scores, detector):
    got = score_scores(nab, reference_scores[detector]).normalized()
    for profile, expected in PUBLISHED[detector].items():
        assert got[profile] == pytest.approx(expected, abs=0.01), profile


def test_score_results_dir_reads_nab_layout(reference_scores, nab):
    got = score_results_dir(REFERENCE, SHARED_NAB, "numenta").normalized()
    assert got == pytest.approx(score_scores(nab, reference_scores["numenta"]).normalized())
    assert got["standard"] == pytest.approx(68.58, abs=0.01)


@pytest.mark.parametrize("detector", sorted(PUBLISHED))
@pytest.mark.parametrize("profile", PROFILES)
def test_per_file_scores_and_counts_match_at_nab_thresholds(nab, reference_scores, detector,
                                                            profile):
    rows = _reference_rows(detector, profile)
    assert {r["File"] for r in rows} == set(nab.files)
    threshold = float(rows[0]["Threshold"])
    got = {f.name: f for f in score_at_threshold(nab, reference_scores[detector], profile,
                                                 threshold).files}
    for r in rows:
        f = got[r["File"]]
        assert f.raw_score == pytest.approx(float(r["Score"]), abs=1e-6), r["File"]
        assert (f.tp, f.tn, f.fp, f.fn) == (int(r["TP"]), int(r["TN"]), int(r["FP"]),
                                            int(r["FN"])), r["File"]


@pytest.fixture(scope="module")
def reference_columns(nab):
    """detector -> file -> profile -> the published ``S(t)_<profile>`` column."""
    out = {}
    for detector in PUBLISHED:
        out[detector] = {}
        for name in nab.files:
            category, base = name.rsplit("/", 1)
            path = REFERENCE / detector / category / f"{detector}_{base}"
            rows = list(csv.DictReader(path.open()))
            out[detector][name] = {p: np.array([float(r[f"S(t)_{p}"]) for r in rows])
                                   for p in PROFILES}
    return out


@pytest.mark.parametrize("profile", PROFILES)
def test_per_row_sweep_scores_match_windowed_gaussian_columns(nab, reference_columns, profile):
    # windowedGaussian's outputs were scored by NAB's Sweeper, which writes every row's score.
    for name in nab.files:
        np.testing.assert_allclose(sweep_row_scores(nab, name, profile),
                                   reference_columns["windowedGaussian"][name][profile],
                                   atol=1e-9, err_msg=name)


@pytest.mark.parametrize("profile", PROFILES)
def test_per_row_event_scores_match_numenta_columns(nab, reference_scores, reference_columns,
                                                    profile):
    # numenta's outputs were scored by NAB's earlier scorer, which writes only the events.
    threshold = float(_reference_rows("numenta", profile)[0]["Threshold"])
    for name in nab.files:
        got = event_row_scores(nab, name, reference_scores["numenta"][name], profile, threshold)
        np.testing.assert_allclose(got, reference_columns["numenta"][name][profile], atol=1e-9,
                                   err_msg=name)


def test_perfect_and_null_detectors_on_the_subset(nab):
    perfect = {name: _first_window_rows(f) for name, f in nab.files.items()}
    null = {name: np.full(len(f.values), 0.5) for name, f in nab.files.items()}
    assert score_scores(nab, perfect).normalized() == pytest.approx(
        {p: 100.0 for p in PROFILES})
    assert score_scores(nab, null).normalized() == pytest.approx({p: 0.0 for p in PROFILES})


def test_scoring_the_corpus_is_fast_enough_for_a_tuning_loop(nab, reference_scores):
    scores = {k: list(v) for k, v in reference_scores["numenta"].items()}
    score_scores(nab, scores)
    started = time.perf_counter()
    for _ in range(3):
        score_scores(nab, scores)
    assert (time.perf_counter() - started) / 3 < 0.5


def _first_window_rows(f) -> np.ndarray:
    s = np.zeros(len(f.values))
    for start, _ in f.windows:
        s[start] = 1.0
    return s


# --- small corpora written to disk -----------------------------------------------------------

T0 = datetime(2024, 3, 1)
STEP = timedelta(minutes=5)


def _stamp(i: int) -> str:
    return (T0 + i * STEP).strftime("%Y-%m-%d %H:%M:%S")


def write_corpus(root: Path, files: dict[str, tuple[int, list[tuple[int, int]]]],
                 profiles: bool = True) -> Path:
    """files: name -> (rows, [(first row, last row) of each window])."""
    windows = {}
    for name, (n, limits) in files.items():
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "value"])
            for i in range(n):
                w.writerow([_stamp(i), 10.0 + math.sin(i / 7)])
        windows[name] = [[_stamp(a) + ".000000", _stamp(b) + ".000000"] for a, b in limits]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    if profiles:
        (root / "labels" / "profiles.json").write_text(json.dumps(
            {p: {"CostMatrix": {"tpWeight": tp, "fpWeight": fp, "fnWeight": fn, "tnWeight": 1.0}}
             for p, (tp, fp, fn) in WEIGHTS.items()}))
    return root


# 200 rows: probation is floor(0.15 * 200) = 30 rows.
ONE_WINDOW = {"cat/a.csv": (200, [(100, 119)])}


@pytest.fixture()
def one_window(tmp_path):
    return load_corpus(write_corpus(tmp_path, ONE_WINDOW))


def _spike(n: int, *rows: int) -> np.ndarray:
    s = np.zeros(n)
    s[list(rows)] = 1.0
    return s


def test_probation_is_fifteen_percent_capped_at_750_rows(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path, {"c/short.csv": (1001, []),
                                                 "c/long.csv": (6000, [])}))
    assert corpus.files["c/short.csv"].probation == 150
    assert corpus.files["c/long.csv"].probation == 750


def test_perfect_detector_scores_100_and_null_detector_0(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path, {
        "c/a.csv": (400, [(100, 139), (250, 289)]),
        "c/b.csv": (300, [(200, 229)]),
        "d/quiet.csv": (300, []),
    }))
    perfect = {name: _first_window_rows(f) for name, f in corpus.files.items()}
    constant = {name: np.full(len(f.values), 0.5) for name, f in corpus.files.items()}
    silent = {name: np.zeros(len(f.values)) for name, f in corpus.files.items()}
    assert score_scores(corpus, perfect).normalized() == pytest.approx(
        {p: 100.0 for p in PROFILES})
    assert score_scores(corpus, constant).normalized() == pytest.approx({p: 0.0 for p in PROFILES})
    assert score_scores(corpus, silent).normalized() == pytest.approx({p: 0.0 for p in PROFILES})


def test_detection_before_the_window_is_a_false_positive(one_window):
    s = {"cat/a.csv": _spike(200, 60)}
    f = score_at_threshold(one_window, s, "standard", 0.5).files[0]
    assert (f.tp, f.fp, f.fn) == (0, 1, 20)
    # No window precedes it, so it costs the full FP weight, and the window is missed.
    assert f.raw_score == pytest.approx(-0.11 - 1.0)


def test_early_detection_beats_late_detection(one_window):
    early = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 100)}, "standard", 0.5)
    middle = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 110)}, "standard", 0.5)
    late = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 119)}, "standard", 0.5)
    assert early.raw == pytest.approx(1.0)  # the window's first row earns the full TP weight
    assert early.raw > middle.raw > late.raw > 0.0
    assert late.raw == pytest.approx(float(scaled_sigmoid(-1 / 20) / scaled_sigmoid(-1.0)))


def test_only_the_earliest_detection_in_a_window_counts(one_window):
    once = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 105)}, "standard", 0.5)
    often = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 105, 110, 118)},
                               "standard", 0.5)
    assert often.raw == pytest.approx(once.raw)
    assert often.files[0].tp == 3


def test_false_positive_soon_after_a_window_costs_less_than_a_late_one(one_window):
    soon = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 121)}, "standard", 0.5)
    late = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 190)}, "standard", 0.5)
    assert late.raw < soon.raw < -1.0
    assert late.raw == pytest.approx(-1.0 - 0.11)  # more than 3 window widths past: full weight


def test_detections_in_probation_count_for_nothing(one_window):
    f = score_at_threshold(one_window, {"cat/a.csv": _spike(200, 0, 10, 29)}, "standard",
                           0.5).files[0]
    assert f.raw_score == pytest.approx(-1.0)
    assert (f.tp, f.fp, f.fn, f.tn) == (0, 0, 20, 200 - 30 - 20)


def test_threshold_is_optimised_and_ties_go_to_the_higher_threshold(one_window):
    s = np.zeros(200)
    s[100] = 0.9  # an early catch
    s[110] = 0.8  # a later catch in the same window: same score whether detected or not
    s[150] = 0.4  # a false positive
    result = score_scores(one_window, {"cat/a.csv": s})
    for profile in PROFILES:
        assert result.profiles[profile].threshold == pytest.approx(0.9)
        assert result.profiles[profile].normalized == pytest.approx(100.0)


def test_nan_scores_never_fire(one_window):
    s = np.full(200, np.nan)
    s[100] = 1.0
    f = score_at_threshold(one_window, {"cat/a.csv": s}, "standard", 0.0).files[0]
    assert (f.tp, f.fp) == (1, 0)


def test_sweep_matches_a_direct_reimplementation_on_random_scores(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path, {
        "c/a.csv": (300, [(80, 109), (200, 229)]),
        "c/b.csv": (250, [(30, 59)]),  # starts inside the 37-row probation
        "d/c.csv": (220, []),
    }))
    rng = np.random.default_rng(3)
    for trial in range(5):
        # Rounded so many rows share a score, as real detectors' outputs do.
        scores = {n: np.round(rng.random(len(f.values)) ** 4, 2)
                  for n, f in corpus.files.items()}
        result = score_scores(corpus, scores)
        for profile in PROFILES:
            tp_w, fp_w, fn_w = WEIGHTS[profile]
            candidates = [1.1] + sorted({float(v) for s in scores.values()
                                         for v in s[_probation(s)]}, reverse=True)
            best = max(candidates, key=lambda t: (
                round(_direct_raw(corpus, scores, t, tp_w, fp_w, fn_w), 9), t))
            best_raw = _direct_raw(corpus, scores, best, tp_w, fp_w, fn_w)
            got = result.profiles[profile]
            assert got.raw == pytest.approx(best_raw, abs=1e-9), (trial, profile)
            assert got.threshold == pytest.approx(best), (trial, profile)


def _probation(s) -> slice:
    return slice(min(math.floor(0.15 * len(s)), 750), None)


def _direct_raw(corpus, scores, threshold, tp_w, fp_w, fn_w) -> float:
    """NAB's rules written out row by row, with no shared code with the scorer."""
    total = 0.0
    for name, f in corpus.files.items():
        s, n = scores[name], len(scores[name])
        p = min(math.floor(0.15 * n), 750)
        for start, end in f.windows:
            width = end - start + 1
            hits = [i for i in range(max(start, p), end + 1) if s[i] >= threshold]
            if end >= p:
                if hits:
                    y = -(end - hits[0] + 1) / width
                    total += tp_w * _sig(y) / _sig(-1.0)
                else:
                    total -= fn_w
        for i in range(p, n):
            if s[i] < threshold or f.window_id[i] >= 0:
                continue
            before = [(a, b) for a, b in f.windows if b < i]
            if not before:
                total -= fp_w
            else:
                a, b = before[-1]
                total += fp_w * _sig(abs(i - b) / (b - a))
    return total


def _sig(y: float) -> float:
    return -1.0 if y > 3.0 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


# --- errors ----------------------------------------------------------------------------------

def test_missing_pieces_are_named(tmp_path):
    with pytest.raises(NabCorpusError, match=r"data.*combined_windows\.json"):
        load_corpus(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(NabCorpusError, match="combined_windows.json") as err:
        load_corpus(tmp_path)
    assert "missing" in str(err.value)


def test_window_limits_must_be_timestamps_of_the_file(tmp_path):
    root = write_corpus(tmp_path, ONE_WINDOW)
    windows = {"cat/a.csv": [["2024-03-01 00:02:00.000000", _stamp(119)]]}
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    with pytest.raises(NabCorpusError, match="cat/a.csv"):
        load_corpus(root)


def test_scores_must_cover_every_file_row_for_row(one_window):
    with pytest.raises(KeyError, match="missing"):
        score_scores(one_window, {})
    with pytest.raises(ValueError, match=r"one score per data row \(200\)"):
        score_scores(one_window, {"cat/a.csv": [0.0] * 199})


def test_default_profiles_when_the_corpus_has_none(tmp_path):
    corpus = load_corpus(write_corpus(tmp_path, ONE_WINDOW, profiles=False))
    assert {p: (c.tp_weight, c.fp_weight, c.fn_weight) for p, c in corpus.profiles.items()} \
        == WEIGHTS
