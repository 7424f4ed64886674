"""``opswatch bench detectors``: how fast the default detector scores and how much state it keeps.

Where this sits: off the stream, exercising the **detect** step alone, the way the processing core
drives it: one detector per series, samples arriving interleaved across series, ``score_one``
then ``learn_one``. River's ``HalfSpaceTrees`` (behind a ``MinMaxScaler``, as river's docs use it)
runs in the same process on the same samples as the baseline, so the ratio survives a slow or
busy machine.
"""

from __future__ import annotations

import math
import pickle
import random
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

import detectors
import detectors.registry

__all__ = ["run_detector_bench"]

_T0 = 1_700_000_000.0
_STEP_S = 300.0


def _series(n_series: int, per_series: int, seed: int = 0) -> list[list[dict]]:
    """Seeded synthetic metrics: a daily rhythm at its own scale and noise, with a level shift."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_series):
        base, amp = rng.uniform(-50, 500), rng.uniform(0.0, 20.0)
        noise, phase = rng.uniform(0.1, 5.0), rng.uniform(0, 2 * math.pi)
        shift_at = rng.randrange(per_series // 2, per_series) if per_series > 1 else 0
        rows = []
        for i in range(per_series):
            ts = _T0 + _STEP_S * i
            v = base + amp * math.sin(2 * math.pi * ts / 86_400.0 + phase) + rng.gauss(0, noise)
            if i >= shift_at:
                v += 6 * noise
            rows.append({"value": v, "ts": ts})
        out.append(rows)
    return out


def _half_space_trees():
    from river import anomaly, preprocessing

    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)


def _measure(factory: Callable[[], object], data: list[list[dict]], use_ts: bool, fused: bool = False) -> dict:
    """``fused``: drive ``update(value, ts, threshold)``, the single pass the worker uses."""
    dets = [factory() for _ in data]
    per_series = len(data[0]) if data else 0
    rows = data if use_ts else [[{"value": x["value"]} for x in series] for series in data]
    n = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(per_series):
        for det, series in zip(dets, rows):
            x = series[i]
            if fused:
                det.update(x["value"], x["ts"], 0.5)
            else:
                det.score_one(x)
                det.learn_one(x)
            n += 1
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    sizes = [len(pickle.dumps(d)) for d in dets]
    return {
        "points": n,
        "cpu_s": cpu,
        "wall_s": wall,
        # the loop is single-threaded, so CPU seconds are seconds of one core
        "points_per_s_per_core": n / cpu if cpu > 0 else math.inf,
        "state_bytes_mean": sum(sizes) / len(sizes) if sizes else 0.0,
        "state_bytes_max": max(sizes) if sizes else 0,
    }


def run_detector_bench(n_points: int = 200_000, n_series: int = 100,
                       console: Console | None = None) -> dict:
    """Score ``n_points`` samples spread over ``n_series`` series with the default and with HST.

    Returns ``{"default": {...}, "half_space_trees": {...}, "speed_ratio": .., "state_ratio": ..}``
    where each detector's entry holds ``points_per_s_per_core``, ``state_bytes_mean`` and
    ``state_bytes_max`` (pickled bytes per series), and prints them as a table.
    """
    if n_series < 1:
        raise ValueError(f"n_series must be at least 1; got {n_series}")
    if n_points < n_series:
        raise ValueError(f"n_points must be at least n_series ({n_series}); got {n_points}")
    console = console or Console()
    data = _series(n_series, n_points // n_series)
    name = detectors.registry.DEFAULT
    default = _measure(lambda: detectors.make_detector(name), data, use_ts=True)
    default["name"] = name
    if hasattr(detectors.make_detector(name), "update"):
        fused = _measure(lambda: detectors.make_detector(name), data, use_ts=True, fused=True)
        fused["name"] = f"{name}, fused update (the worker's path)"
    else:
        fused = None
    hst = _measure(_half_space_trees, data, use_ts=False)
    hst["name"] = "HalfSpaceTrees (river, MinMaxScaler | HST)"
    result = {
        "default": default,
        "half_space_trees": hst,
        "speed_ratio": default["points_per_s_per_core"] / hst["points_per_s_per_core"],
        "state_ratio": default["state_bytes_mean"] / hst["state_bytes_mean"],
    }
    if fused is not None:
        result["default_fused"] = fused

    table = Table(title=f"Detector speed · {default['points']:,} points over {n_series} series")
    table.add_column("detector")
    table.add_column("points/s per core", justify="right", style="bold")
    table.add_column("state per series (mean / max)", justify="right")
    for entry in (default, fused, hst):
        if entry is None:
            continue
        table.add_row(entry["name"], f"{entry['points_per_s_per_core']:,.0f}",
                      f"{entry['state_bytes_mean'] / 1024:,.1f} / "
                      f"{entry['state_bytes_max'] / 1024:,.1f} KiB")
    table.add_row("ratio (default / HST)", f"{result['speed_ratio']:.2f}x",
                  f"{result['state_ratio']:.2f}x", style="italic")
    console.print(table)
    return result
