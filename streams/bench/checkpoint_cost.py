"""What a checkpoint costs per batch at 2,000, 10,000 and 100,000 entities, incremental against whole.

``python -m streams.bench.checkpoint_cost [--entities 2000 10000 100000] [--batches 40]``

For each size: a core that has seen every fridge three times (the throughput bench's stream), then
batches of 5,000 readings (fridges in turn), each followed by a save, at a simulated 20,000 readings
a second (so the detectors are written paced, as in a worker). Reported per batch: the core's own
time, the incremental save (p50, p99, max) and its bytes; the whole-state checkpoint of old (the
small state pickled and fsynced every batch; the detectors, every 30 s, one pickle); the restore.
Ratios between sizes are what to read; the absolute times depend on the machine.
"""

from __future__ import annotations

import argparse
import copyreg
import gc
import os
import pickle
import tempfile
import time
from pathlib import Path

from streams.bench.throughput import make_stream
from streams.checkpoint import Checkpoint, _registered
from streams.core import OperationsCore
from streams.pipeline import tune_gc_for_streaming
from streams.records import RawMessage

BATCH = 5000
RATE = 20_000  # readings a second, simulated: when the detectors fall due


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q / 100))]


def _write_fsync(path: Path, blob: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def measure(entities: int, batches: int, workdir: Path, detectors_every_s: float = 30.0) -> dict:
    stream = make_stream(entities * 3 + BATCH * batches * 3 // 2, entities)
    msgs = [RawMessage(v, "bench.coldchain", 0, i, k) for i, (k, v) in enumerate(stream)]
    del stream
    core = OperationsCore()
    warm = entities * 3
    for i in range(0, warm, BATCH):
        core.process(msgs[i:i + BATCH])
    tune_gc_for_streaming()  # as the worker does
    clock = [0.0]
    cp = Checkpoint(workdir / f"{entities}.checkpoint", detectors_every_s=detectors_every_s, clock=lambda: clock[0])
    t = time.perf_counter()
    cp.save_core(core)
    first_s = time.perf_counter() - t
    process_ms, save_ms, save_bytes, old_ms = [], [], [], []
    old_path = workdir / f"{entities}.old"
    fast = {c: copyreg.dispatch_table[c] for c in _registered if c in copyreg.dispatch_table}
    for i in range(warm, warm + BATCH * batches, BATCH):
        clock[0] += BATCH / RATE
        t = time.perf_counter()
        core.process(msgs[i:i + BATCH])
        process_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        cp.save_core(core)
        save_ms.append((time.perf_counter() - t) * 1000)
        save_bytes.append(cp.last_bytes)
    for c in fast:  # the old checkpoint: all the small state every batch, pickled as it was then
        del copyreg.dispatch_table[c]
    for i in range(warm + BATCH * batches, warm + BATCH * batches * 3 // 2, BATCH):
        core.process(msgs[i:i + BATCH])
        t = time.perf_counter()
        _write_fsync(old_path, core.snapshot(detectors=False))
        old_ms.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    _write_fsync(old_path, core.snapshot_detectors())  # ... and all the detectors every 30 s
    old_detectors_s = time.perf_counter() - t
    copyreg.dispatch_table.update(fast)
    old_path.unlink()
    cp.save_core(core)
    t = time.perf_counter()
    fresh = OperationsCore()
    Checkpoint(cp.path).restore_core(fresh)
    restore_s = time.perf_counter() - t
    assert fresh.offsets == core.offsets and fresh.ops.coldchain.fridges == core.ops.coldchain.fridges
    db_mb = sum(f.stat().st_size for f in workdir.glob(f"{entities}.checkpoint*")) / 1e6
    gc.unfreeze()
    gc.collect()
    return {"entities": entities, "process_ms_p50": _pct(process_ms, 50),
            "save_ms_p50": _pct(save_ms, 50), "save_ms_p90": _pct(save_ms, 90), "save_ms_p99": _pct(save_ms, 99),
            "save_ms_max": max(save_ms),
            "save_kb_p50": _pct(save_bytes, 50) / 1024, "first_save_s": first_s,
            "old_save_ms_p50": _pct(old_ms, 50), "old_detectors_s": old_detectors_s,
            "restore_s": restore_s, "db_mb": db_mb, "saved_bundles": len(cp._live),
            "log_bundles": cp._stored, "resyncs": cp.resyncs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, nargs="+", default=[2000, 10_000, 100_000])
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--detectors-every", type=float, default=30.0,
                    help="detectors_every_s; a huge value leaves out the detectors (the small state alone)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="opswatch-bench-checkpoint-") as d:
        for n in args.entities:
            r = measure(n, args.batches, Path(d), args.detectors_every)
            rows.append(r)
            print(f"{n:>7,} entities: core {r['process_ms_p50']:6.1f} ms/batch | incremental save "
                  f"p50 {r['save_ms_p50']:6.1f} p90 {r['save_ms_p90']:6.1f} max {r['save_ms_max']:6.1f} ms, "
                  f"{r['save_kb_p50']:7.0f} KB | whole state of old {r['old_save_ms_p50']:7.1f} ms/batch + "
                  f"detectors {r['old_detectors_s']:5.2f} s every 30 s | first save {r['first_save_s']:5.2f} s, "
                  f"restore {r['restore_s']:5.2f} s, db {r['db_mb']:5.0f} MB, resyncs {r['resyncs']}",
                  flush=True)
    base = rows[0]
    for r in rows[1:]:
        print(f"{r['entities']:,} / {base['entities']:,} entities: incremental save x"
              f"{r['save_ms_p50'] / base['save_ms_p50']:.2f}, whole-state save x"
              f"{r['old_save_ms_p50'] / base['old_save_ms_p50']:.2f}")
    out = os.environ.get("OPSWATCH_BENCH_OUT")
    if out:
        Path(out).write_bytes(pickle.dumps(rows))


if __name__ == "__main__":
    main()
