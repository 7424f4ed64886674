"""``opswatch bench nab`` on a tiny NAB-layout corpus written to a temporary folder."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import detectors
import detectors.registry
from streams.bench.nab import run_detector_over_corpus, run_nab_bench, write_results
from streams.bench.nab_scorer import NabCorpusError, load_corpus, score_results_dir

T0 = datetime(2024, 3, 1)
STEP = timedelta(minutes=5)
PROFILES = {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}

# name -> (rows, windows as inclusive row ranges, rows where the value jumps)
CORPUS = {
    "realFleet/truck_speed.csv": (240, [(150, 169)], [160]),
    "realFleet/fridge_temp.csv": (300, [(120, 139), (220, 239)], [125, 230]),
    "artificialNoAnomaly/flat.csv": (180, [], []),
}


def _stamp(i: int) -> str:
    return (T0 + i * STEP).strftime("%Y-%m-%d %H:%M:%S")


def _write_corpus(root: Path) -> Path:
    windows = {}
    for name, (n, limits, jumps) in CORPUS.items():
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "value"])
            for i in range(n):
                value = 20.0 + math.sin(i / 9) + (25.0 if i in jumps else 0.0)
                w.writerow([_stamp(i), f"{value:.4f}"])
        windows[name] = [[_stamp(a) + ".000000", _stamp(b) + ".000000"] for a, b in limits]
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return root


@pytest.fixture()
def corpus_dir(tmp_path):
    return _write_corpus(tmp_path / "nab")


def _quiet_console() -> Console:
    return Console(file=io.StringIO(), width=200, record=True)


class _CausalProbe(detectors.Detector):
    """Scores each row with the number of rows it has learned, and records the call order."""

    built: list[_CausalProbe] = []

    def __init__(self):
        self.learned = 0
        self.calls: list[tuple[str, dict]] = []
        _CausalProbe.built.append(self)

    def score_one(self, x: dict) -> float:
        self.calls.append(("score", dict(x)))
        return float(self.learned)

    def learn_one(self, x: dict) -> None:
        self.calls.append(("learn", dict(x)))
        self.learned += 1


@pytest.fixture()
def probe(monkeypatch):
    _CausalProbe.built = []
    monkeypatch.setitem(detectors.DETECTORS, "causal-probe", _CausalProbe)
    return _CausalProbe


def test_each_file_gets_a_fresh_detector_fed_strictly_in_order(corpus_dir, probe):
    scores = run_detector_over_corpus(corpus_dir, "causal-probe", progress=False)
    assert set(scores) == set(CORPUS)
    assert len(probe.built) == len(CORPUS)
    for name, (n, _, _) in CORPUS.items():
        # A fresh detector per file has learned exactly the rows before each one.
        assert scores[name] == [float(i) for i in range(n)]
    first = probe.built[0]
    assert [kind for kind, _ in first.calls[:4]] == ["score", "learn", "score", "learn"]
    _, x = first.calls[0]
    assert set(x) == {"value", "ts"}
    assert isinstance(x["value"], float) and isinstance(x["ts"], float)
    stamp = datetime.fromtimestamp(first.calls[2][1]["ts"], tz=timezone.utc)
    assert stamp == (T0 + STEP).replace(tzinfo=timezone.utc)


def test_bench_writes_nab_results_layout_and_scores_back(corpus_dir, tmp_path):
    out = tmp_path / "results"
    console = _quiet_console()
    result = run_nab_bench(corpus_dir, out, console=console)
    name = detectors.registry.DEFAULT

    assert set(result.profiles) == PROFILES
    for profile in result.profiles.values():
        assert {f.name for f in profile.files} == set(CORPUS)
        assert math.isfinite(profile.normalized)

    for file_name, (n, limits, _) in CORPUS.items():
        category, base = file_name.split("/")
        path = out / name / category / f"{name}_{base}"
        with path.open() as fh:
            reader = csv.reader(fh)
            assert next(reader) == ["timestamp", "value", "anomaly_score", "label"]
            rows = list(reader)
        assert len(rows) == n
        assert rows[0][0] == _stamp(0)
        scores = np.array([float(r[2]) for r in rows])
        assert np.all(np.isfinite(scores))
        inside = {i for a, b in limits for i in range(a, b + 1)}
        assert [int(r[3]) for r in rows] == [int(i in inside) for i in range(n)]

    for profile in PROFILES:
        assert (out / name / f"{name}_{profile}_scores.csv").is_file()
    # The written folder is something a NAB scorer reads back to the same result.
    assert score_results_dir(out, corpus_dir, name).normalized() == pytest.approx(
        result.normalized())

    text = console.export_text()
    assert "standard" in text and "reward_low_FN_rate" in text
    assert f"{result.profiles['standard'].normalized:.2f}" in text
    assert "points/s" in text


def test_verbose_prints_a_row_per_file(corpus_dir, tmp_path):
    console = _quiet_console()
    run_nab_bench(corpus_dir, tmp_path / "out", detector=detectors.registry.DEFAULT,
                  verbose=True, console=console)
    text = console.export_text()
    for file_name in CORPUS:
        assert file_name in text


def test_an_obvious_detector_beats_the_null_detector(corpus_dir, tmp_path, monkeypatch):
    class Jump(detectors.Detector):
        def __init__(self):
            self.last = None

        def score_one(self, x):
            return 0.0 if self.last is None else min(abs(x["value"] - self.last) / 10.0, 1.0)

        def learn_one(self, x):
            self.last = x["value"]

    monkeypatch.setitem(detectors.DETECTORS, "jump", Jump)
    result = run_nab_bench(corpus_dir, tmp_path / "out", detector="jump",
                           console=_quiet_console())
    assert all(score > 50.0 for score in result.normalized().values())


def test_write_results_rejects_scores_of_the_wrong_length(corpus_dir, tmp_path):
    scores = {name: [0.0] * (n - 1) for name, (n, _, _) in CORPUS.items()}
    with pytest.raises(ValueError, match="one score per data row"):
        write_results(tmp_path / "out", corpus_dir, "zero", scores)


def test_write_results_round_trips(corpus_dir, tmp_path):
    corpus = load_corpus(corpus_dir)
    scores = {name: np.linspace(0, 1, len(f.values)).tolist() for name, f in corpus.files.items()}
    write_results(tmp_path / "out", corpus_dir, "ramp", scores)
    path = tmp_path / "out" / "ramp" / "realFleet" / "ramp_truck_speed.csv"
    written = [float(r["anomaly_score"]) for r in csv.DictReader(path.open())]
    assert written == scores["realFleet/truck_speed.csv"]


def test_bad_data_dir_says_what_is_missing(tmp_path):
    with pytest.raises(NabCorpusError, match="data"):
        run_nab_bench(tmp_path, tmp_path / "out", console=_quiet_console())
    (tmp_path / "data").mkdir()
    with pytest.raises(NabCorpusError, match=r"labels/combined_windows\.json"):
        run_nab_bench(tmp_path, tmp_path / "out", console=_quiet_console())


def test_unknown_detector_lists_the_choices(corpus_dir, tmp_path):
    with pytest.raises(ValueError, match=r"detector must be one of .*got 'nope'"):
        run_nab_bench(corpus_dir, tmp_path / "out", detector="nope", console=_quiet_console())


def test_a_failing_detector_says_where(corpus_dir, monkeypatch):
    class Broken(detectors.Detector):
        def __init__(self):
            self.n = 0

        def score_one(self, x):
            if self.n == 7:
                raise ZeroDivisionError("boom")
            return 0.0

        def learn_one(self, x):
            self.n += 1

    monkeypatch.setitem(detectors.DETECTORS, "broken", Broken)
    with pytest.raises(RuntimeError, match=r"'broken' failed at artificialNoAnomaly/flat.csv "
                                           r"row 7 \(2024-03-01 00:35:00\)"):
        run_detector_over_corpus(corpus_dir, "broken", progress=False)
