"""The default detector's NAB score on the shared corpus, with NAB's own scoring.

Runs the default over every file of ``/work/shared/nab`` (a fresh detector per file, score then
learn, row by row) and scores it with ``streams.bench.nab_scorer``: threshold optimised per
profile over the corpus, normalised so the null detector scores 0 and the perfect one 100.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NAB_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "nab"

#: What the default reaches on the 41 shared files (a floor, so a regression fails loudly).
REACHED = {"standard": 69.5, "reward_low_FP_rate": 59.0, "reward_low_FN_rate": 74.5}
#: Issue 3's goal: better than ARTime (69.1 / 59.6 / 74.6) and HTM (68.6 / 62.2 / 72.8) here.
GOAL = {"standard": 72.0, "reward_low_FP_rate": 66.0, "reward_low_FN_rate": 77.0}


@pytest.fixture(scope="module")
def normalized() -> dict[str, float]:
    if not (NAB_DIR / "data").is_dir() or not (NAB_DIR / "labels").is_dir():
        pytest.skip(f"NAB corpus not found at {NAB_DIR} (needs data/ and labels/)")
    from streams.bench.nab import run_detector_over_corpus
    from streams.bench.nab_scorer import load_corpus, score_scores

    import detectors.registry

    scores = run_detector_over_corpus(NAB_DIR, detectors.registry.DEFAULT, progress=False)
    return score_scores(load_corpus(NAB_DIR), scores).normalized()


@pytest.mark.timeout(120)
def test_default_keeps_its_nab_score(normalized):
    for profile, floor in REACHED.items():
        assert normalized[profile] >= floor, f"{profile}: {normalized[profile]:.2f} < {floor}"


@pytest.mark.timeout(120)
@pytest.mark.xfail(strict=True, reason="issue 3 goal not reached yet: see REACHED")
def test_default_reaches_issue_goal(normalized):
    for profile, goal in GOAL.items():
        assert normalized[profile] >= goal, f"{profile}: {normalized[profile]:.2f} < {goal}"
