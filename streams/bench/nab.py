"""``opswatch bench nab``: run a detector over a NAB-layout corpus and score it as NAB does.

Where this sits: off the stream, exercising the **detect** step alone. Each data file gets a fresh
detector from ``detectors.make_detector``, fed one row at a time in file order, ``score_one`` then
``learn_one``, exactly as the processing core feeds it, so no score sees a later row. The scores
are written in NAB's results layout (NAB's own ``run.py --score`` can read the folder) and scored
with ``streams.bench.nab_scorer``.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

import detectors
import detectors.registry
from streams.bench.nab_scorer import (CorpusScore, NabCorpus, NabCorpusError, load_corpus,
                                      score_scores)

__all__ = ["NabCorpusError", "run_detector_over_corpus", "run_nab_bench", "write_results"]


class _PointsPerSecond(ProgressColumn):
    """Rows scored per second over the whole run, the number to watch when a detector is slow."""

    def render(self, task) -> Text:
        points = task.fields.get("points", 0)
        elapsed = task.elapsed or 0.0
        rate = points / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} points/s", style="progress.data.speed")


def _resolve_detector(detector: str | None) -> str:
    name = detectors.registry.DEFAULT if detector is None else detector
    if name not in detectors.DETECTORS:
        raise ValueError(f"detector must be one of {sorted(detectors.DETECTORS)}; got {name!r}")
    return name


def _posix_seconds(stamps: np.ndarray) -> np.ndarray:
    # NAB timestamps carry no zone and are UTC; datetime64 counts from the UTC epoch.
    return stamps.astype("datetime64[us]").astype(np.int64) / 1e6


def _score_file(detector_name: str, file_name: str, stamps: np.ndarray,
                values: np.ndarray) -> list[float]:
    det = detectors.make_detector(detector_name)
    out: list[float] = []
    for i, (ts, value) in enumerate(zip(_posix_seconds(stamps).tolist(), values.tolist())):
        x = {"value": value, "ts": ts}
        try:
            score = det.score_one(x)
            det.learn_one(x)
        except Exception as exc:
            where = f"{file_name} row {i} ({_format_stamp(stamps[i])})"
            raise RuntimeError(f"detector {detector_name!r} failed at {where}: {exc!r}") from exc
        if not isinstance(score, (int, float, np.floating, np.integer)):
            where = f"{file_name} row {i}"
            raise TypeError(f"detector {detector_name!r} score_one must return a float at "
                            f"{where}; got {type(score).__name__}")
        out.append(float(score))
    return out


def _run(corpus: NabCorpus, detector: str, console: Console | None,
         progress: bool) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("files"), _PointsPerSecond(), TimeElapsedColumn(),
                  console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"NAB · {detector}", total=len(corpus.files), points=0)
        points = 0
        for name, f in corpus.files.items():
            bar.update(task, description=f"NAB · {detector} · {name}")
            scores[name] = _score_file(detector, name, f.timestamps, f.values)
            points += len(f.values)
            bar.update(task, advance=1, points=points)
        bar.update(task, description=f"NAB · {detector}")
    return scores


def run_detector_over_corpus(data_dir: Path, detector: str, progress: bool = True
                             ) -> dict[str, list[float]]:
    """Score every labelled file of a NAB folder with a fresh ``detector``; file name -> scores."""
    name = _resolve_detector(detector)
    return _run(load_corpus(Path(data_dir)), name, console=None, progress=progress)


def _results_path(out_dir: Path, detector: str, file_name: str) -> Path:
    category, base = file_name.rsplit("/", 1)
    return Path(out_dir) / detector / category / f"{detector}_{base}"


def _format_stamp(stamp: np.datetime64) -> str:
    text = np.datetime_as_string(stamp, unit="us").replace("T", " ")
    return text[:-7] if text.endswith(".000000") else text


def _write_corpus_results(out_dir: Path, corpus: NabCorpus, detector: str,
                          scores: Mapping[str, Sequence[float]]) -> None:
    for name, f in corpus.files.items():
        row_scores = scores[name]
        if len(row_scores) != len(f.values):
            raise ValueError(f"scores[{name!r}] must have one score per data row "
                             f"({len(f.values)}); got {len(row_scores)}")
        path = _results_path(out_dir, detector, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["timestamp", "value", "anomaly_score", "label"])
            for stamp, value, score, label in zip(f.timestamps, f.values.tolist(), row_scores,
                                                  f.labels.tolist()):
                writer.writerow([_format_stamp(stamp), repr(value), repr(float(score)), label])


def write_results(out_dir: Path, data_dir: Path, detector: str,
                  scores: Mapping[str, Sequence[float]]) -> None:
    """Write ``OUT/<detector>/<category>/<detector>_<file>.csv`` as NAB's detectors do.

    Columns ``timestamp,value,anomaly_score,label`` (label 1 inside a window), so NAB's own
    scorer can read the folder.
    """
    _write_corpus_results(Path(out_dir), load_corpus(Path(data_dir)), detector, scores)


def _write_score_files(out_dir: Path, detector: str, result: CorpusScore) -> None:
    """``<detector>_<profile>_scores.csv`` in NAB's format (NAB skips these when it reads)."""
    for profile, ps in result.profiles.items():
        path = Path(out_dir) / detector / f"{detector}_{profile}_scores.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["Detector", "Profile", "File", "Threshold", "Score", "TP", "TN",
                             "FP", "FN", "Total_Count"])
            for fs in ps.files:
                writer.writerow([detector, profile, fs.name, ps.threshold, fs.raw_score, fs.tp,
                                 fs.tn, fs.fp, fs.fn, fs.tp + fs.tn + fs.fp + fs.fn])
            totals = [sum(getattr(fs, k) for fs in ps.files) for k in ("tp", "tn", "fp", "fn")]
            writer.writerow(["Totals", "", "", "", ps.raw, *totals, sum(totals)])


