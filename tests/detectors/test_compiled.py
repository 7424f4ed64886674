"""The compiled detectors (``setup.py``, ``detectors/_compiled.py``) are the plain Python ones, faster.

- Where they are built, they are the ones running, and they give exactly what the plain Python
  sources give (scores, expectations, components and the state they leave), in both directions of
  a checkpoint: a detector pickled by one loads and carries on identically in the other.
- A detector pickled before the hot path was compiled (a checkpoint from an older opswatch) loads
  and carries on as it would have.
- An edited source is never silently ignored: the stale compiled modules step aside for it.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import detectors
from detectors.ensemble import OnsetEnsemble

DATA = Path(__file__).parent / "data"
ROOT = Path(detectors.__file__).parent
BUILT = any((ROOT / f"{m}{s}").exists() for m in detectors.COMPILED_MODULES for s in EXTENSION_SUFFIXES)
needs_build = pytest.mark.skipif(not BUILT, reason="the detectors are not compiled here (no C compiler at install)")
T0 = 1_700_000_000.0


def series(seed: int, n: int = 1_500) -> list[float]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        v = 4.0 + 1.5 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 0.2)
        if seed % 3 == 0 and i > n // 2:
            v += 3.0  # a level shift
        if seed % 3 == 1 and i > n // 2:
            v = out[-1]  # stuck
        out.append(round(v, 1) if seed % 5 == 0 else v)
    return out


def run(det: OnsetEnsemble, values: list[float], start: int = 0) -> list[tuple]:
    return [det.update(v, T0 + 300 * (start + i) if i % 7 else None, 0.5) for i, v in enumerate(values)]


PURE_SCRIPT = """
import json, pickle, sys
sys.path.insert(0, {tests!r})
from test_compiled import run, series
import detectors
from detectors.ensemble import OnsetEnsemble
assert not detectors.COMPILED
given = pickle.loads(open({given!r}, "rb").read())
out = {{}}
for seed in range(6):
    det = OnsetEnsemble()
    out[seed] = run(det, series(seed)[:1000])
    if seed == 0:
        open({pickled!r}, "wb").write(pickle.dumps(det))
out["carried_on"] = run(given, series(0)[1000:], 1000)
print(json.dumps(out))
"""


@needs_build
def test_the_compiled_detectors_run_where_they_were_built():
    if os.environ.get("OPSWATCH_PURE_PYTHON"):
        pytest.skip("OPSWATCH_PURE_PYTHON is set: the plain Python detectors run on purpose")
    assert detectors.COMPILED, "compiled detectors exist but are not in use: rebuild with `pip install -e .`"
    from detectors.ensemble import OnsetState
    assert not hasattr(OnsetState(), "__dict__")  # an extension type: its numbers are C fields


@needs_build
def test_compiled_and_plain_python_give_the_same_results_and_share_checkpoints(tmp_path):
    if not detectors.COMPILED:
        pytest.skip("OPSWATCH_PURE_PYTHON is set: nothing compiled to compare")
    given, pickled = tmp_path / "compiled.pickle", tmp_path / "pure.pickle"
    det0 = OnsetEnsemble()
    compiled = {seed: run(det0 if seed == 0 else OnsetEnsemble(), series(seed)[:1000]) for seed in range(6)}
    given.write_bytes(pickle.dumps(det0))
    script = PURE_SCRIPT.format(tests=str(Path(__file__).parent), given=str(given), pickled=str(pickled))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPSWATCH_PURE_PYTHON": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    pure = json.loads(proc.stdout)
    for seed in range(6):
        assert [list(t) for t in compiled[seed]] == pure[str(seed)], f"series {seed} differs"
    # the compiled detector, pickled and carried on in plain Python, gives what it gives compiled
    assert [list(t) for t in run(det0, series(0)[1000:], 1000)] == pure["carried_on"]
    # and the plain Python one, pickled, carries on compiled as it would have
    from_pure = pickle.loads(pickled.read_bytes())
    assert type(from_pure._state).__module__ == "detectors.ensemble"
    again = OnsetEnsemble()
    run(again, series(0)[:1000])
    assert run(from_pure, series(0)[1000:], 1000) == run(again, series(0)[1000:], 1000)


def test_a_detector_pickled_before_the_hot_path_was_compiled_carries_on():
    """``onset_before_compiled.pickle`` was written by opswatch 4df8d58 (plain Python, one class)."""
    fixture = json.loads((DATA / "onset_before_compiled.json").read_text())
    det = pickle.loads((DATA / "onset_before_compiled.pickle").read_bytes())
    vals, t0, step = fixture["values"], fixture["t0"], fixture["step_s"]
    got = [list(det.update(v + (6.0 if i == fixture["spike_at"] else 0.0), t0 + step * i, 0.5))
           for i, v in enumerate(vals) if i >= 900]
    assert got == fixture["expected"]


@needs_build
def test_an_edited_source_runs_instead_of_its_stale_compiled_module(tmp_path):
    pkg = tmp_path / "detectors"
    shutil.copytree(ROOT, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    src = pkg / "stuck.py"
    src.write_text(src.read_text().replace("self._longest = max(self._longest, self._run)",
                                           "self._longest = 999  # edited"))
    code = ("import warnings, json\nwarnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n    import detectors\n"
            "import detectors.stuck as s\n"
            "print(json.dumps([detectors.COMPILED, s.__file__, [str(x.message) for x in w], "
            "s.StuckRun()._limit()]))")
    env = {k: v for k, v in os.environ.items() if k != "OPSWATCH_PURE_PYTHON"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**env, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    compiled, where, warned, _ = json.loads(proc.stdout)
    assert compiled is False and where.endswith("stuck.py")
    assert any("pip install -e ." in m for m in warned), warned
    # the edit is what runs
    proc = subprocess.run([sys.executable, "-c", "import detectors.stuck as s; st = s.StuckRun(); "
                           "st.learn(1.0); st.learn(2.0); print(st._longest)"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": str(tmp_path)})
    assert proc.stdout.strip() == "999", proc.stderr[-2000:]