_PROFILE_LABELS = {"standard": "standard", "reward_low_FP_rate": "low FP",
                   "reward_low_FN_rate": "low FN"}


def _summary_table(detector: str, result: CorpusScore, corpus: NabCorpus, seconds: float) -> Table:
    rows = sum(len(f.values) for f in corpus.files.values())
    table = Table(title=f"NAB score · {detector} · {len(corpus.files)} files, {rows:,} rows, "
                        f"{seconds:.1f} s")
    table.add_column("profile")
    table.add_column("normalised", justify="right", style="bold")
    table.add_column("raw", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("TP / FP / FN rows", justify="right")
    for profile, ps in result.profiles.items():
        tp = sum(f.tp for f in ps.files)
        fp = sum(f.fp for f in ps.files)
        fn = sum(f.fn for f in ps.files)
        threshold = "none fires" if math.isinf(ps.threshold) else f"{ps.threshold:.6g}"
        table.add_row(profile, f"{ps.normalized:.2f}", f"{ps.raw:.3f}", threshold,
                      f"{tp} / {fp} / {fn}")
    return table


def _per_file_table(result: CorpusScore) -> Table:
    profiles = list(result.profiles)
    table = Table(title="Per file (raw score per profile; row counts at the standard threshold)")
    table.add_column("file")
    for p in profiles:
        table.add_column(_PROFILE_LABELS.get(p, p), justify="right")
    for col in ("TP", "FP", "FN"):
        table.add_column(col, justify="right")
    first = result.profiles[profiles[0]]
    count_profile = result.profiles.get("standard", first)
    by_profile = {p: {f.name: f for f in result.profiles[p].files} for p in profiles}
    for fs in first.files:
        counts = by_profile[count_profile.profile][fs.name]
        table.add_row(fs.name, *(f"{by_profile[p][fs.name].raw_score:.3f}" for p in profiles),
                      str(counts.tp), str(counts.fp), str(counts.fn))
    return table


def run_nab_bench(data_dir: Path, out_dir: Path, detector: str | None = None,
                  verbose: bool = False, console: Console | None = None) -> CorpusScore:
    """Run ``detector`` (default: the streams' default) over the NAB folder and score it.

    Writes the per-file results and NAB-format score files under ``out_dir/<detector>/``, prints
    the three normalised scores (and with ``verbose`` a per-file table), and returns the scores.
    """
    console = console or Console()
    name = _resolve_detector(detector)
    corpus = load_corpus(Path(data_dir))
    started = time.perf_counter()
    scores = _run(corpus, name, console=console, progress=True)
    elapsed = time.perf_counter() - started
    _write_corpus_results(Path(out_dir), corpus, name, scores)
    result = score_scores(corpus, scores)
    _write_score_files(Path(out_dir), name, result)
    console.print(_summary_table(name, result, corpus, elapsed))
    if verbose:
        console.print(_per_file_table(result))
    console.print(f"Results written to {Path(out_dir) / name}")
    return result
